#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fork, waitpid, alarm, setrlimit, MAP_FIXED_NOREPLACE for the test itself */
#endif
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#ifdef FASTALLOC_NO_OS
#define HARNESS_NO_REGION   /* defect 6 needs a process with no thread heap yet; it sets up the default region */
#endif
#include "harness.h"

/* test_defects.c — one regression test per defect of an outside audit. With the header as it was
   audited, each of them fails (or hangs or aborts, caught in a forked child), except defect 4,
   which documents the rule decided for rezalloc and passes.

   1. First-class heaps strand memory: threads that make a heap, allocate from it and end (a
      thread that ends deletes its heaps) leave their segments on the abandoned list, where blocks
      freed later by other threads are never collected. Mapped and resident memory must stay
      bounded; fa_collect(true) must bring them down further; blocks freed into abandoned
      segments must be collected without fa_collect(true) too.
   2. fa_heap_realloc(h, p, n) of a huge block moves it somewhere other than h: (a) a region heap
      gets an OS remap outside its region; (b) fa_heap_destroy(h) does not release the moved block.
   3. Out of memory while holding free memory (RLIMIT_AS in a forked child): (a) the cache of
      freed huge mappings is not given back, (b) nor the pool of a destroyed heap's segments,
      (c) realloc growth asks for 25 % headroom and never retries the exact size (also in a
      region heap, without any limit).
   4. rezalloc keeps what the caller wrote into the slack (all tiers). Passes: the decided rule.
   5. FASTALLOC_DEBUG misses misuse it claims to catch (debug builds only; SIGABRT wanted, in a
      child with alarm(5)): remote double frees, a free of a block never handed out, a huge block
      freed at an interior pointer, an interior pointer on a page of aligned blocks.
   6. FASTALLOC_NO_OS: fa_init_region after fa_heap_delete of a region heap (no thread heap yet)
      dropped that region: its free space never served again. The rule now: the deleted heap
      becomes the thread heap and its region the default region, so a later fa_init_region is
      refused (false, EBUSY) and that region keeps serving fa_malloc.
   7. (found by tests/test_fuzz.c, not in the audit) FASTALLOC_NO_OS: fa_good_size of a size within a
      slice of PTRDIFF_MAX rounded up past PTRDIFF_MAX (2^63), a size fa_good_size itself calls
      invalid; with an OS the same call returned the size unchanged. Now: 0 (no such block can
      exist) whenever rounding would pass PTRDIFF_MAX.
   Parts that cannot apply to a build are skipped with a printed reason. */

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifndef FASTALLOC_NO_OS
#include <pthread.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DF_SANITIZED 1
#endif
#endif
#ifndef DF_SANITIZED
#define DF_SANITIZED 0
#endif

static void skip(const char* what, const char* why) { fprintf(stderr, "test_defects: SKIP %s: %s\n", what, why); }
static void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test_defects: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static fa_stats_t stats(void) { fa_stats_t s; fa_stats_get(&s); return s; }

static size_t statm_field(int k) {   /* /proc/self/statm: 0 = VM size, 1 = resident; bytes */
    FILE* f = fopen("/proc/self/statm", "r");
    if (f == NULL) return 0;
    unsigned long v[2] = {0, 0};
    int got = fscanf(f, "%lu %lu", &v[0], &v[1]);
    fclose(f);
    long psz = sysconf(_SC_PAGESIZE);
    return got == 2 && psz > 0 ? (size_t)v[k] * (size_t)psz : 0;
}
HARNESS_UNUSED static size_t vm_bytes(void) { return statm_field(0); }
HARNESS_UNUSED static size_t rss_bytes(void) { return statm_field(1); }

HARNESS_UNUSED static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Runs fn in a forked child (stderr kept unless quiet) under alarm(seconds); returns the wait
   status. */
HARNESS_UNUSED static int run_child(void (*fn)(void), unsigned seconds, bool quiet) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (quiet && freopen("/dev/null", "w", stderr) == NULL) _Exit(99);
        alarm(seconds);
        fn();
        _Exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) { }
    return status;
}

HARNESS_UNUSED static const char* describe_status(int status, char* buf, size_t n) {
    if (status == -1) snprintf(buf, n, "fork failed");
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) snprintf(buf, n, "hung (killed by alarm)");
    else if (WIFSIGNALED(status)) snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    return buf;
}

/* Touches a block so that it is resident: every byte where that is cheap, one byte per page under
   the sanitizers (whose shadow memory would otherwise dwarf what is measured). */
HARNESS_UNUSED static void touch(void* p, size_t n, int c) {
    if (!DF_SANITIZED) { memset(p, c, n); return; }
    unsigned char* b = (unsigned char*)p;
    for (size_t i = 0; i < n; i += 4096) b[i] = (unsigned char)c;
    b[n - 1] = (unsigned char)c;
}

/* =====================================================================================================
   1. First-class heaps strand memory without bound
   ===================================================================================================== */
#ifndef FASTALLOC_NO_OS
#define D1_ROUNDS 200
#define D1_BLOCK  (3 * MiB / 2)
#define D1_BOUND  (64 * MiB)

typedef struct { void* p[3]; bool use_heap; } d1_round_t;

