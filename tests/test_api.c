#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_api.c — every rule of the fastalloc API contract, one function per area. */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Bits in a size_t, and half of them: the overflow cases below scale with the word size. */
#define SIZE_BITS ((int)(sizeof(size_t) * CHAR_BIT))
#define HALF_BITS (SIZE_BITS / 2)

/* volatile so the compiler can neither fold nor warn about the absurd sizes */
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max = (size_t)PTRDIFF_MAX;

static int cmp_ptr(const void* a, const void* b) {
    uintptr_t x = (uintptr_t)*(void* const*)a, y = (uintptr_t)*(void* const*)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* A pattern in every byte up to 4 MiB, sparse above; and its check of [0, upto). */
static void fill_any(void* p, size_t n, uint64_t seed) { harness_fill_upto(p, n, seed, 4 * MiB); }
static size_t verify_any(const void* p, size_t filled, size_t upto, uint64_t seed) {
    return harness_verify_upto(p, filled, upto, seed, 4 * MiB);
}

/* Checks a fresh block of `size` requested bytes: non-NULL, usable >= size, alignment rule,
   whole usable size writable. Returns false when p is NULL. */
static bool check_fresh_block(void* p, size_t size, uint64_t seed) {
    CHECKF(p != NULL, "allocation of %zu bytes failed", size);
    if (p == NULL) return false;
    size_t u = fa_usable_size(p);
    CHECK_GE_SZ(u, size);
    CHECK_ALIGNED(p, harness_min_align(size));
    fill_any(p, u, seed);
    size_t bad = verify_any(p, u, u, seed);
    CHECKF(bad == HARNESS_OK, "block of %zu (usable %zu) mismatch at %zu", size, u, bad);
    return true;
}

/* ---------------------------------------------------------------------------------------- */

static void test_collect_before_anything(void) {
    harness_section("collect-first");
    fa_collect(false);
    fa_collect(true);
    fa_thread_done(); /* releasing a heap that was never used must be harmless too */
    void* p = fa_malloc(10);
    CHECK(check_fresh_block(p, 10, 1));
    fa_free(p);
}

static void test_malloc_zero(void) {
    harness_section("malloc(0)");
    void* p = fa_malloc(0);
    void* q = fa_malloc(0);
    CHECK(p != NULL);
    CHECK(q != NULL);
    CHECK(p != q);
    if (p && q) {
        size_t up = fa_usable_size(p), uq = fa_usable_size(q);
        harness_fill(p, up, 11);
        harness_fill(q, uq, 12);
        CHECK(harness_verify(p, up, 11) == HARNESS_OK);
        CHECK(harness_verify(q, uq, 12) == HARNESS_OK);
    }
    fa_free(p);
    fa_free(q);

    /* many zero-size blocks, all distinct while live */
    enum { N = 2000 };
    void** v = (void**)malloc(N * sizeof(void*));
    size_t nulls = 0;
    for (size_t i = 0; i < N; i++) { v[i] = fa_malloc(0); if (!v[i]) nulls++; }
    CHECK_EQ_SZ(nulls, 0);
    qsort(v, N, sizeof(void*), cmp_ptr);
    size_t dups = 0;
    for (size_t i = 1; i < N; i++) if (v[i] == v[i - 1]) dups++;
    CHECK_EQ_SZ(dups, 0);
    for (size_t i = 0; i < N; i++) fa_free(v[i]);
    free(v);

    /* calloc with a zero product is a zero-size allocation, not an error */
    void* c1 = fa_calloc(0, 0);
    void* c2 = fa_calloc(0, v_size_max);
    void* c3 = fa_calloc(v_size_max, 0);
    void* z = fa_zalloc(0);
    CHECK(c1 != NULL && c2 != NULL && c3 != NULL && z != NULL);
    CHECK(c1 != c2 && c2 != c3 && c1 != c3 && z != c1);
    fa_free(c1); fa_free(c2); fa_free(c3); fa_free(z);
}

static void test_null_handling(void) {
    harness_section("NULL");
    fa_free(NULL);
    CHECK_EQ_SZ(fa_usable_size(NULL), 0);
    void* p = fa_malloc(32);
    CHECK(check_fresh_block(p, 32, 2));
    fa_free(NULL);
    CHECK(harness_verify(p, fa_usable_size(p), 2) == HARNESS_OK);
    fa_free(p);
}

static void test_usable_and_alignment(void) {
    harness_section("usable/alignment");
    static const size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65,
        100, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192,
        10000, 32767, 32768, 65535, 65536, 65537, 100000, 262144, 500000, 1048575, 1048576,
        1048577, 2 * MiB + 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 7};
    void* live[ARRAY_LEN(sizes)];
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        live[i] = fa_malloc(sizes[i]);
        CHECK(check_fresh_block(live[i], sizes[i], 100 + i));
        /* usable size is a stable property of the block */
        if (live[i]) CHECK_EQ_SZ(fa_usable_size(live[i]), fa_usable_size(live[i]));
    }
    /* all patterns still intact: no two blocks overlap */
    size_t bad = 0;
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
        if (live[i]) {
            size_t u = fa_usable_size(live[i]);
            if (verify_any(live[i], u, u, 100 + i) != HARNESS_OK) bad++;
        }
    CHECK_EQ_SZ(bad, 0);
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) fa_free(live[ARRAY_LEN(sizes) - 1 - i]);
}

/* Sizes that can never be satisfied. Every one over PTRDIFF_MAX must give ENOMEM; the ones at or
   below it are far beyond the address space, so they fail with ENOMEM as exhausted memory. */
static size_t impossible_sizes[12];
static size_t n_impossible;

