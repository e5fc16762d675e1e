/* harness.h — minimal test harness for the fastalloc test programs (C11 and C++17).

   CHECK(cond)                count one check; on failure print file:line, section and expression
   CHECKF(cond, fmt, ...)     same, and print extra printf-style context on failure
   CHECK_EQ_SZ(a, b)          size_t equality, prints both values on failure
   CHECK_GE_SZ(a, b)          a >= b as size_t
   CHECK_LE_SZ(a, b)          a <= b as size_t
   CHECK_NULL_ERRNO(p, e)     p == NULL and errno == e (errno read right after the call)
   CHECK_ALIGNED(p, a)        (uintptr_t)p % a == 0
   harness_section(name)      label for failure messages (single-threaded use)
   harness_skip(what, why)    a sub-test this platform cannot run: prints "skipped: what (why)" on
                              stdout; counts neither as passed nor as failed
   harness_finish()           prints "N passed, N failed" on stdout; returns 0 iff nothing failed

   Platform switches (tests/cross builds the suites for Windows, wasm32-wasi and emulated CPUs):
   HARNESS_HAVE_FORK          1 where fork()/waitpid() exist (POSIX hosts); 0 on Windows, wasm32-wasi
                              and the bare-metal board: sub-tests that use a child process run in
                              this process instead, or are skipped
   HARNESS_HAVE_THREADS       1 where pthreads exist (POSIX, and Windows through mingw-w64's
                              winpthreads); 0 on wasm32-wasi

   Pattern helpers (position based, so any prefix of a filled block can be verified on its own):
   harness_fill(p, n, seed) / harness_verify(p, n, seed)      every byte
   harness_fill_sparse / harness_verify_sparse                head, tail and one byte per 4 KiB
   harness_verify_sparse_prefix(p, filled, upto, seed)        sparse check limited to [0,upto)
   harness_fill_upto(p, n, seed, dense_max)                   every byte up to dense_max, sparse above
   harness_verify_upto(p, filled, upto, seed, dense_max)      its check, limited to [0,upto)
   harness_first_nonzero(p, n), harness_first_not(p, n, c)
   Verify functions return the index of the first wrong byte, or HARNESS_OK when all match.

   Counters use __atomic builtins so CHECK may be called from any thread. Threaded stress loops
   should aggregate their own results and CHECK once per thread. */
#ifndef FA_TEST_HARNESS_H
#define FA_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#ifdef __cplusplus
#define HARNESS_UNUSED [[maybe_unused]]
#else
#define HARNESS_UNUSED __attribute__((unused))
#endif

/* printf-style checking for the harness's own formatting helpers: mingw-w64 checks "printf"
   against the Microsoft runtime's formats (no %zu) unless told its ANSI stdio is in use. */
#if defined(__MINGW32__) && defined(__MINGW_PRINTF_FORMAT)
#define HARNESS_PRINTF(fmt, first) __attribute__((format(__MINGW_PRINTF_FORMAT, fmt, first)))
#else
#define HARNESS_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#endif

#ifndef HARNESS_HAVE_FORK
#if (defined(__unix__) || defined(__APPLE__)) && !defined(__wasi__) && !defined(FA_TEST_BARE_METAL)
#define HARNESS_HAVE_FORK 1
#else
#define HARNESS_HAVE_FORK 0
#endif
#endif
#ifndef HARNESS_HAVE_THREADS
#if defined(__wasi__) || defined(FA_TEST_BARE_METAL)
#define HARNESS_HAVE_THREADS 0
#else
#define HARNESS_HAVE_THREADS 1
#endif
#endif

/* HARNESS_TOOLS: built under a memory tool fastalloc informs (AddressSanitizer, or valgrind's
   memcheck with FASTALLOC_VALGRIND). Misuse that a release build tolerates (a free of a pointer
   fastalloc did not hand out) or that a suite commits on purpose (a write into a free block) is
   then reported by the tool, so those sub-tests run only without one (tests/test_corrupt.c checks
   the reports). */
#if defined(__SANITIZE_ADDRESS__) || defined(FASTALLOC_VALGRIND)
#define HARNESS_TOOLS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_TOOLS 1
#endif
#endif
#ifndef HARNESS_TOOLS
#define HARNESS_TOOLS 0
#endif

/* harness_under_valgrind(): 1 when the suite runs under valgrind (a FASTALLOC_VALGRIND build asks
   valgrind itself). For the sub-tests valgrind cannot host, e.g. an RLIMIT_AS cap, which also caps
   valgrind's own address space. */