static void* d1_thread(void* arg) {
    d1_round_t* r = (d1_round_t*)arg;
    fa_heap_t* h = r->use_heap ? fa_heap_new() : NULL;
    for (int i = 0; i < 3; i++) {
        r->p[i] = h != NULL ? fa_heap_malloc(h, D1_BLOCK) : fa_malloc(D1_BLOCK);
        if (r->p[i] != NULL) touch(r->p[i], D1_BLOCK, 0x40 + i);
    }
    return NULL;   /* ends without fa_heap_delete: a thread that ends deletes its heaps */
}

static void d1_free_round(d1_round_t* r, size_t* bad) {
    for (int i = 0; i < 3; i++) {
        unsigned char* b = (unsigned char*)r->p[i];
        if (b == NULL) { (*bad)++; continue; }
        if (b[0] != 0x40 + i || b[D1_BLOCK - 1] != 0x40 + i) (*bad)++;
        fa_free(b);
        r->p[i] = NULL;
    }
}

static void d1_rounds(bool use_heap) {
    const char* name = use_heap ? "1a: heaps of ending threads" : "1b: fa_malloc in ending threads";
    harness_section(name);
    fa_collect(true);
    size_t rss0 = rss_bytes(), max_mapped = 0, max_rss = 0, bad = 0;
    int over_at = -1;
    d1_round_t prev = {{NULL, NULL, NULL}, use_heap}, cur;
    for (int round = 0; round < D1_ROUNDS; round++) {
        cur = (d1_round_t){{NULL, NULL, NULL}, use_heap};
        pthread_t t;
        if (pthread_create(&t, NULL, d1_thread, &cur) != 0) { CHECK(!"pthread_create"); break; }
        pthread_join(t, NULL);
        if (round > 0) d1_free_round(&prev, &bad);   /* the main thread frees one round later */
        prev = cur;
        size_t m = stats().mapped_bytes, r = rss_bytes() - rss0;
        if (m > max_mapped) max_mapped = m;
        if (r > max_rss) max_rss = r;
        if (over_at < 0 && (m > D1_BOUND || (!DF_SANITIZED && r > D1_BOUND))) over_at = round;
    }
    d1_free_round(&prev, &bad);
    CHECK_EQ_SZ(bad, 0);
    fa_stats_t before = stats();
    size_t rss_before = rss_bytes() - rss0;
    fa_collect(true);
    fa_stats_t after = stats();
    size_t rss_after = rss_bytes() - rss0;
    note("%s: %d rounds of 3 x 1.5 MiB (at most 9 MiB live): peak %zu MiB mapped, %zu MiB resident%s; "
         "at the end %zu MiB mapped (%zu segments abandoned), after fa_collect(true) %zu MiB mapped, %zu MiB resident",
         name, D1_ROUNDS, max_mapped / MiB, max_rss / MiB, DF_SANITIZED ? " (not judged: sanitizer shadow)" : "",
         before.mapped_bytes / MiB, before.segments_abandoned, after.mapped_bytes / MiB, rss_after / MiB);
    CHECKF(max_mapped < D1_BOUND, "%s: mapped memory reached %zu MiB (bound %zu MiB; first over at round %d)", name,
           max_mapped / MiB, D1_BOUND / MiB, over_at);
    if (!DF_SANITIZED)
        CHECKF(max_rss < D1_BOUND, "%s: resident memory grew by %zu MiB (bound %zu MiB)", name, max_rss / MiB,
               D1_BOUND / MiB);
    CHECKF(after.mapped_bytes <= before.mapped_bytes && after.mapped_bytes < 16 * MiB,
           "%s: fa_collect(true) with nothing live left %zu MiB mapped (before it: %zu MiB)", name,
           after.mapped_bytes / MiB, before.mapped_bytes / MiB);
    if (!DF_SANITIZED)
        CHECKF(rss_after <= rss_before + MiB && rss_after < 16 * MiB,
               "%s: fa_collect(true) with nothing live left %zu MiB resident (before it: %zu MiB)", name,
               rss_after / MiB, rss_before / MiB);
}

/* Blocks freed by another thread into the segments of threads that ended must be collected
   without anybody calling fa_collect(true), while threads keep coming and going (each leaving a
   small block behind that the main thread frees a round later, as in a server's worker pool).
   The main thread here only frees (a consumer): it never needs a page, so it never adopts
   abandoned segments itself; fa_malloc only, no first-class heap involved. */
#define D1C_THREADS 30
static void* d1c_small_thread(void* arg) {
    void** out = (void**)arg;
    *out = fa_malloc(64);   /* a short task: one small block, handed to the main thread */
    if (*out != NULL) memset(*out, 0x5c, 64);
    return NULL;
}