static void init_impossible(void) {
    size_t m = v_size_max, d = v_ptrdiff_max;
#if SIZE_MAX > 0xffffffffu
    size_t s[] = {m, d + 1, m - 1, m - 15, m - 16, m - 4095, m - 4 * MiB, m - 64 * MiB,
                  d, d - 4095, d / 2 + 1, (size_t)1 << 50};
#else
    /* 32-bit: PTRDIFF_MAX (2 GiB) and half of it fit in a 4 GiB address space, so only the sizes
       over PTRDIFF_MAX are sure to fail */
    (void)d;
    size_t s[] = {m, d + 1, m - 1, m - 15, m - 16, m - 4095, m - 4 * MiB, m - 64 * MiB};
#endif
    for (size_t i = 0; i < ARRAY_LEN(s); i++) impossible_sizes[i] = s[i];
    n_impossible = ARRAY_LEN(s);
}

static void test_enomem_alloc(void) {
    harness_section("ENOMEM alloc");
    for (size_t i = 0; i < n_impossible; i++) {
        size_t s = impossible_sizes[i];
        void* p;
        errno = 0; p = fa_malloc(s);                     CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_zalloc(s);                     CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_calloc(1, s);                  CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_calloc(s, 1);                  CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_malloc_aligned(s, 16);         CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_malloc_aligned(s, 4096);       CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_malloc_aligned(s, 4 * MiB);    CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_zalloc_aligned(s, 64);         CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_realloc(NULL, s);              CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_rezalloc(NULL, s);             CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_recalloc(NULL, 1, s);          CHECK_NULL_ERRNO(p, ENOMEM);
    }
    /* the allocator still works afterwards */
    void* p = fa_malloc(100);
    CHECK(check_fresh_block(p, 100, 3));
    fa_free(p);
}

/* A failed realloc-family call must leave the old block untouched and valid. */
static void test_enomem_realloc(void) {
    harness_section("ENOMEM realloc");
    static const size_t old_sizes[] = {0, 1, 24, 1000, 40000, 300000, 5 * MiB};
    for (size_t k = 0; k < ARRAY_LEN(old_sizes); k++) {
        size_t os = old_sizes[k];
        uint64_t seed = 500 + k;
        char* p = (char*)fa_malloc(os);
        CHECK(p != NULL);
        if (!p) continue;
        size_t u = fa_usable_size(p);
        fill_any(p, u, seed);
        size_t fails = 0, errs = 0;
        for (size_t i = 0; i < n_impossible; i++) {
            errno = 0;
            void* q = fa_realloc(p, impossible_sizes[i]);
            if (q != NULL) fails++;
            if (errno != ENOMEM) errs++;
        }
        CHECKF(fails == 0, "realloc(%zu-byte block, impossible) returned non-NULL %zu times", os, fails);
        CHECK_EQ_SZ(errs, 0);
        CHECK_EQ_SZ(fa_usable_size(p), u);
        CHECK(verify_any(p, u, u, seed) == HARNESS_OK);
        /* the block is still a normal block: it can grow and be freed */
        char* q = (char*)fa_realloc(p, os + 100);
        CHECK(q != NULL);
        if (q) { CHECK(verify_any(q, u, os, seed) == HARNESS_OK); p = q; }
        fa_free(p);
    }

    /* rezalloc / recalloc failures on zeroed blocks */
    static const size_t zsizes[] = {10, 5000, 200000, 6 * MiB};
    for (size_t k = 0; k < ARRAY_LEN(zsizes); k++) {
        size_t zs = zsizes[k];
        char* p = (char*)fa_zalloc(zs);
        CHECK(p != NULL);
        if (!p) continue;
        fill_any(p, zs, 600 + k);
        size_t u = fa_usable_size(p);
        size_t fails = 0, errs = 0;
        for (size_t i = 0; i < n_impossible; i++) {
            void* q;
            errno = 0; q = fa_rezalloc(p, impossible_sizes[i]);
            if (q) fails++;
            if (errno != ENOMEM) errs++;
            errno = 0; q = fa_recalloc(p, 1, impossible_sizes[i]);
            if (q) fails++;
            if (errno != ENOMEM) errs++;
            errno = 0; q = fa_recalloc(p, impossible_sizes[i], 1);
            if (q) fails++;
            if (errno != ENOMEM) errs++;
        }
        CHECK_EQ_SZ(fails, 0);
        CHECK_EQ_SZ(errs, 0);
        CHECK_EQ_SZ(fa_usable_size(p), u);
        CHECK(verify_any(p, zs, zs, 600 + k) == HARNESS_OK);
        fa_free(p);
    }
}

struct mulpair { size_t a, b; };