#if defined(FASTALLOC_VALGRIND)
#include <valgrind/valgrind.h>
#define harness_under_valgrind() (RUNNING_ON_VALGRIND != 0)
#else
#define harness_under_valgrind() 0
#endif

#define HARNESS_OK ((size_t)-1)
#define HARNESS_MAX_REPORTS 200UL

HARNESS_UNUSED static unsigned long harness_passed_;
HARNESS_UNUSED static unsigned long harness_failed_;
HARNESS_UNUSED static unsigned long harness_skipped_;
HARNESS_UNUSED static const char* harness_section_ = "";

HARNESS_UNUSED static inline void harness_section(const char* name) {
    __atomic_store_n(&harness_section_, name, __ATOMIC_RELAXED);
}

HARNESS_UNUSED static inline void harness_pass(void) {
    __atomic_fetch_add(&harness_passed_, 1UL, __ATOMIC_RELAXED);
}

/* Returns the number of failures so far (including this one). */
HARNESS_UNUSED static inline unsigned long harness_fail(const char* file, int line, const char* expr) {
    unsigned long n = __atomic_add_fetch(&harness_failed_, 1UL, __ATOMIC_RELAXED);
    if (n <= HARNESS_MAX_REPORTS) {
        fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", file, line,
                __atomic_load_n(&harness_section_, __ATOMIC_RELAXED), expr);
    } else if (n == HARNESS_MAX_REPORTS + 1) {
        fprintf(stderr, "(further failure reports suppressed)\n");
    }
    return n;
}

/* A sub-test that cannot run on this platform: said on stdout, counted apart from the checks. */
HARNESS_UNUSED static inline void harness_skip(const char* what, const char* why) {
    __atomic_fetch_add(&harness_skipped_, 1UL, __ATOMIC_RELAXED);
    printf("skipped: %s (%s)\n", what, why);
    fflush(stdout);
}

HARNESS_UNUSED static inline int harness_finish(void) {
    unsigned long p = __atomic_load_n(&harness_passed_, __ATOMIC_RELAXED);
    unsigned long f = __atomic_load_n(&harness_failed_, __ATOMIC_RELAXED);
    unsigned long s = __atomic_load_n(&harness_skipped_, __ATOMIC_RELAXED);
    fflush(stderr);
    if (s != 0) printf("(%lu sub-test%s skipped on this platform)\n", s, s == 1 ? "" : "s");
    printf("%lu passed, %lu failed\n", p, f);
    fflush(stdout);
    return f == 0 ? 0 : 1;
}

#define CHECK(cond) do { \
        if (cond) harness_pass(); \
        else (void)harness_fail(__FILE__, __LINE__, #cond); \
    } while (0)

#define CHECKF(cond, ...) do { \
        if (cond) harness_pass(); \
        else if (harness_fail(__FILE__, __LINE__, #cond) <= HARNESS_MAX_REPORTS) { \
            fprintf(stderr, "    "); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); \
        } \
    } while (0)

#define HARNESS_CMP_SZ_(a, op, b) do { \
        size_t harness_a_ = (size_t)(a), harness_b_ = (size_t)(b); \
        CHECKF(harness_a_ op harness_b_, "%s = %zu, %s = %zu", #a, harness_a_, #b, harness_b_); \
    } while (0)
#define CHECK_EQ_SZ(a, b) HARNESS_CMP_SZ_(a, ==, b)
#define CHECK_GE_SZ(a, b) HARNESS_CMP_SZ_(a, >=, b)
#define CHECK_LE_SZ(a, b) HARNESS_CMP_SZ_(a, <=, b)
#define CHECK_LT_SZ(a, b) HARNESS_CMP_SZ_(a, <, b)

/* Use as: errno = 0; p = call(); CHECK_NULL_ERRNO(p, ENOMEM); */
#define CHECK_NULL_ERRNO(p, e) do { \
        int harness_e_ = errno; \
        const void* harness_p_ = (const void*)(p); \
        CHECKF(harness_p_ == NULL && harness_e_ == (e), "%s = %p, errno = %d (want NULL, %s = %d)", \
               #p, harness_p_, harness_e_, #e, (int)(e)); \
    } while (0)

#define CHECK_ALIGNED(p, a) do { \
        uintptr_t harness_u_ = (uintptr_t)(const void*)(p); size_t harness_al_ = (size_t)(a); \
        CHECKF(harness_al_ != 0 && harness_u_ % harness_al_ == 0, "%s = %p not aligned to %zu", \
               #p, (const void*)(p), harness_al_); \
    } while (0)