static void d1_abandoned_frees(void) {
    harness_section("1c: frees into abandoned segments");
    fa_collect(true);
    size_t base = stats().mapped_bytes;
    static d1_round_t r[D1C_THREADS];
    for (int i = 0; i < D1C_THREADS; i++) {
        r[i] = (d1_round_t){{NULL, NULL, NULL}, false};   /* fa_malloc only: no first-class heap involved */
        pthread_t t;
        if (pthread_create(&t, NULL, d1_thread, &r[i]) != 0) { CHECK(!"pthread_create"); return; }
        pthread_join(t, NULL);
    }
    size_t bad = 0, peak = stats().mapped_bytes;
    void* small = NULL;
    for (int round = 0; round < 20; round++) {
        void* next = NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, d1c_small_thread, &next) == 0) pthread_join(t, NULL);
        if (round == 0)   /* every big block goes back, freed by this thread into an abandoned segment */
            for (int i = 0; i < D1C_THREADS; i++) d1_free_round(&r[i], &bad);
        if (small != NULL && ((unsigned char*)small)[63] != 0x5c) bad++;
        fa_free(small);
        small = next;
        usleep(15000);   /* past the purge delay */
    }
    fa_free(small);
    CHECK_EQ_SZ(bad, 0);
    fa_stats_t s = stats();
    note("1c: %d threads left %zu MiB mapped; the main thread freed all their blocks, then 20 more threads came and "
         "went (each leaving a 64-byte block, freed a round later), 300 ms, no fa_collect(true): %zu MiB mapped, "
         "%zu segments abandoned", D1C_THREADS, peak / MiB, s.mapped_bytes / MiB, s.segments_abandoned);
    CHECKF(s.mapped_bytes < base + 32 * MiB,
           "1c: blocks freed into abandoned segments were never collected: %zu MiB still mapped, %zu segments abandoned",
           s.mapped_bytes / MiB, s.segments_abandoned);
    fa_collect(true);
}

static void defect1(void) {
    d1_rounds(true);
    d1_rounds(false);
    d1_abandoned_frees();
}
#endif /* !FASTALLOC_NO_OS */

/* =====================================================================================================
   2. fa_heap_realloc(h, p, n) of a huge block moves it somewhere other than h
   ===================================================================================================== */
#ifdef FASTALLOC_NO_OS
#define D2_REGION (4 * MiB)
#else
#define D2_REGION (24 * MiB)   /* holds a 4 MiB boundary and room for a few huge blocks */
#endif
static unsigned char g_d2_region[D2_REGION + 64];

static bool inside(const void* p, size_t n, const unsigned char* lo, size_t size) {
    const unsigned char* q = (const unsigned char*)p;
    return q >= lo && n <= size && (size_t)(q - lo) <= size - n;
}

/* With an OS, maps a page right after a huge block's mapping so that mremap cannot grow it in
   place: growth must move it. Returns the guard (or NULL when something is there already). */