static void test_calloc_overflow(void) {
    harness_section("calloc overflow");
    size_t m = v_size_max, d = v_ptrdiff_max;
    const struct mulpair wrap[] = {
        {(size_t)1 << HALF_BITS, (size_t)1 << HALF_BITS},           /* wraps to 0 */
        {((size_t)1 << (SIZE_BITS - 4)) + 1, 16},                   /* wraps to 16 */
        {16, ((size_t)1 << (SIZE_BITS - 4)) + 1},
        {m, m},                                      /* wraps to 1 */
        {m, 2},
        {2, m / 2 + 1},                              /* wraps to 0 */
        {3, m / 3 + 1},                              /* wraps to 2 */
        {m / 100 + 1, 100},
        {((size_t)1 << (HALF_BITS + 1)) + 1, ((size_t)1 << (HALF_BITS - 1)) + 1},
    };
    const struct mulpair big[] = {                   /* no overflow, but > PTRDIFF_MAX */
        {2, d}, {d / 2 + 1, 2}, {1, m}, {m, 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(wrap); i++) {
        void* p;
        errno = 0; p = fa_calloc(wrap[i].a, wrap[i].b);
        CHECK_NULL_ERRNO(p, ENOMEM);
        errno = 0; p = fa_recalloc(NULL, wrap[i].a, wrap[i].b);
        CHECK_NULL_ERRNO(p, ENOMEM);
    }
    for (size_t i = 0; i < ARRAY_LEN(big); i++) {
        void* p;
        errno = 0; p = fa_calloc(big[i].a, big[i].b);
        CHECK_NULL_ERRNO(p, ENOMEM);
    }
    /* recalloc overflow leaves the block untouched */
    static const size_t counts[] = {10, 3000, 70000, 1300000};
    for (size_t k = 0; k < ARRAY_LEN(counts); k++) {
        char* p = (char*)fa_calloc(counts[k], 4);
        CHECK(p != NULL);
        if (!p) continue;
        size_t n = counts[k] * 4;
        fill_any(p, n, 700 + k);
        size_t u = fa_usable_size(p);
        size_t fails = 0, errs = 0;
        for (size_t i = 0; i < ARRAY_LEN(wrap); i++) {
            errno = 0;
            void* q = fa_recalloc(p, wrap[i].a, wrap[i].b);
            if (q) fails++;
            if (errno != ENOMEM) errs++;
        }
        CHECK_EQ_SZ(fails, 0);
        CHECK_EQ_SZ(errs, 0);
        CHECK_EQ_SZ(fa_usable_size(p), u);
        CHECK(verify_any(p, n, n, 700 + k) == HARNESS_OK);
        fa_free(p);
    }
    /* ordinary products */
    char* p = (char*)fa_calloc(7, 13);
    CHECK(p != NULL);
    if (p) { CHECK_GE_SZ(fa_usable_size(p), 91); CHECK(harness_first_nonzero(p, 91) == HARNESS_OK); }
    fa_free(p);
    p = (char*)fa_calloc(1000, 1000);
    CHECK(p != NULL);
    if (p) { CHECK_GE_SZ(fa_usable_size(p), 1000000); CHECK(harness_first_nonzero(p, 1000000) == HARNESS_OK); }
    fa_free(p);
}

static void test_aligned(void) {
    harness_section("aligned");
    /* every power of two up to 4 MiB, several sizes each, all live at once per alignment */
    for (size_t al = 1; al <= 4 * MiB; al <<= 1) {
        const size_t sizes[] = {1, 100, al, 3 * al + 5, 0};
        void* p[ARRAY_LEN(sizes)];
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            size_t s = sizes[i];
            p[i] = fa_malloc_aligned(s, al);
            CHECKF(p[i] != NULL, "malloc_aligned(%zu, %zu) failed", s, al);
            if (!p[i]) continue;
            size_t want = al > harness_min_align(s) ? al : harness_min_align(s);
            CHECKF(((uintptr_t)p[i] % want) == 0, "malloc_aligned(%zu, %zu) = %p", s, al, p[i]);
            size_t u = fa_usable_size(p[i]);
            CHECKF(u >= s, "usable %zu < size %zu (align %zu)", u, s, al);
            fill_any(p[i], u, al * 10 + i);
        }
        size_t bad = 0;
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            if (!p[i]) continue;
            size_t u = fa_usable_size(p[i]);
            if (verify_any(p[i], u, u, al * 10 + i) != HARNESS_OK) bad++;
        }
        CHECKF(bad == 0, "align %zu: %zu blocks overwritten", al, bad);
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) fa_free(p[(i * 3) % ARRAY_LEN(sizes)]);
    }

    /* many small aligned blocks of one kind are distinct and do not overlap */
    {
        enum { N = 300 };
        void* v[N];
        for (size_t i = 0; i < N; i++) {
            v[i] = fa_malloc_aligned(100, 256);
            if (v[i]) harness_fill(v[i], fa_usable_size(v[i]), 900 + i);
        }
        size_t nulls = 0, misaligned = 0, bad = 0;
        for (size_t i = 0; i < N; i++) {
            if (!v[i]) { nulls++; continue; }
            if ((uintptr_t)v[i] % 256) misaligned++;
            if (harness_verify(v[i], fa_usable_size(v[i]), 900 + i) != HARNESS_OK) bad++;
        }
        CHECK_EQ_SZ(nulls, 0);
        CHECK_EQ_SZ(misaligned, 0);
        CHECK_EQ_SZ(bad, 0);
        for (size_t i = 0; i < N; i += 2) fa_free(v[i]);
        for (size_t i = 1; i < N; i += 2) fa_free(v[i]);
    }

    /* aligned blocks mixed with ordinary blocks of the same size (so they share pages): the whole
       usable size of every one is writable without touching a neighbour */
    for (size_t al = 32; al <= 32 * KiB; al <<= 1) {
        const size_t sizes[] = {24, 100, 1000, al + al / 2};
        for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
            enum { M = 48 };
            size_t s = sizes[si];
            void* v[M];
            size_t nulls = 0, misaligned = 0, bad = 0, moved_bad = 0;
            for (size_t i = 0; i < M; i++) {
                v[i] = (i % 3 == 0) ? fa_malloc(s) : fa_malloc_aligned(s, al);
                if (!v[i]) { nulls++; continue; }
                if (i % 3 != 0 && (uintptr_t)v[i] % al) misaligned++;
                if (fa_usable_size(v[i]) < s) bad++;
                harness_fill(v[i], fa_usable_size(v[i]), al * 1000 + si * 100 + i);
            }
            for (size_t i = 0; i < M; i++)
                if (v[i] && harness_verify(v[i], fa_usable_size(v[i]), al * 1000 + si * 100 + i) != HARNESS_OK)
                    bad++;
            /* realloc to exactly the usable size keeps everything, the neighbours included */
            for (size_t i = 1; i < M; i += 3) {
                if (!v[i]) continue;
                size_t u = fa_usable_size(v[i]);
                void* q = fa_realloc(v[i], u);
                if (!q) { nulls++; continue; }
                v[i] = q;
                if (harness_verify(q, u, al * 1000 + si * 100 + i) != HARNESS_OK) moved_bad++;
            }
            for (size_t i = 0; i < M; i++)
                if (v[i] && harness_verify(v[i], fa_usable_size(v[i]) < s ? 0 : s, al * 1000 + si * 100 + i) != HARNESS_OK)
                    bad++;
            CHECKF(nulls == 0 && misaligned == 0, "align %zu size %zu: %zu NULL, %zu misaligned", al, s,
                   nulls, misaligned);
            CHECKF(bad == 0 && moved_bad == 0, "align %zu size %zu: %zu corrupted, %zu after realloc", al,
                   s, bad, moved_bad);
            for (size_t i = 0; i < M; i++) fa_free(v[(i * 5) % M]);
        }
    }

    /* alignments larger than a segment */
    for (size_t al = 8 * MiB; al <= 64 * MiB; al <<= 1) {
        const size_t sizes[] = {1, 100, al / 2 + 3, al};
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            size_t s = sizes[i];
            void* p = fa_malloc_aligned(s, al);
            CHECKF(p != NULL, "malloc_aligned(%zu, %zu) failed, errno %d", s, al, errno);
            if (!p) continue;
            CHECKF(((uintptr_t)p % al) == 0, "malloc_aligned(%zu, %zu) = %p", s, al, p);
            size_t u = fa_usable_size(p);
            CHECK_GE_SZ(u, s);
            fill_any(p, u, al + i);
            CHECK(verify_any(p, u, u, al + i) == HARNESS_OK);
            fa_free(p);
        }
    }
    /* absurd alignments: either a correctly aligned block or NULL+ENOMEM */