/* ---- patterns ------------------------------------------------------------------------------ */

HARNESS_UNUSED static inline uint64_t harness_mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HARNESS_LE 1
#else
#define HARNESS_LE 0
#endif

/* Pattern word covering index i of a block filled with seed; byte i is (w >> 8*(i%8)). */
HARNESS_UNUSED static inline uint64_t harness_pat_word(uint64_t seed, size_t i) {
    return harness_mix64(seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(i >> 3) + 1);
}

/* Expected byte at index i of a block filled with seed. */
HARNESS_UNUSED static inline unsigned char harness_pat_byte(uint64_t seed, size_t i) {
    return (unsigned char)(harness_pat_word(seed, i) >> ((i & 7) * 8));
}

HARNESS_UNUSED static inline void harness_fill(void* p, size_t n, uint64_t seed) {
    unsigned char* b = (unsigned char*)p;
    size_t i = 0;
    if (HARNESS_LE) /* whole words at once (one 8-byte store each); byte k of a word is w >> 8k */
        for (; i + 8 <= n; i += 8) {
            uint64_t w = harness_pat_word(seed, i);
            memcpy(b + i, &w, 8);
        }
    while (i < n) {
        uint64_t w = harness_pat_word(seed, i);
        for (unsigned k = (unsigned)(i & 7); k < 8 && i < n; k++, i++)
            b[i] = (unsigned char)(w >> (k * 8));
    }
}

HARNESS_UNUSED static inline size_t harness_verify(const void* p, size_t n, uint64_t seed) {
    const unsigned char* b = (const unsigned char*)p;
    size_t i = 0;
    if (HARNESS_LE)
        for (; i + 8 <= n; i += 8) {
            uint64_t w = harness_pat_word(seed, i), got;
            memcpy(&got, b + i, 8);
            if (got != w) break; /* the byte loop below finds the exact index */
        }
    while (i < n) {
        uint64_t w = harness_pat_word(seed, i);
        for (unsigned k = (unsigned)(i & 7); k < 8 && i < n; k++, i++)
            if (b[i] != (unsigned char)(w >> (k * 8))) return i;
    }
    return HARNESS_OK;
}

/* Sparse variants: bytes [0,512), the last 128 bytes, and every byte at index % 4096 == 4095. */
#define HARNESS_SPARSE_HEAD 512u
#define HARNESS_SPARSE_TAIL 128u

HARNESS_UNUSED static inline void harness_fill_sparse(void* p, size_t n, uint64_t seed) {
    unsigned char* b = (unsigned char*)p;
    if (n <= HARNESS_SPARSE_HEAD + HARNESS_SPARSE_TAIL) { harness_fill(p, n, seed); return; }
    harness_fill(b, HARNESS_SPARSE_HEAD, seed);
    for (size_t i = 4095; i < n; i += 4096) b[i] = harness_pat_byte(seed, i);
    for (size_t i = n - HARNESS_SPARSE_TAIL; i < n; i++) b[i] = harness_pat_byte(seed, i);
}

/* Checks the sparse positions of a block filled with harness_fill_sparse(p, filled, seed) that lie
   below `upto` (use upto < filled to check the preserved prefix of a shrunk block). */
HARNESS_UNUSED static inline size_t harness_verify_sparse_prefix(const void* p, size_t filled,
                                                                 size_t upto, uint64_t seed) {
    const unsigned char* b = (const unsigned char*)p;
    if (upto > filled) upto = filled;
    if (filled <= HARNESS_SPARSE_HEAD + HARNESS_SPARSE_TAIL) return harness_verify(p, upto, seed);
    size_t head = harness_verify(b, upto < HARNESS_SPARSE_HEAD ? upto : HARNESS_SPARSE_HEAD, seed);
    if (head != HARNESS_OK) return head;
    for (size_t i = 4095; i < upto; i += 4096)
        if (b[i] != harness_pat_byte(seed, i)) return i;
    for (size_t i = filled - HARNESS_SPARSE_TAIL; i < upto; i++)
        if (b[i] != harness_pat_byte(seed, i)) return i;
    return HARNESS_OK;
}

HARNESS_UNUSED static inline size_t harness_verify_sparse(const void* p, size_t n, uint64_t seed) {
    return harness_verify_sparse_prefix(p, n, n, seed);
}

/* Big blocks are filled sparsely so that checking them stays cheap: every byte of a block of at
   most dense_max bytes, the sparse positions of a bigger one. */