static void* guard_after(void* p) {
#ifndef FASTALLOC_NO_OS
#ifdef MAP_FIXED_NOREPLACE
    unsigned char* end = (unsigned char*)p + fa_usable_size(p);
    void* g = mmap(end, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (g == MAP_FAILED) return NULL;
    if (g != end) { munmap(g, 4096); return NULL; }
    return g;
#else
    (void)p;
    return NULL;
#endif
#else
    (void)p;
    return NULL;
#endif
}
static void unguard(void* g) {
#ifndef FASTALLOC_NO_OS
    if (g != NULL) munmap(g, 4096);
#else
    (void)g;
#endif
}

/* (a) a region heap: the result of growing a huge block lies in the region, with no OS call. */
static void d2_region_case(const char* what, void* p, size_t n0, size_t n1, fa_heap_t* h, const unsigned char* lo,
                           size_t size) {
    harness_fill(p, n0, n1);
    void* g = guard_after(p);
    fa_stats_t s0 = stats();
    errno = 0;
    void* q = fa_heap_realloc(h, p, n1);
    fa_stats_t s1 = stats();
    unguard(g);
    CHECKF(q != NULL, "2a %s: fa_heap_realloc(region heap, %zu -> %zu) failed, errno %d", what, n0, n1, errno);
    if (q == NULL) { fa_free(p); return; }
    CHECKF(harness_verify(q, n0, n1) == HARNESS_OK, "2a %s: contents lost", what);
    size_t u = fa_usable_size(q);
#ifdef FASTALLOC_NO_OS
    /* without an OS a block of another region may grow in place in that region: not a move */
    bool must_be_inside = q != p;
#else
    bool must_be_inside = true;   /* with an OS, growth made by the OS is what must not happen */
#endif
    if (must_be_inside)
        CHECKF(inside(q, u, lo, size), "2a %s: fa_heap_realloc(region heap, %zu -> %zu) = %p (+%zu): outside the region "
               "[%p, +%zu)%s", what, n0, n1, q, u, (const void*)lo, size, q == p ? " (grown in place)" : " (moved)");
    CHECKF(s1.os_map_calls == s0.os_map_calls && s1.os_remap_calls == s0.os_remap_calls,
           "2a %s: a region heap's realloc made %zu OS mappings and %zu remaps", what, s1.os_map_calls - s0.os_map_calls,
           s1.os_remap_calls - s0.os_remap_calls);
    fa_free(q);
}

static void defect2a(void) {
    harness_section("2a: fa_heap_realloc on a region heap");
    unsigned char* lo = g_d2_region + 5;
    size_t size = D2_REGION;
    fa_heap_t* h = fa_heap_new_in_region(lo, size);
    CHECK(h != NULL);
    if (h == NULL) return;
    const size_t big = FA__LARGE_MAX + FA__LARGE_MAX / 2;   /* 3 MiB with an OS: huge */
    /* a thread-heap huge block grown through the region heap */
    void* p = fa_malloc(big);
    CHECK(p != NULL);
    if (p != NULL) d2_region_case("thread-heap huge block", p, big, 2 * big, h, lo, size);
    /* a small block aligned past a slice is huge inside fastalloc too */
    p = fa_malloc_aligned(100, 4 * FA__SLICE_SIZE);
    CHECK(p != NULL);
    if (p != NULL) d2_region_case("thread-heap block aligned to 4 slices", p, 100, big, h, lo, size);
    /* the region heap's own huge block, pinned by a neighbour so that it has to move */
    p = fa_heap_malloc(h, big);
    void* pin = fa_heap_malloc(h, FA__LARGE_MAX + 1);
    CHECK(p != NULL && pin != NULL);
    if (p != NULL) d2_region_case("region heap's own huge block", p, big, 2 * big, h, lo, size);
    fa_free(pin);
    fa_heap_destroy(h);
}

/* (b) a thread-heap block grown through a first-class heap: the block is h's, so fa_heap_destroy(h)
   releases it. */
static void d2_destroy_case(const char* what, void* p, size_t n0, size_t n1) {
#ifndef FASTALLOC_NO_OS
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    if (h == NULL) { fa_free(p); return; }
    harness_fill(p, n0, 3);
    void* g = guard_after(p);
    void* q = fa_heap_realloc(h, p, n1);
    unguard(g);
    CHECKF(q != NULL, "2b %s: fa_heap_realloc(h, %zu -> %zu) failed", what, n0, n1);
    if (q == NULL) { fa_free(p); fa_heap_destroy(h); return; }
    CHECK(harness_verify(q, n0, 3) == HARNESS_OK);
    size_t u = fa_usable_size(q);
    bool moved = q != p;
    size_t m0 = stats().mapped_bytes;
    fa_heap_destroy(h);
    size_t m1 = stats().mapped_bytes;
    bool released = m1 + u <= m0;
    CHECKF(released, "2b %s: fa_heap_realloc(h, %zu -> %zu) %s the block (%zu KiB); fa_heap_destroy(h) released "
           "%zd KiB: the block is not h's", what, n0, n1, moved ? "moved" : "grew in place", u / KiB,
           (ptrdiff_t)(m0 - m1) / 1024);
    if (!released) fa_free(q);   /* still live (the thread heap's): give it back */
#else
    (void)n0; (void)n1;
    skip(what, "FASTALLOC_NO_OS: no mremap; a huge block grows in place in its region or moves by copying into h");
    fa_free(p);
#endif
}

static void defect2b(void) {
    harness_section("2b: fa_heap_realloc into a first-class heap");
    const size_t big = FA__LARGE_MAX + FA__LARGE_MAX / 2;
    void* p = fa_malloc(big);
    CHECK(p != NULL);
    if (p != NULL) d2_destroy_case("thread-heap huge block", p, big, 4 * big);
    p = fa_malloc_aligned(100, 4 * FA__SLICE_SIZE);
    CHECK(p != NULL);
    if (p != NULL) d2_destroy_case("thread-heap block aligned to 4 slices", p, 100, 2 * big);
}

/* =====================================================================================================
   3. Out of memory while holding free memory
   ===================================================================================================== */
/* Sets RLIMIT_AS to `limit` bytes of address space; false when that is impossible. */
HARNESS_UNUSED static bool cap_address_space(size_t limit) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) != 0) return false;
    lim.rlim_cur = (rlim_t)limit;
    return setrlimit(RLIMIT_AS, &lim) == 0;
}

#define D3_OK 0
#define D3_FAIL 1
#define D3_SETUP 2     /* the experiment could not be set up: skipped */

#ifndef FASTALLOC_NO_OS
/* What a huge request of n bytes maps: a header slice, n rounded to pages, plus one segment of
   slack that the aligned mapping trims again (RLIMIT_AS sees the untrimmed size). */
static size_t huge_need(size_t n) { return FA__SLICE_SIZE + ((n + 4095) & ~(size_t)4095) + FA__SEGMENT_SIZE; }

/* (a) a freed 30 MiB block waits in the cache of huge mappings; a 120 MiB request that fits only
   when the cache is given back must succeed. The cache is also emptied by the purge deadline
   (10 ms after the free): attempts where the request came later than 5 ms after the free prove
   nothing and are repeated. */
static void d3a_child(void) {
    fa_collect(true);   /* nothing inherited from the parent that a retry could give back */
    void* warm = fa_malloc(64);
    for (int attempt = 0; attempt < 20; attempt++) {
        void* p = fa_malloc(30 * MiB);
        if (p == NULL) _Exit(D3_SETUP);
        memset(p, 1, 30 * MiB);
        fa_free(p);                              /* into the cache */
        double t0 = now_ms();
        size_t vm = vm_bytes(), need = huge_need(120 * MiB);
        if (vm == 0 || !cap_address_space(vm + need - 12 * MiB)) _Exit(D3_SETUP);
        if (now_ms() - t0 > 5) { cap_address_space((size_t)RLIM_INFINITY); fa_collect(true); continue; }
        errno = 0;
        void* q = fa_malloc(120 * MiB);
        int e = errno;
        if (q != NULL) _Exit(D3_OK);
        fprintf(stderr, "test_defects: 3a: fa_malloc(120 MiB) = NULL (errno %d) with a freed 30 MiB mapping cached "
                "(address space capped at %zu MiB = now %zu MiB + %zu MiB - 12 MiB; %zu MiB mapped by fastalloc)\n",
                e, (vm + need - 12 * MiB) / MiB, vm / MiB, need / MiB, stats().mapped_bytes / MiB);
        _Exit(D3_FAIL);
    }
    fa_free(warm);
    _Exit(D3_SETUP);
}