#if SIZE_MAX > 0xffffffffu
    static const int shifts[] = {28, 30, 40, 62, 63};
#else
    static const int shifts[] = {28, 30, 31};
#endif
    for (size_t i = 0; i < ARRAY_LEN(shifts); i++) {
        size_t al = (size_t)1 << shifts[i];
        errno = 0;
        void* p = fa_malloc_aligned(64, al);
        int e = errno;
        if (p == NULL) {
            CHECKF(e == ENOMEM, "malloc_aligned(64, 2^%d): NULL with errno %d", shifts[i], e);
        } else {
            CHECKF((uintptr_t)p % al == 0, "malloc_aligned(64, 2^%d) = %p", shifts[i], p);
            CHECK_GE_SZ(fa_usable_size(p), 64);
            memset(p, 0x5A, 64);
            fa_free(p);
        }
    }
    /* bad alignments */
    const size_t bad_al[] = {0, 3, 5, 6, 12, 24, 48, 1000, 4097, MiB + 1, v_size_max,
                             v_size_max / 2, v_size_max - 1,
                             ((size_t)1 << (HALF_BITS + 8)) + ((size_t)1 << (HALF_BITS + 7))};
    static const size_t bsz[] = {0, 1, 16, 100, 100000};
    for (size_t i = 0; i < ARRAY_LEN(bad_al); i++)
        for (size_t j = 0; j < ARRAY_LEN(bsz); j++) {
            void* p;
            errno = 0; p = fa_malloc_aligned(bsz[j], bad_al[i]);
            CHECK_NULL_ERRNO(p, EINVAL);
            errno = 0; p = fa_zalloc_aligned(bsz[j], bad_al[i]);
            CHECK_NULL_ERRNO(p, EINVAL);
        }

    /* realloc of aligned blocks keeps the content */
    {
        char* p = (char*)fa_malloc_aligned(1000, 4096);
        CHECK(p != NULL);
        if (p) {
            harness_fill(p, 1000, 31);
            char* q = (char*)fa_realloc(p, 100000);
            CHECK(q != NULL);
            if (q) {
                CHECK(harness_verify(q, 1000, 31) == HARNESS_OK);
                harness_fill(q, 100000, 32);
                char* r = (char*)fa_realloc(q, 10);
                CHECK(r != NULL);
                if (r) { CHECK(harness_verify(r, 10, 32) == HARNESS_OK); q = r; }
                fa_free(q);
            } else fa_free(p);
        }
        p = (char*)fa_malloc_aligned(MiB, MiB);
        CHECK(p != NULL);
        if (p) {
            harness_fill(p, MiB, 33);
            char* q = (char*)fa_realloc(p, 3 * MiB);
            CHECK(q != NULL);
            if (q) { CHECK(harness_verify(q, MiB, 33) == HARNESS_OK); p = q; }
            fa_free(p);
        }
    }
}

static void test_zalloc_aligned(void) {
    harness_section("zalloc_aligned");
    for (size_t al = 1; al <= 4 * MiB; al <<= 1) {
        const size_t sizes[] = {1, 100, al, 3 * al + 5};
        /* dirty the memory first */
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            void* d = fa_malloc_aligned(sizes[i], al);
            if (d) memset(d, 0xAA, fa_usable_size(d));
            fa_free(d);
        }
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            size_t s = sizes[i];
            void* p = fa_zalloc_aligned(s, al);
            CHECKF(p != NULL, "zalloc_aligned(%zu, %zu) failed", s, al);
            if (!p) continue;
            CHECK_ALIGNED(p, al);
            CHECK_GE_SZ(fa_usable_size(p), s);
            size_t nz = harness_first_nonzero(p, s);
            CHECKF(nz == HARNESS_OK, "zalloc_aligned(%zu, %zu): byte %zu not zero", s, al, nz);
            memset(p, 0xAA, s);
            fa_free(p);
        }
    }
}