HARNESS_UNUSED static inline void harness_fill_upto(void* p, size_t n, uint64_t seed, size_t dense_max) {
    if (n <= dense_max) harness_fill(p, n, seed);
    else harness_fill_sparse(p, n, seed);
}

/* Checks [0, upto) of a block filled with harness_fill_upto(p, filled, seed, dense_max). */
HARNESS_UNUSED static inline size_t harness_verify_upto(const void* p, size_t filled, size_t upto, uint64_t seed,
                                                        size_t dense_max) {
    if (upto > filled) upto = filled;
    if (filled <= dense_max) return harness_verify(p, upto, seed);
    return harness_verify_sparse_prefix(p, filled, upto, seed);
}

HARNESS_UNUSED static inline size_t harness_first_not(const void* p, size_t n, unsigned char c) {
    const unsigned char* b = (const unsigned char*)p;
    size_t i = 0;
    if (c == 0) {
        /* 4 KiB chunks through memcmp (one range check under sanitizers instead of one per word) */
        static const unsigned char harness_zero_page_[4096] = {0};
        while (i + sizeof harness_zero_page_ <= n && memcmp(b + i, harness_zero_page_, sizeof harness_zero_page_) == 0)
            i += sizeof harness_zero_page_;
    }
    uint64_t want = (uint64_t)c * 0x0101010101010101ULL;
    for (; i + 8 <= n; i += 8) { /* word at a time; the byte loop finds the exact index */
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != want) break;
    }
    for (; i < n; i++)
        if (b[i] != c) return i;
    return HARNESS_OK;
}

HARNESS_UNUSED static inline size_t harness_first_nonzero(const void* p, size_t n) {
    return harness_first_not(p, n, 0);
}

/* ---- misc ---------------------------------------------------------------------------------- */

/* Small deterministic PRNG (xorshift64*); state must be non-zero. */
HARNESS_UNUSED static inline uint64_t harness_rand(uint64_t* state) {
    uint64_t x = *state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* 1 when FA_TEST_QUICK is set (non-empty and not "0"): tests scale their iteration counts down. */
HARNESS_UNUSED static inline int harness_quick(void) {
    const char* q = getenv("FA_TEST_QUICK");
    return q != NULL && q[0] != '\0' && !(q[0] == '0' && q[1] == '\0');
}

/* n, or n/div (at least 1) in quick mode. */
HARNESS_UNUSED static inline size_t harness_scale(size_t n, size_t div) {
    if (!harness_quick()) return n;
    return n / div > 0 ? n / div : 1;
}

/* The alignment the fastalloc rules promise for a block of `size` bytes. */
HARNESS_UNUSED static inline size_t harness_min_align(size_t size) {
    return size >= 16 ? 16 : (size >= 8 ? 8 : 1);
}

/* ---- region builds ------------------------------------------------------------------------- */

/* Built with FASTALLOC_NO_OS, or with HARNESS_REGION in a build with an OS, a suite runs on one
   static region (fa_init_region) instead of the OS: it is set up before main, one byte past an
   aligned address so that nothing relies on its alignment. HARNESS_REGION_BYTES sizes it (default
   1 GiB: only the pages a suite touches are ever used). */
#if defined(FASTALLOC_NO_OS) || defined(HARNESS_REGION)
#define HARNESS_IN_REGION 1   /* the suite's memory comes from a region, not from the OS */
#else
#define HARNESS_IN_REGION 0
#endif
#if (defined(FASTALLOC_NO_OS) || defined(HARNESS_REGION)) && defined(FASTALLOC_IMPLEMENTATION) && !defined(HARNESS_NO_REGION)
#ifndef HARNESS_REGION_BYTES
#define HARNESS_REGION_BYTES ((size_t)1 << 30)
#endif
HARNESS_UNUSED static unsigned char harness_region_[HARNESS_REGION_BYTES + 64];
__attribute__((constructor)) static void harness_region_init_(void) {
    if (!fa_init_region(harness_region_ + 1, HARNESS_REGION_BYTES)) {
        fprintf(stderr, "harness: fa_init_region failed (errno %d)\n", errno);
        abort();
    }
}
/* Whether [p, p + n) lies inside the harness region. */
HARNESS_UNUSED static inline int harness_in_region(const void* p, size_t n) {
    const unsigned char* b = (const unsigned char*)p;
    return b >= harness_region_ + 1 && n <= HARNESS_REGION_BYTES && b - (harness_region_ + 1) <= (ptrdiff_t)(HARNESS_REGION_BYTES - n);
}
#endif

#endif /* FA_TEST_HARNESS_H */