/* (b) a destroyed heap's segments wait in a pool of up to 16 (64 MiB); a 36 MiB request that fits
   only when the pool is given back must succeed. */
static void d3b_child(void) {
    fa_collect(true);
    void* warm = fa_malloc(64);
    (void)warm;
    fa_heap_t* h = fa_heap_new();
    if (h == NULL) _Exit(D3_SETUP);
    for (int i = 0; i < 24; i++) {   /* two 1.5 MiB pages per segment: 12 segments */
        void* p = fa_heap_malloc(h, 3 * MiB / 2);
        if (p == NULL) _Exit(D3_SETUP);
        memset(p, 2, 3 * MiB / 2);
    }
    fa_heap_destroy(h);                          /* its 12 segments into the pool */
    size_t vm = vm_bytes(), need = huge_need(36 * MiB), limit = vm + need - 16 * MiB;
    if (vm == 0 || !cap_address_space(limit)) _Exit(D3_SETUP);
    errno = 0;
    void* q = fa_malloc(36 * MiB);
    int e = errno;
    if (q != NULL) _Exit(D3_OK);
    fprintf(stderr, "test_defects: 3b: fa_malloc(36 MiB) = NULL (errno %d) with a destroyed heap's segments pooled "
            "(address space capped at %zu MiB = now %zu MiB + %zu MiB - 16 MiB; %zu MiB mapped by fastalloc)\n",
            e, limit / MiB, vm / MiB, need / MiB, stats().mapped_bytes / MiB);
    _Exit(D3_FAIL);
}

/* (c) realloc of a live 8 MiB block to 160 MiB must succeed whenever fa_malloc(160 MiB) does with
   the old block live (growth asks for a quarter more, and must fall back to the exact size). */
static void d3c_child(void) {
    fa_collect(true);
    unsigned char* p = (unsigned char*)fa_malloc(8 * MiB);
    if (p == NULL) _Exit(D3_SETUP);
    harness_fill_sparse(p, 8 * MiB, 33);
    fa_collect(true);
    size_t vm = vm_bytes(), need = huge_need(160 * MiB), limit = vm + need + 8 * MiB;
    if (vm == 0 || !cap_address_space(limit)) _Exit(D3_SETUP);
    void* probe = fa_malloc(160 * MiB);
    if (probe == NULL) {
        fprintf(stderr, "test_defects: 3c: setup: fa_malloc(160 MiB) fails under the cap itself\n");
        _Exit(D3_SETUP);
    }
    fa_free(probe);                              /* above the cache's 32 MiB: unmapped at once */
    fa_collect(true);
    errno = 0;
    unsigned char* q = (unsigned char*)fa_realloc(p, 160 * MiB);
    int e = errno;
    if (q != NULL) _Exit(harness_verify_sparse_prefix(q, 8 * MiB, 8 * MiB, 33) == HARNESS_OK ? D3_OK : D3_FAIL);
    fprintf(stderr, "test_defects: 3c: fa_realloc(8 MiB block, 160 MiB) = NULL (errno %d) although fa_malloc(160 MiB) "
            "succeeded with the block live (address space capped at now + %zu MiB; growth asks for %zu MiB)\n",
            e, (need + 8 * MiB) / MiB, huge_need(200 * MiB) / MiB);
    _Exit(D3_FAIL);
}

static void d3_run(const char* name, void (*fn)(void)) {
    harness_section(name);
    int status = run_child(fn, 60, false);
    char buf[128];
    if (WIFEXITED(status) && WEXITSTATUS(status) == D3_SETUP) { skip(name, "could not set the experiment up"); return; }
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == D3_OK, "%s: child %s", name, describe_status(status, buf, sizeof buf));
}
#endif /* !FASTALLOC_NO_OS */

/* (c, in a region heap: no limit needed) growing a huge block must succeed when the region holds
   the new size but not a quarter more. */
#ifdef FASTALLOC_NO_OS
#define D3R_REGION (2 * MiB)
#else
#define D3R_REGION (28 * MiB)
#endif
static unsigned char g_d3r_region[D3R_REGION + 64];