static void test_realloc_basic(void) {
    harness_section("realloc basic");
    static const size_t sizes[] = {0, 1, 100, 5000, 300000, 5 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        void* p = fa_realloc(NULL, sizes[i]);
        CHECK(check_fresh_block(p, sizes[i], 40 + i));
        fa_free(p);
    }
    /* realloc(p, 0): a valid minimal block, p released */
    static const size_t from[] = {0, 1, 100, 100000, 5 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(from); i++) {
        void* p = fa_malloc(from[i]);
        CHECK(p != NULL);
        if (p) memset(p, 0x11, from[i]);
        void* q = fa_realloc(p, 0);
        CHECKF(q != NULL, "realloc(%zu-byte block, 0) returned NULL", from[i]);
        if (q) {
            size_t u = fa_usable_size(q);
            memset(q, 0x22, u);
            CHECK(harness_first_not(q, u, 0x22) == HARNESS_OK);
        }
        fa_free(q);
    }
    /* within the usable size the block stays in place */
    static const size_t inplace[] = {1, 8, 24, 100, 1000, 5000, 60000, 300000, MiB, 5 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(inplace); i++) {
        size_t s = inplace[i];
        char* p = (char*)fa_malloc(s);
        CHECK(p != NULL);
        if (!p) continue;
        size_t u = fa_usable_size(p);
        fill_any(p, u, 50 + i);
        size_t slight = u / 8 < 64 ? u / 8 : 64;
        const size_t steps[] = {u, u > 1 ? u - 1 : u, u - slight, u};
        for (size_t k = 0; k < ARRAY_LEN(steps); k++) {
            char* q = (char*)fa_realloc(p, steps[k]);
            CHECKF(q == p, "realloc(malloc(%zu) [usable %zu], %zu) moved %p -> %p", s, u, steps[k],
                   (void*)p, (void*)q);
            if (q == NULL) break;
            p = q;
            CHECK_GE_SZ(fa_usable_size(p), steps[k]);
            CHECK(verify_any(p, u, steps[k], 50 + i) == HARNESS_OK);
        }
        fa_free(p);
    }
}

static void test_realloc_preserve(void) {
    harness_section("realloc preserve");
    static const size_t sizes[] = {0, 1, 7, 16, 100, 1000, 4000, 20000, 70000, 300000, MiB,
                                   3 * MiB, 5 * MiB, 17 * MiB + 3};
    size_t pairs = 0, bad_prefix = 0, bad_new = 0, nulls = 0;
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
        for (size_t j = 0; j < ARRAY_LEN(sizes); j++) {
            if (i == j) continue;
            size_t a = sizes[i], b = sizes[j];
            uint64_t seed = 1000 + i * 100 + j;
            char* p = (char*)fa_malloc(a);
            if (!p) { nulls++; continue; }
            fill_any(p, a, seed);
            char* q = (char*)fa_realloc(p, b);
            if (!q) { nulls++; fa_free(p); continue; }
            pairs++;
            size_t keep = a < b ? a : b;
            size_t at = verify_any(q, a, keep, seed);
            if (at != HARNESS_OK) {
                bad_prefix++;
                fprintf(stderr, "    realloc %zu -> %zu lost byte %zu\n", a, b, at);
            }
            size_t u = fa_usable_size(q);
            if (u < b) bad_new++;
            fill_any(q, u, seed + 7);
            if (verify_any(q, u, u, seed + 7) != HARNESS_OK) bad_new++;
            fa_free(q);
        }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad_prefix, 0);
    CHECK_EQ_SZ(bad_new, 0);
    CHECK_GE_SZ(pairs, 1);

    /* growth chain 1 B .. 16 MiB then shrink chain back, content preserved at each step */
    char* p = (char*)fa_malloc(1);
    CHECK(p != NULL);
    if (!p) return;
    size_t cur = 1;
    harness_fill(p, 1, 77);
    size_t bad = 0;
    for (size_t n = 3; n <= 16 * MiB; n = n * 2 + 1) {
        char* q = (char*)fa_realloc(p, n);
        if (!q) { bad++; break; }
        p = q;
        if (harness_verify(p, cur, 77) != HARNESS_OK) bad++;
        harness_fill(p, n, 77);
        cur = n;
    }
    for (size_t n = cur / 3; n >= 1; n /= 3) {
        char* q = (char*)fa_realloc(p, n);
        if (!q) { bad++; break; }
        p = q;
        if (harness_verify(p, n, 77) != HARNESS_OK) bad++;
        cur = n;
    }
    CHECK_EQ_SZ(bad, 0);
    fa_free(p);
}

/* Sizes used for the zeroing tests, small through huge. */
static const size_t zero_sizes[] = {1, 7, 8, 15, 16, 24, 33, 64, 100, 256, 511, 1000, 1024, 3000,
    4096, 5000, 8192, 10000, 16385, 32768, 65536, 70000, 131072, 200000, 262145, 500000, MiB,
    MiB + 17, 2 * MiB, 4 * MiB - 100, 4 * MiB, 5 * MiB + 3, 9 * MiB};

static size_t zero_count_for(size_t s) {
    return s <= 4096 ? 16 : (s <= 300000 ? 6 : (s < 4 * MiB ? 2 : 1));
}

/* malloc/fill 0xAA/free, then allocate the same sizes through a zeroing function. */
static void dirty_then_zero(int which, bool collect_between) {
    size_t bad = 0, nulls = 0;
    for (size_t i = 0; i < ARRAY_LEN(zero_sizes); i++) {
        size_t s = zero_sizes[i], n = zero_count_for(s);
        void* v[16];
        for (size_t k = 0; k < n; k++) {
            v[k] = fa_malloc(s);
            if (v[k]) memset(v[k], 0xAA, fa_usable_size(v[k]));
        }
        for (size_t k = 0; k < n; k++) fa_free(v[n - 1 - k]);
        if (collect_between) fa_collect(true);
        for (size_t k = 0; k < n; k++) {
            switch (which) {
            case 0: v[k] = fa_calloc(1, s); break;
            case 1: v[k] = fa_calloc(s, 1); break;
            case 2: v[k] = fa_zalloc(s); break;
            case 3: v[k] = fa_rezalloc(NULL, s); break;
            case 4: v[k] = fa_recalloc(NULL, s, 1); break;
            default: v[k] = fa_zalloc_aligned(s, 64); break;
            }
            if (!v[k]) { nulls++; continue; }
            size_t nz = harness_first_nonzero(v[k], s);
            if (nz != HARNESS_OK) {
                if (bad < 5) fprintf(stderr, "    zeroing fn %d size %zu: byte %zu = 0x%02x\n", which,
                                     s, nz, ((unsigned char*)v[k])[nz]);
                bad++;
            }
            memset(v[k], 0xAA, s);
        }
        for (size_t k = 0; k < n; k++) fa_free(v[k]);
    }
    CHECKF(nulls == 0, "zeroing fn %d: %zu NULL results", which, nulls);
    CHECKF(bad == 0, "zeroing fn %d (collect %d): %zu blocks not zero", which, (int)collect_between, bad);
}