static void defect3c_region(void) {
    harness_section("3c: realloc growth in a region heap");
    fa_heap_t* h = fa_heap_new_in_region(g_d3r_region + 3, D3R_REGION);
    CHECK(h != NULL);
    if (h == NULL) return;
    const size_t slice = FA__SLICE_SIZE;
    unsigned char* p = (unsigned char*)fa_heap_malloc(h, FA__LARGE_MAX + 1);
    void* pin = fa_heap_malloc(h, FA__LARGE_MAX + 1);   /* right after p: p cannot grow in place */
    CHECK(p != NULL && pin != NULL);
    if (p == NULL || pin == NULL) { fa_heap_destroy(h); return; }
    harness_fill(p, FA__LARGE_MAX + 1, 77);
    /* the biggest block the region still holds, with p live */
    size_t lo = FA__LARGE_MAX + 1, hi = D3R_REGION;
    while (hi - lo > slice) {
        size_t mid = lo + (hi - lo) / 2;
        void* t = fa_heap_malloc(h, mid);
        if (t != NULL) { fa_free(t); lo = mid; } else hi = mid;
    }
    void* t = fa_heap_malloc(h, lo);
    CHECKF(t != NULL, "3c region: probe of %zu bytes", lo);
    fa_free(t);
    errno = 0;
    unsigned char* q = (unsigned char*)fa_heap_realloc(h, p, lo);
    int e = errno;
    CHECKF(q != NULL, "3c region: fa_heap_realloc(%zu -> %zu) = NULL (errno %d) although fa_heap_malloc(h, %zu) succeeds "
           "with the block live (growth asks for a quarter more: %zu)", (size_t)FA__LARGE_MAX + 1, lo, e, lo, lo + lo / 4);
    if (q != NULL) { CHECK(harness_verify(q, FA__LARGE_MAX + 1, 77) == HARNESS_OK); p = q; }
    else CHECK(harness_verify(p, FA__LARGE_MAX + 1, 77) == HARNESS_OK);
    fa_free(p);
    fa_free(pin);
    fa_heap_destroy(h);
}

static void defect3(void) {
#ifndef FASTALLOC_NO_OS
    if (DF_SANITIZED) {
        skip("3a/3b/3c (RLIMIT_AS)", "sanitizer runtimes reserve terabytes of address space");
    } else {
        d3_run("3a: huge-mapping cache under an address-space cap", d3a_child);
        d3_run("3b: destroyed heap's pool under an address-space cap", d3b_child);
        d3_run("3c: realloc growth under an address-space cap", d3c_child);
    }
#else
    skip("3a/3b/3c (RLIMIT_AS)", "FASTALLOC_NO_OS: no mappings to cap");
#endif
    defect3c_region();
}

/* =====================================================================================================
   4. rezalloc keeps what the caller wrote into the slack (the decided rule; passes)
   ===================================================================================================== */
static void d4_case(const char* tier, size_t asked, size_t grow) {
    unsigned char* p = (unsigned char*)fa_zalloc(asked);
    CHECKF(p != NULL, "4 %s: fa_zalloc(%zu)", tier, asked);
    if (p == NULL) return;
    size_t u = fa_usable_size(p);
    CHECKF(u > asked, "4 %s: fa_zalloc(%zu) has no slack (usable %zu): pick another size", tier, asked, u);
    harness_fill(p, u, asked);                       /* every usable byte, the slack included */
    unsigned char* q = (unsigned char*)fa_rezalloc(p, grow);
    CHECKF(q != NULL, "4 %s: fa_rezalloc(%zu -> %zu)", tier, asked, grow);
    if (q == NULL) { fa_free(p); return; }
    size_t kept = u < grow ? u : grow;
    size_t at = harness_verify(q, kept, asked);
    CHECKF(at == HARNESS_OK, "4 %s: fa_zalloc(%zu) (usable %zu), all written, fa_rezalloc(%zu): byte %zu lost what was "
           "written%s", tier, asked, u, grow, at, at != HARNESS_OK && at >= asked ? " (slack)" : "");
    size_t z = grow > u ? harness_first_nonzero(q + u, grow - u) : HARNESS_OK;
    CHECKF(z == HARNESS_OK, "4 %s: fa_rezalloc(%zu): byte %zu past the old usable size %zu is not zero", tier, grow,
           z == HARNESS_OK ? 0 : u + z, u);
    fa_free(q);
}

static void defect4(void) {
    harness_section("4: rezalloc keeps the slack");
    d4_case("small", 100, 4000);                          /* usable 112 */
    d4_case("small, in place", 100, 110);
    d4_case("medium", FA__SMALL_MAX + 100, 4 * FA__SMALL_MAX);
    d4_case("large", FA__MEDIUM_MAX + 100, FA__LARGE_MAX - 100);
    d4_case("large, to huge", FA__LARGE_MAX - 1000, 3 * FA__LARGE_MAX);
    d4_case("huge", FA__LARGE_MAX + 100, 3 * FA__LARGE_MAX);
    d4_case("huge, in place", FA__LARGE_MAX + 100, FA__LARGE_MAX + 200);
}

/* =====================================================================================================
   5. FASTALLOC_DEBUG misses misuse it claims to catch
   ===================================================================================================== */
#if defined(FASTALLOC_DEBUG) && !defined(FASTALLOC_NO_OS)
static size_t g_d5_size;
static void* d5_free_twice(void* p) { fa_free(p); fa_free(p); return NULL; }
static void* d5_free_once(void* p) { fa_free(p); return NULL; }

/* The next allocations of that size, enough to drain the page and make it take in the frees of
   other threads: a corrupted list shows here. Returns whether a block came out twice. */