static void test_zeroing(void) {
    harness_section("zeroing");
    for (int which = 0; which < 6; which++) {
        dirty_then_zero(which, false);
        dirty_then_zero(which, true);
    }
}

/* A rezalloc/recalloc chain where the caller writes exactly the first `size` bytes each time.
   kind: 0 zalloc, 1 calloc, 2 rezalloc(NULL), 3 zalloc_aligned; op: 0 rezalloc, 1 recalloc */
static void rezalloc_chain(const size_t* seq, size_t len, int kind, int op, uint64_t seed) {
    size_t s0 = seq[0];
    char* p;
    switch (kind) {
    case 0: p = (char*)fa_zalloc(s0); break;
    case 1: p = (char*)fa_calloc(s0, 1); break;
    case 2: p = (char*)fa_rezalloc(NULL, s0); break;
    default: p = (char*)fa_zalloc_aligned(s0, 128); break;
    }
    CHECK(p != NULL);
    if (!p) return;
    CHECK(harness_first_nonzero(p, s0) == HARNESS_OK);
    harness_fill(p, s0, seed);
    size_t old = s0, bad_keep = 0, bad_zero = 0, nulls = 0;
    for (size_t i = 1; i < len; i++) {
        size_t n = seq[i];
        char* q;
        if (op == 0) q = (char*)fa_rezalloc(p, n);
        else if (i & 1) q = (char*)fa_recalloc(p, n, 1);
        else q = (char*)fa_recalloc(p, 1, n);
        if (!q) { nulls++; break; }
        p = q;
        size_t keep = old < n ? old : n;
        size_t at = harness_verify(p, keep, seed);
        if (at != HARNESS_OK) {
            bad_keep++;
            fprintf(stderr, "    kind %d op %d: %zu -> %zu lost byte %zu\n", kind, op, old, n, at);
        }
        if (n > old) {
            size_t nz = harness_first_nonzero(p + old, n - old);
            if (nz != HARNESS_OK) {
                bad_zero++;
                fprintf(stderr, "    kind %d op %d: %zu -> %zu: byte %zu not zero (0x%02x)\n", kind, op,
                        old, n, old + nz, (unsigned char)p[old + nz]);
            }
        }
        harness_fill(p, n, seed);
        old = n;
    }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad_keep, 0);
    CHECK_EQ_SZ(bad_zero, 0);
    fa_free(p);
}

static void test_rezalloc(void) {
    harness_section("rezalloc/recalloc");
    static const size_t seq1[] = {100, 50, 100, 3000, 10, 200000, 1000, 5 * MiB, 100, 16, 17, 0,
                                  64, 70000, 69000, 71000, 8, 9 * MiB, 4 * MiB, 9 * MiB, 1};
    static const size_t seq2[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 31, 30, 48, 100, 99, 128, 1,
                                  129, 4095, 4096, 4097, 1, 65536, 65537, 65535, 0, 300000, 1};
    for (int kind = 0; kind < 4; kind++)
        for (int op = 0; op < 2; op++) {
            rezalloc_chain(seq1, ARRAY_LEN(seq1), kind, op, 2000 + (uint64_t)kind * 10 + (uint64_t)op);
            rezalloc_chain(seq2, ARRAY_LEN(seq2), kind, op, 3000 + (uint64_t)kind * 10 + (uint64_t)op);
        }
    /* in-place paths: small moves around the usable size of the first block */
    static const size_t probe[] = {1, 20, 100, 1000, 30000, 200000, 2 * MiB, 6 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(probe); i++) {
        size_t s = probe[i];
        void* t = fa_zalloc(s);
        CHECK(t != NULL);
        if (!t) continue;
        size_t u = fa_usable_size(t);
        fa_free(t);
        size_t seq[] = {s, u, s, u - u / 16, u, s, u - 1, u, u + 1, s};
        for (int kind = 0; kind < 4; kind++)
            rezalloc_chain(seq, ARRAY_LEN(seq), kind, kind & 1, 4000 + i * 4 + (uint64_t)kind);
    }
    /* dirty memory, then a chain starting from rezalloc(NULL, n) */
    for (size_t i = 0; i < 32; i++) {
        void* d = fa_malloc(200 + i);
        if (d) memset(d, 0xEE, fa_usable_size(d));
        fa_free(d);
    }
    char* p = (char*)fa_rezalloc(NULL, 210);
    CHECK(p != NULL);
    if (p) {
        CHECK(harness_first_nonzero(p, 210) == HARNESS_OK);
        harness_fill(p, 210, 5);
        char* q = (char*)fa_rezalloc(p, 5000);
        CHECK(q != NULL);
        if (q) {
            CHECK(harness_verify(q, 210, 5) == HARNESS_OK);
            CHECK(harness_first_nonzero(q + 210, 5000 - 210) == HARNESS_OK);
            p = q;
        }
        fa_free(p);
    }
}

static void test_strdup(void) {
    harness_section("strdup");
    const char* hello = "hello, world";
    char* s = fa_strdup(hello);
    CHECK(s != NULL);
    if (s) {
        CHECK(s != hello);
        CHECK(strcmp(s, hello) == 0);
        CHECK_GE_SZ(fa_usable_size(s), strlen(hello) + 1);
        s[0] = 'H';
        CHECK(hello[0] == 'h');
        fa_free(s);
    }
    s = fa_strdup("");
    CHECK(s != NULL);
    if (s) { CHECK(s[0] == '\0'); fa_free(s); }

    /* long string */
    size_t n = 300000;
    char* big = (char*)malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    s = fa_strdup(big);
    CHECK(s != NULL);
    if (s) { CHECK(memcmp(s, big, n + 1) == 0); fa_free(s); }
    s = fa_strndup(big, 1000);
    CHECK(s != NULL);
    if (s) { CHECK(memcmp(s, big, 1000) == 0); CHECK(s[1000] == '\0'); fa_free(s); }
    free(big);

    errno = 0;
    s = fa_strdup(NULL);
    CHECK_NULL_ERRNO(s, EINVAL);

    /* strndup: shorter, equal, longer, zero, huge n */
    struct { size_t n; const char* want; } cases[] = {
        {3, "hel"}, {5, "hello"}, {6, "hello"}, {100, "hello"}, {0, ""}, {1, "h"},
        {v_size_max, "hello"}, {v_ptrdiff_max, "hello"}, {v_size_max - 1, "hello"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        s = fa_strndup("hello", cases[i].n);
        CHECKF(s != NULL, "strndup(\"hello\", %zu) returned NULL", cases[i].n);
        if (!s) continue;
        CHECKF(strcmp(s, cases[i].want) == 0, "strndup(\"hello\", %zu) = \"%s\"", cases[i].n, s);
        CHECK_GE_SZ(fa_usable_size(s), strlen(cases[i].want) + 1);
        fa_free(s);
    }
    /* strndup must not read past n: source without a terminator */
    char* raw = (char*)malloc(8);
    memcpy(raw, "abcdefgh", 8);
    s = fa_strndup(raw, 8);
    CHECK(s != NULL);
    if (s) { CHECK(memcmp(s, "abcdefgh", 8) == 0 && s[8] == '\0'); fa_free(s); }
    s = fa_strndup(raw, 4);
    CHECK(s != NULL);
    if (s) { CHECK(strcmp(s, "abcd") == 0); fa_free(s); }
    free(raw);
    /* embedded terminator stops the copy */
    s = fa_strndup("ab\0cd", 5);
    CHECK(s != NULL);
    if (s) { CHECK(strcmp(s, "ab") == 0); fa_free(s); }
}

static void test_collect(void) {
    harness_section("collect");
    enum { LIVE = 64 };
    void* live[LIVE];
    size_t lsz[LIVE];
    for (size_t i = 0; i < LIVE; i++) {
        lsz[i] = (i % 8 == 7) ? (i * 131072 + 5) : (i * 37 + 1);
        live[i] = fa_malloc(lsz[i]);
        if (live[i]) fill_any(live[i], lsz[i], 8000 + i);
    }
    /* churn: lots of freed memory of many sizes */
    for (size_t round = 0; round < 4; round++) {
        void* tmp[512];
        for (size_t i = 0; i < 512; i++) tmp[i] = fa_malloc((i * 997 + round * 13) % 70000);
        for (size_t i = 0; i < 512; i++) fa_free(tmp[(i * 7) % 512]);
        fa_collect(round & 1);
    }
    size_t bad = 0, nulls = 0;
    for (size_t i = 0; i < LIVE; i++) {
        if (!live[i]) { nulls++; continue; }
        if (verify_any(live[i], lsz[i], lsz[i], 8000 + i) != HARNESS_OK) bad++;
    }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad, 0);
    fa_collect(true);
    fa_collect(false);
    /* new allocations after collect do not overlap the live blocks */
    void* fresh[LIVE];
    for (size_t i = 0; i < LIVE; i++) {
        fresh[i] = fa_malloc(lsz[i]);
        if (fresh[i]) fill_any(fresh[i], lsz[i], 9000 + i);
    }
    bad = 0;
    for (size_t i = 0; i < LIVE; i++) {
        if (live[i] && verify_any(live[i], lsz[i], lsz[i], 8000 + i) != HARNESS_OK) bad++;
        if (!fresh[i] || verify_any(fresh[i], lsz[i], lsz[i], 9000 + i) != HARNESS_OK) bad++;
    }
    CHECK_EQ_SZ(bad, 0);
    for (size_t i = 0; i < LIVE; i++) { fa_free(live[i]); fa_free(fresh[i]); }

    /* memory is handed back: free a lot, collect(true), then fewer bytes mapped or purges done
       (in a region build: fewer bytes of the region in use) */
    fa_stats_t before, after;
    enum { NB = 800 };
    void** v = (void**)malloc(NB * sizeof(void*));
    for (size_t i = 0; i < NB; i++) {
        v[i] = fa_malloc(60000);
        if (v[i]) memset(v[i], 1, 60000);
    }
    fa_stats_get(&before);
    for (size_t i = 0; i < NB; i++) fa_free(v[i]);
    free(v);
    fa_collect(true);
    fa_stats_get(&after);
#if HARNESS_IN_REGION
    CHECK_GE_SZ(before.region_bytes, 60000 * (size_t)NB);
    CHECKF(after.region_bytes + 60000 * (size_t)NB / 2 <= before.region_bytes, "region bytes in use %zu -> %zu",
           before.region_bytes, after.region_bytes);
#else
    CHECK_GE_SZ(before.mapped_bytes, 60000 * (size_t)NB);
    CHECKF(after.mapped_bytes < before.mapped_bytes || after.os_unmap_calls > before.os_unmap_calls ||
           after.os_purge_calls > before.os_purge_calls,
           "nothing given back: mapped %zu -> %zu, unmaps %zu -> %zu, purges %zu -> %zu",
           before.mapped_bytes, after.mapped_bytes, before.os_unmap_calls, after.os_unmap_calls,
           before.os_purge_calls, after.os_purge_calls);
#endif

    /* a freed huge block is given back too (unmapped, or at least purged) */
    fa_stats_t h0, h1, h2;
    fa_collect(true);
    fa_stats_get(&h0);
    void* h = fa_malloc(20 * MiB);
    CHECK(h != NULL);
    if (h) memset(h, 1, 20 * MiB);
    fa_stats_get(&h1);
    fa_free(h);
    fa_collect(true);
    fa_stats_get(&h2);
#if HARNESS_IN_REGION
    CHECK_GE_SZ(h1.region_bytes, h0.region_bytes + 20 * MiB);
    CHECKF(h2.region_bytes + 20 * MiB <= h1.region_bytes, "freed 20 MiB block kept: region bytes %zu -> %zu",
           h1.region_bytes, h2.region_bytes);
#else
    CHECK_GE_SZ(h1.mapped_bytes, h0.mapped_bytes + 20 * MiB);
    CHECKF(h2.mapped_bytes + 20 * MiB <= h1.mapped_bytes || h2.os_purge_calls > h1.os_purge_calls,
           "freed 20 MiB block kept: mapped %zu -> %zu, purges %zu -> %zu", h1.mapped_bytes,
           h2.mapped_bytes, h1.os_purge_calls, h2.os_purge_calls);
#endif
#ifdef FASTALLOC_STATS
    CHECK_GE_SZ(after.pages_retired, 1);
#endif
}