static bool d5_churn(size_t size, const void* also) {
    size_t n = 2 * (FA__SLICE_SIZE / size) + 64;
    void** v = (void**)calloc(n, sizeof *v);
    if (v == NULL) _Exit(98);
    bool twice = false;
    for (size_t i = 0; i < n && !twice; i++) {
        v[i] = fa_malloc(size);
        twice = v[i] == also;
        for (size_t j = 0; j < i && !twice; j++) twice = v[j] == v[i];
    }
    if (twice) _Exit(3);   /* reported as "handed the same block out twice" */
    return twice;
}

static void d5a_remote_double_free(void) {
    void* p = fa_malloc(g_d5_size);
    void* keep = fa_malloc(g_d5_size);
    pthread_t t;
    pthread_create(&t, NULL, d5_free_twice, p);
    pthread_join(t, NULL);
    d5_churn(g_d5_size, keep);
    _Exit(0);   /* the misuse went unnoticed (or a block came out twice) */
}

static void d5b_remote_then_owner(void) {
    void* p = fa_malloc(g_d5_size);
    void* keep = fa_malloc(g_d5_size);
    pthread_t t;
    pthread_create(&t, NULL, d5_free_once, p);
    pthread_join(t, NULL);
    fa_free(p);
    d5_churn(g_d5_size, keep);
    _Exit(0);
}

static void d5c_never_handed_out(void) {
    unsigned char* p = (unsigned char*)fa_malloc(g_d5_size);   /* the first block of a fresh page */
    unsigned char* never = p + 5 * fa_usable_size(p);         /* threaded into the free list, never returned */
    pthread_t t;
    pthread_create(&t, NULL, d5_free_once, never);
    pthread_join(t, NULL);
    d5_churn(g_d5_size, p);
    _Exit(0);
}

static void d5c_never_handed_out_owner(void) {
    unsigned char* p = (unsigned char*)fa_malloc(g_d5_size);
    fa_free(p + 5 * fa_usable_size(p));
    d5_churn(g_d5_size, p);
    _Exit(0);
}

static void d5d_huge_interior_16(void) {
    unsigned char* p = (unsigned char*)fa_malloc(8 * MiB);
    fa_free(p + 16);
}
static void d5d_huge_interior_4096(void) {
    unsigned char* p = (unsigned char*)fa_malloc(8 * MiB);
    fa_free(p + 4096);
}

static size_t g_d5_align;
/* Size and alignment pairs whose size class is no multiple of the alignment, so fastalloc
   over-allocates and marks the page as holding aligned blocks (interior pointers are legal there). */
static void d5e_aligned_interior(void) {
    unsigned char* v[16];
    for (int i = 0; i < 16; i++) v[i] = (unsigned char*)fa_malloc_aligned(g_d5_size, g_d5_align);
    fa__page_t* page = fa__segment_page_of(fa__ptr_segment(v[7]), v[7]);
    if (!(page->flags & FA__PAGE_HAS_ALIGNED)) _Exit(97);   /* the case does not arise: pick other sizes */
    fa_free(v[7] + 16);   /* 16 bytes into a block: never returned by fastalloc */
    _Exit(0);
}

static void d5_expect_abort(const char* what, void (*fn)(void)) {
    int status = run_child(fn, 5, true);
    char buf[128];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 97) { skip(what, "no page of aligned blocks arose"); return; }
    bool twice = WIFEXITED(status) && WEXITSTATUS(status) == 3;
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "5 %s: want SIGABRT, the child %s", what,
           twice ? "went on and handed the same block out twice" : describe_status(status, buf, sizeof buf));
}

static void defect5(void) {
    harness_section("5: FASTALLOC_DEBUG catches misuse");
    static const size_t sizes[] = {8, 16, 48, 1000};
    char what[160];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        g_d5_size = sizes[i];
        snprintf(what, sizeof what, "(a) another thread frees a %zu-byte block twice", sizes[i]);
        d5_expect_abort(what, d5a_remote_double_free);
        snprintf(what, sizeof what, "(b) another thread frees a %zu-byte block, then its owner", sizes[i]);
        d5_expect_abort(what, d5b_remote_then_owner);
        snprintf(what, sizeof what, "(c) another thread frees a %zu-byte block never handed out", sizes[i]);
        d5_expect_abort(what, d5c_never_handed_out);
        snprintf(what, sizeof what, "(c) the owner frees a %zu-byte block never handed out", sizes[i]);
        d5_expect_abort(what, d5c_never_handed_out_owner);
    }
    d5_expect_abort("(d) a huge block freed at p+16", d5d_huge_interior_16);
    d5_expect_abort("(d) a huge block freed at p+4096", d5d_huge_interior_4096);
    static const size_t pairs[][2] = {{80, 64}, {150, 128}, {300, 256}, {1100, 1024}, {5000, 4096}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        g_d5_size = pairs[k][0];
        g_d5_align = pairs[k][1];
        snprintf(what, sizeof what, "(e) interior pointer (+16) of a %zu-byte block aligned to %zu", pairs[k][0], pairs[k][1]);
        d5_expect_abort(what, d5e_aligned_interior);
    }
}
#endif

/* =====================================================================================================
   6. FASTALLOC_NO_OS: fa_init_region after fa_heap_delete drops a region
   ===================================================================================================== */