static void test_stats(void) {
    harness_section("stats");
    fa_stats_t st;
    void* p = fa_malloc(1000);
    CHECK(p != NULL);
    fa_stats_get(&st);
#if HARNESS_IN_REGION   /* every block comes from the region: no OS call at all without an OS; with
                           one, only fastalloc's own records (thread heap records, page-map leaves) */
    CHECK(st.region_bytes > 0);
#ifdef FASTALLOC_NO_OS
    CHECK_EQ_SZ(st.os_map_calls + st.os_unmap_calls + st.os_purge_calls + st.os_remap_calls, 0);
    CHECK_EQ_SZ(st.mapped_bytes, 0);
#else
    CHECK_LE_SZ(st.mapped_bytes, 2 * MiB);
#endif
    size_t metadata_calls = st.os_map_calls + st.os_unmap_calls + st.os_purge_calls + st.os_remap_calls;
#define MAPPED region_bytes
#define MAPPED_PEAK region_peak
#else
    CHECK(st.mapped_bytes > 0);
    CHECK_GE_SZ(st.os_map_calls, 1);
    CHECK_EQ_SZ(st.region_bytes, 0);
#define MAPPED mapped_bytes
#define MAPPED_PEAK mapped_peak
#endif
    CHECK_GE_SZ(st.MAPPED_PEAK, st.MAPPED);
    CHECK_GE_SZ(st.segments_live, 1);
    fa_free(p);

    void* h = fa_malloc(64 * MiB);
    CHECK(h != NULL);
    if (h) memset(h, 3, 64 * MiB);
    fa_stats_get(&st);
    CHECK_GE_SZ(st.MAPPED, 64 * MiB);
    CHECK_GE_SZ(st.MAPPED_PEAK, st.MAPPED);
    CHECK_GE_SZ(st.segments_live, 1);
    size_t peak = st.MAPPED_PEAK;
    fa_free(h);
    fa_stats_get(&st);
    CHECK_GE_SZ(st.MAPPED_PEAK, peak); /* the peak never goes down */
    CHECK_GE_SZ(st.MAPPED_PEAK, st.MAPPED);
#if HARNESS_IN_REGION   /* the 64 MiB block came from the region too */
    CHECK_EQ_SZ(st.os_map_calls + st.os_unmap_calls + st.os_purge_calls + st.os_remap_calls, metadata_calls);
#endif

#ifdef FASTALLOC_STATS
    fa_stats_t a, b;
    /* dirty blocks, then calloc: the allocator must have zeroed something */
    enum { N = 64 };
    void* v[N];
    for (size_t i = 0; i < N; i++) { v[i] = fa_malloc(1000); if (v[i]) memset(v[i], 0xAA, 1000); }
    for (size_t i = 0; i < N; i++) fa_free(v[i]);
    fa_stats_get(&a);
    for (size_t i = 0; i < N; i++) v[i] = fa_calloc(1000, 1);
    fa_stats_get(&b);
    CHECKF(b.bytes_zeroed >= a.bytes_zeroed + 1000, "bytes_zeroed %zu -> %zu", a.bytes_zeroed,
           b.bytes_zeroed);
    for (size_t i = 0; i < N; i++) fa_free(v[i]);
    /* a moving realloc copies */
    char* c = (char*)fa_malloc(1000);
    CHECK(c != NULL);
    if (c) harness_fill(c, 1000, 4);
    fa_stats_get(&a);
    char* d = (char*)fa_realloc(c, MiB);
    fa_stats_get(&b);
    CHECK(d != NULL);
    if (d) { CHECK(harness_verify(d, 1000, 4) == HARNESS_OK); c = d; }
    CHECKF(b.bytes_copied >= a.bytes_copied + 1000, "bytes_copied %zu -> %zu", a.bytes_copied,
           b.bytes_copied);
    fa_free(c);
    fa_stats_get(&st);
    CHECK_GE_SZ(st.pages_acquired, 1);
#else
    fa_stats_get(&st);
    CHECK_EQ_SZ(st.pages_acquired, 0);
    CHECK_EQ_SZ(st.pages_retired, 0);
    CHECK_EQ_SZ(st.bytes_zeroed, 0);
    CHECK_EQ_SZ(st.bytes_copied, 0);
#endif
}

int main(void) {
    init_impossible();
    test_collect_before_anything();
    test_malloc_zero();
    test_null_handling();
    test_usable_and_alignment();
    test_enomem_alloc();
    test_enomem_realloc();
    test_calloc_overflow();
    test_aligned();
    test_zalloc_aligned();
    test_realloc_basic();
    test_realloc_preserve();
    test_zeroing();
    test_rezalloc();
    test_strdup();
    test_collect();
    test_stats();
    return harness_finish();
}