#ifdef FASTALLOC_NO_OS
#define D6_R1 (256 * KiB)
#define D6_R2 (1 * MiB)
#define D6_BLOCKS 600
static unsigned char g_d6_r1[D6_R1 + 64];
static unsigned char g_d6_r2[D6_R2 + 64];
static unsigned char* g_d6_blocks[D6_BLOCKS];

/* Runs first: no heap of any kind exists yet. */
static void defect6(void) {
    harness_section("6: fa_init_region after fa_heap_delete (FASTALLOC_NO_OS)");
    unsigned char* r1 = g_d6_r1 + 3;
    fa_heap_t* h = fa_heap_new_in_region(r1, D6_R1);
    CHECK(h != NULL);
    if (h == NULL) return;
    size_t got = 0;
    for (size_t i = 0; i < D6_BLOCKS; i++) {
        g_d6_blocks[i] = (unsigned char*)fa_heap_malloc(h, 48);
        if (g_d6_blocks[i] != NULL) { harness_fill(g_d6_blocks[i], 48, i); got++; }
    }
    CHECK_EQ_SZ(got, D6_BLOCKS);
    for (size_t i = 0; i < D6_BLOCKS; i += 2) { fa_free(g_d6_blocks[i]); g_d6_blocks[i] = NULL; }   /* room in r1's pages */
    fa_heap_delete(h);   /* no thread heap: the deleted heap takes that role */
    errno = 0;
    bool ok = fa_init_region(g_d6_r2 + 5, D6_R2);
    CHECKF(!ok && errno == EBUSY, "fa_init_region after fa_heap_delete: %s, errno %d (want false, EBUSY: the deleted "
           "heap's region is the default region now)", ok ? "true" : "false", errno);
    /* r1's blocks are still valid */
    size_t bad = 0;
    for (size_t i = 1; i < D6_BLOCKS; i += 2)
        if (harness_verify(g_d6_blocks[i], 48, i) != HARNESS_OK) bad++;
    CHECK_EQ_SZ(bad, 0);
    /* fill the default region; once it is full, r1's free blocks must serve */
    static unsigned char* taken[D6_R2 / 32];
    size_t n = 0, in_r1 = 0, in_r2 = 0, elsewhere = 0;
    while (n < sizeof taken / sizeof taken[0]) {
        unsigned char* p = (unsigned char*)fa_malloc(48);
        if (p == NULL) break;
        taken[n++] = p;
        if (inside(p, 48, r1, D6_R1)) in_r1++;
        else if (inside(p, 48, g_d6_r2 + 5, D6_R2)) in_r2++;
        else elsewhere++;
    }
    note("6: after fa_heap_delete + a refused fa_init_region: %zu blocks of 48 bytes until ENOMEM: %zu in the refused "
         "region, %zu in the deleted heap's region (%d freed blocks there)", n, in_r2, in_r1, D6_BLOCKS / 2);
    CHECK_EQ_SZ(elsewhere, 0);
    CHECK_EQ_SZ(in_r2, 0);
    CHECKF(in_r1 >= D6_BLOCKS / 2, "6: the deleted region heap's free space served %zu blocks, want at least the %d "
           "freed there: fa_init_region dropped that region", in_r1, D6_BLOCKS / 2);
    for (size_t i = 0; i < n; i++) fa_free(taken[i]);
    /* r1's remaining blocks are freeable, and the memory serves again */
    for (size_t i = 1; i < D6_BLOCKS; i += 2) { fa_free(g_d6_blocks[i]); g_d6_blocks[i] = NULL; }
    void* again = fa_malloc(48);
    CHECK(again != NULL);
    fa_free(again);
}
#endif

/* =====================================================================================================
   7. fa_good_size near PTRDIFF_MAX (found by the fuzzer)
   ===================================================================================================== */
static void defect7(void) {
    harness_section("7: fa_good_size near PTRDIFF_MAX");
    static const size_t sizes[] = {(size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 1, (size_t)PTRDIFF_MAX - 4095,
                                   (size_t)PTRDIFF_MAX - 65535};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], g = fa_good_size(n);
        CHECKF(g == 0 || (g >= n && g <= (size_t)PTRDIFF_MAX), "fa_good_size(PTRDIFF_MAX - %zu) = %zu: past PTRDIFF_MAX",
               (size_t)PTRDIFF_MAX - n, g);
        if (g != 0) CHECKF(fa_good_size(g) == g, "fa_good_size(fa_good_size(PTRDIFF_MAX - %zu) = %zu) = %zu",
                           (size_t)PTRDIFF_MAX - n, g, fa_good_size(g));
    }
}

int main(void) {
#ifdef FASTALLOC_NO_OS
    defect6();   /* must come first: it needs a process without a thread heap */
#else
    skip("6 (fa_init_region after fa_heap_delete)", "only FASTALLOC_NO_OS builds");
#endif
#ifndef FASTALLOC_NO_OS
    defect1();
#else
    skip("1 (heaps of ending threads)", "FASTALLOC_NO_OS: no threads, no mappings");
#endif
    defect2a();
    defect2b();
    defect3();
    defect4();
#if defined(FASTALLOC_DEBUG) && !defined(FASTALLOC_NO_OS)
    defect5();
#else
    skip("5 (FASTALLOC_DEBUG misses misuse)", "only FASTALLOC_DEBUG builds with threads");
#endif
    defect7();
    return harness_finish();
}
