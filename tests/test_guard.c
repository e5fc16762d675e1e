/* test_guard.c — guard pages: sampled blocks (FASTALLOC_GUARD_SAMPLE, >>guard in fastalloc.h) and, in
   FASTALLOC_SECURE, the guard page after every huge block on the OS.
   A sampled block ends against an inaccessible page: a write one byte past its 16-rounded usable
   size faults, and so does a read after it is freed (it stays in the quarantine, whose size is
   bounded). Each fault is tried in a forked child, next to a control child that touches the last
   byte it may and must not fault. The rest checks that sampled blocks behave as every block does:
   usable size, calloc zeroing over reused slots, realloc keeping the bytes, frees from other
   threads, first-class heaps (visit, stats, reset, destroy), aligned requests (never sampled), fork,
   and that the rate asked for is roughly the rate seen (guard_samples in fa_stats_t).
   Built without the switch, the suite checks that nothing is sampled; without FASTALLOC_SECURE,
   that huge blocks have no guard (their slack is writable up to the page). */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

#if HARNESS_HAVE_FORK
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#if HARNESS_HAVE_THREADS
#include <pthread.h>
#endif

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

static size_t samples(void) {
    fa_stats_t st;
    fa_stats_get(&st);
    return st.guard_samples;
}
HARNESS_UNUSED static size_t mapped(void) {
    fa_stats_t st;
    fa_stats_get(&st);
    return st.mapped_bytes;
}
HARNESS_UNUSED static size_t round16(size_t n) { return n == 0 ? 16 : (n + 15) & ~(size_t)15; }

#if FA__GUARD_SAMPLING
/* Allocates from `heap` (NULL: fa_malloc) until a block is sampled; the others are freed. */
static void* sampled_malloc(fa_heap_t* heap, size_t size) {
    for (size_t i = 0; i < 64 * (size_t)FA__GUARD_RATE + 100000; i++) {
        size_t before = samples();
        void* p = heap != NULL ? fa_heap_malloc(heap, size) : fa_malloc(size);
        if (p == NULL) return NULL;
        if (samples() == before + 1) return p;
        fa_free(p);
    }
    return NULL;
}
static void* sampled_calloc(size_t size) {
    for (size_t i = 0; i < 64 * (size_t)FA__GUARD_RATE + 100000; i++) {
        size_t before = samples();
        void* p = fa_calloc(1, size);
        if (p == NULL) return NULL;
        if (samples() == before + 1) return p;
        fa_free(p);
    }
    return NULL;
}
/* A sampled block ends where an OS page ends, the guard page's start. */
static int ends_at_page(const void* p) {
    return ((uintptr_t)p + fa_usable_size(p)) % fa__os_page_size == 0;
}
#endif

/* ---- faults, in a child process -------------------------------------------------------------------- */
#if HARNESS_HAVE_FORK
static void on_fault(int sig) { _exit(sig == SIGSEGV || sig == SIGBUS ? 77 : 78); }
#if FA__ASAN
#include <sanitizer/asan_interface.h>
/* Under AddressSanitizer an access the tracker closed is reported before it can fault (a huge block
   cut from a cached mapping ends at its tail, closed like the rest of a free mapping): a catch too. */
static void on_asan_report(void) { _exit(77); }
#endif

/* Runs fn(arg) in a child: 1 when it faulted (SIGSEGV or SIGBUS) or AddressSanitizer reported it,
   0 when it ran to its end. */
static int faults(void (*fn)(void*), void* arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fault;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
#if FA__ASAN
        __asan_set_death_callback(on_asan_report);
#endif
        fn(arg);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return 1;
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS)) return 1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    return -1;
}

static volatile unsigned char sink;
typedef struct { unsigned char* p; size_t at; } touch_t;
static void write_at(void* arg) { touch_t* t = (touch_t*)arg; t->p[t->at] = 0x5a; }
HARNESS_UNUSED static void read_at(void* arg) { touch_t* t = (touch_t*)arg; sink = t->p[t->at]; }

#if FA__GUARD_SAMPLING
static void overflow_child(void* arg) {     /* a fresh sampled block in the child: one byte past */
    size_t size = *(size_t*)arg;
    unsigned char* p = (unsigned char*)sampled_malloc(NULL, size);
    if (p == NULL) _exit(3);
    p[round16(size)] = 1;
}
static void uaf_child(void* arg) {          /* a sampled block freed in the child, read after */
    size_t size = *(size_t*)arg;
    unsigned char* p = (unsigned char*)sampled_malloc(NULL, size);
    if (p == NULL) _exit(3);
    memset(p, 1, size);
    fa_free(p);
    sink = p[0];
}
/* A freed block stays in the quarantine while fewer than FA__GUARD_QUARANTINE - 1 others follow. */
static void uaf_later_child(void* arg) {
    (void)arg;
    unsigned char* p = (unsigned char*)sampled_malloc(NULL, 200);
    if (p == NULL) _exit(3);
    fa_free(p);
    for (int i = 0; i < FA__GUARD_QUARANTINE - 2; i++) {
        void* q = sampled_malloc(NULL, 200);
        if (q == NULL) _exit(3);
        fa_free(q);
    }
    p[100] = 1;
}
#endif
#endif

/* ---- sampled blocks -------------------------------------------------------------------------------- */
#if FA__GUARD_SAMPLING
static void test_faults(void) {
    harness_section("sampled: faults");
#if HARNESS_HAVE_FORK
    static const size_t sizes[] = { 0, 1, 8, 15, 16, 17, 100, 1000, 4095, 4096, 4097, 16384 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        unsigned char* p = (unsigned char*)sampled_malloc(NULL, size);
        CHECKF(p != NULL, "size %zu", size);
        if (p == NULL) continue;
        CHECK_EQ_SZ(fa_usable_size(p), round16(size));
        CHECK(ends_at_page(p));
        CHECK_ALIGNED(p, 16);
        memset(p, 0xab, fa_usable_size(p));          /* the whole usable size is the caller's */
        touch_t last = { p, round16(size) - 1 }, past = { p, round16(size) };
        CHECKF(faults(write_at, &last) == 0, "size %zu: the last usable byte", size);
        CHECKF(faults(write_at, &past) == 1, "size %zu: one byte past the usable size", size);
        CHECKF(faults(read_at, &past) == 1, "size %zu: a read one byte past", size);
        CHECKF(faults(overflow_child, &size) == 1, "size %zu: overflow in a child", size);
        CHECKF(faults(uaf_child, &size) == 1, "size %zu: use after free in a child", size);
        fa_free(p);
        touch_t freed = { p, 0 };
        CHECKF(faults(read_at, &freed) == 1, "size %zu: a read after free", size);
    }
    CHECK(faults(uaf_later_child, NULL) == 1);
#else
    harness_skip("faults", "no fork() here");
#endif
}

static void test_quarantine_bounded(void) {
    harness_section("sampled: quarantine bounded");
    size_t n = harness_scale(100000, 10);
    for (size_t i = 0; i < 2 * FA__GUARD_QUARANTINE; i++) fa_free(sampled_malloc(NULL, 64));
    size_t base = mapped(), s0 = samples();
    for (size_t i = 0; i < n; i++) {
        void* p = sampled_malloc(NULL, (i * 37) % 3000);
        if (p == NULL) { CHECK(p != NULL); break; }
        ((unsigned char*)p)[0] = 1;
        fa_free(p);
    }
    CHECK_GE_SZ(samples() - s0, n);
    size_t now = mapped();
    CHECKF(now <= base + 2 * MiB, "mapped %zu KiB before, %zu KiB after %zu samples", base / KiB, now / KiB, n);
    /* fa_collect(true) unmaps the quarantine */
    fa_collect(true);
    CHECK_LE_SZ(mapped(), now);
}

static void test_usable_calloc_realloc(void) {
    harness_section("sampled: usable size, calloc, realloc");
    /* dirty slots first, so that calloc gets reused ones */
    for (size_t i = 0; i < 2 * FA__GUARD_QUARANTINE; i++) {
        unsigned char* p = (unsigned char*)sampled_malloc(NULL, 3000);
        CHECK(p != NULL);
        if (p != NULL) { memset(p, 0xee, fa_usable_size(p)); fa_free(p); }
    }
    for (size_t size = 1; size <= 16384; size = size * 3 + 1) {
        unsigned char* z = (unsigned char*)sampled_calloc(size);
        CHECKF(z != NULL, "size %zu", size);
        if (z == NULL) continue;
        CHECK_EQ_SZ(fa_usable_size(z), round16(size));
        CHECKF(harness_first_nonzero(z, fa_usable_size(z)) == HARNESS_OK, "calloc %zu", size);
        fa_free(z);
    }
    /* realloc of a sampled block: moves, keeps every byte up to min(old, new) */
    static const size_t to[] = { 5000, 40, 16384, 100000, 3 * MiB, 17, 0 };
    for (size_t i = 0; i < sizeof to / sizeof to[0]; i++) {
        size_t from = 1000;
        unsigned char* p = (unsigned char*)sampled_malloc(NULL, from);
        CHECK(p != NULL);
        if (p == NULL) continue;
        harness_fill(p, from, 42 + i);
        unsigned char* q = (unsigned char*)fa_realloc(p, to[i]);
        CHECKF(q != NULL, "realloc %zu -> %zu", from, to[i]);
        if (q == NULL) { fa_free(p); continue; }
        CHECKF(q != p, "realloc %zu -> %zu moved", from, to[i]);
        size_t keep = from < to[i] ? from : to[i];
        CHECKF(harness_verify(q, keep, 42 + i) == HARNESS_OK, "realloc %zu -> %zu", from, to[i]);
        CHECK_GE_SZ(fa_usable_size(q), to[i]);
        fa_free(q);
    }
    /* a chain: grow and shrink by small steps, sampled or not at each step */
    unsigned char* p = (unsigned char*)sampled_malloc(NULL, 10);
    size_t size = 10;
    harness_fill(p, size, 7);
    for (size_t step = 0; step < 200 && p != NULL; step++) {
        size_t next = step < 100 ? size + 97 : size - 90;
        unsigned char* q = (unsigned char*)fa_realloc(p, next);
        CHECK(q != NULL);
        if (q == NULL) break;
        size_t keep = size < next ? size : next;
        if (harness_verify(q, keep, 7) != HARNESS_OK) { CHECKF(0, "step %zu", step); break; }
        harness_fill(q, next, 7);
        p = q;
        size = next;
    }
    fa_free(p);
    /* rezalloc: growth reads zero */
    unsigned char* z = (unsigned char*)sampled_calloc(100);
    CHECK(z != NULL);
    if (z != NULL) {
        memset(z, 3, 100);
        unsigned char* r = (unsigned char*)fa_rezalloc(z, 9000);
        CHECK(r != NULL);
        if (r != NULL) {
            CHECK(harness_first_not(r, 100, 3) == HARNESS_OK);
            CHECK(harness_first_nonzero(r + 100, fa_usable_size(r) - 100) == HARNESS_OK);
            fa_free(r);
        }
    }
}

#if HARNESS_HAVE_THREADS
#define XT_BLOCKS 64
static void* xt_blocks[XT_BLOCKS];
static void* xt_alloc(void* arg) {
    (void)arg;
    for (size_t i = 0; i < XT_BLOCKS; i++) {
        xt_blocks[i] = sampled_malloc(NULL, 48 + i);
        if (xt_blocks[i] != NULL) harness_fill(xt_blocks[i], 48 + i, i);
    }
    return NULL;
}
static void* xt_free(void* arg) {
    void** blocks = (void**)arg;
    for (size_t i = 0; i < XT_BLOCKS; i++) fa_free(blocks[i]);
    return NULL;
}
#endif

static void test_cross_thread(void) {
    harness_section("sampled: cross-thread free");
#if HARNESS_HAVE_THREADS
    pthread_t t;
    CHECK(pthread_create(&t, NULL, xt_alloc, NULL) == 0);
    pthread_join(t, NULL);                      /* the thread is gone: its blocks are nobody's */
    size_t ok = 0;
    for (size_t i = 0; i < XT_BLOCKS; i++)
        ok += xt_blocks[i] != NULL && harness_verify(xt_blocks[i], 48 + i, i) == HARNESS_OK && ends_at_page(xt_blocks[i]);
    CHECK_EQ_SZ(ok, XT_BLOCKS);
    for (size_t i = 0; i < XT_BLOCKS; i++) fa_free(xt_blocks[i]);
    /* blocks of this thread freed by another one while this thread lives */
    static void* mine[XT_BLOCKS];
    for (size_t i = 0; i < XT_BLOCKS; i++) mine[i] = sampled_malloc(NULL, 300);
    CHECK(pthread_create(&t, NULL, xt_free, mine) == 0);
    pthread_join(t, NULL);
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(NULL, &st));
    size_t seen = 0;
    for (size_t i = 0; i < XT_BLOCKS; i++) seen += fa_usable_size(mine[i]) != 0;
    CHECK_EQ_SZ(seen, 0);                       /* freed: the page map no longer knows them */
#else
    harness_skip("cross-thread free", "no threads here");
#endif
}

static size_t visit_count, visit_bytes;
static bool count_visit(void* block, size_t usable, void* arg) {
    (void)block; (void)arg;
    visit_count++;
    visit_bytes += usable;
    return true;
}

static void test_heaps(void) {
    harness_section("sampled: first-class heaps");
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    void* blocks[20];
    size_t bytes = 0;
    for (size_t i = 0; i < 20; i++) {
        blocks[i] = sampled_malloc(h, 100 * i);
        CHECK(blocks[i] != NULL);
        bytes += fa_usable_size(blocks[i]);
    }
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK_GE_SZ(st.live_blocks, 20);
    CHECK_EQ_SZ(st.huge_blocks, 0);            /* sampled blocks are small ones to the caller */
    visit_count = visit_bytes = 0;
    CHECK(fa_heap_visit(h, count_visit, NULL));
    CHECK_EQ_SZ(visit_count, st.live_blocks);
    CHECK_EQ_SZ(visit_bytes, st.live_bytes);
    CHECK_GE_SZ(visit_bytes, bytes);
    fa_heap_reset(h);
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.live_blocks, 0);
    CHECK_EQ_SZ(fa_usable_size(blocks[3]), 0);
#if HARNESS_HAVE_FORK
    touch_t after_reset = { (unsigned char*)blocks[19], 0 };
    CHECK(faults(read_at, &after_reset) == 1);  /* a reset frees them into the quarantine too */
#endif
    for (size_t i = 0; i < 20; i++) blocks[i] = sampled_malloc(h, 50);
    fa_heap_destroy(h);
    CHECK_EQ_SZ(fa_usable_size(blocks[0]), 0);

    /* the thread heap lists its sampled blocks as well */
    harness_section("sampled: thread heap");
    void* p = sampled_malloc(NULL, 500);
    visit_count = visit_bytes = 0;
    CHECK(fa_heap_visit(NULL, count_visit, NULL));
    CHECK(fa_heap_stats(NULL, &st));
    CHECK_EQ_SZ(visit_count, st.live_blocks);
    CHECK_GE_SZ(st.live_blocks, 1);
    CHECK_EQ_SZ(st.huge_blocks, 0);
    fa_free(p);
}

static void test_aligned(void) {
    harness_section("sampled: aligned requests are not");
    size_t before = samples();
    for (size_t i = 0; i < 1000; i++) {
        size_t align = (size_t)32 << (i % 8);
        void* p = fa_malloc_aligned(1 + i * 7, align);
        CHECK_ALIGNED(p, align);
        fa_free(p);
    }
    CHECK_EQ_SZ(samples(), before);
    void* p = fa_malloc_aligned(100, 16);      /* 16 is every block's: may be sampled */
    CHECK_ALIGNED(p, 16);
    fa_free(p);
}

static void test_rate(void) {
    harness_section("sampled: rate");
    size_t n = harness_scale(FA__GUARD_RATE < 16 ? 100000 : 1000000, 4);   /* a sample costs system calls */
    void* keep[256] = { 0 };
    uint64_t rng = 99;
    size_t before = samples();
    for (size_t i = 0; i < n; i++) {
        size_t slot = harness_rand(&rng) % 256;
        fa_free(keep[slot]);
        keep[slot] = fa_malloc(8 + harness_rand(&rng) % 2000);
    }
    for (size_t i = 0; i < 256; i++) fa_free(keep[i]);
    size_t got = samples() - before;
    double per = got == 0 ? 1e30 : (double)n / (double)got;
    printf("    rate %lld: %zu samples in %zu allocations (1 in %.1f)\n", (long long)FA__GUARD_RATE, got, n, per);
    CHECKF(per >= (double)FA__GUARD_RATE / 2 && per <= (double)FA__GUARD_RATE * 2, "1 in %.1f for a rate of %lld", per,
           (long long)FA__GUARD_RATE);
}

#if HARNESS_HAVE_FORK
static void test_fork(void) {
    harness_section("sampled: fork");
    void* p = sampled_malloc(NULL, 777);
    harness_fill(p, 777, 5);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = harness_verify(p, 777, 5) != HARNESS_OK;
        fa_free(p);
        for (int i = 0; i < 100; i++) fa_free(sampled_malloc(NULL, 100 + i));
        _exit(bad);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(harness_verify(p, 777, 5) == HARNESS_OK);
    fa_free(p);
}
#endif
#endif /* FA__GUARD_SAMPLING */

/* ---- huge blocks: a guard page in FASTALLOC_SECURE -------------------------------------------------- */
static void test_huge(void) {
    harness_section("huge blocks: guard page");
    static const size_t sizes[] = { 5 * MiB, 5 * MiB + 100, 3 * MiB + 1, 40 * MiB + 3 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char* p = (unsigned char*)fa_malloc(sizes[i]);
        CHECK(p != NULL);
        if (p == NULL) continue;
        size_t usable = fa_usable_size(p);
        CHECK_GE_SZ(usable, sizes[i]);
        p[usable - 1] = 1;
#if HARNESS_HAVE_FORK && !HARNESS_IN_REGION
        touch_t last = { p, usable - 1 }, past = { p, usable };
        CHECK(faults(write_at, &last) == 0);
        /* past the usable end: the guard page in FASTALLOC_SECURE; otherwise it may be anything
           (the next mapping), so only the secure build's answer is certain */
        if (FA__HUGE_GUARD) CHECKF(faults(write_at, &past) == 1, "huge %zu: one byte past", sizes[i]);
#endif
        /* realloc of a guarded block: grows by moving, shrinks in place; the bytes stay */
        harness_fill(p, 4096, i);
        unsigned char* q = (unsigned char*)fa_realloc(p, usable * 2);
        CHECK(q != NULL);
        if (q == NULL) { fa_free(p); continue; }
        CHECK(harness_verify(q, 4096, i) == HARNESS_OK);
#if HARNESS_HAVE_FORK && !HARNESS_IN_REGION
        touch_t past2 = { q, fa_usable_size(q) };
        if (FA__HUGE_GUARD) CHECK(faults(write_at, &past2) == 1);
#endif
        q = (unsigned char*)fa_realloc(q, sizes[i] / 3);
        CHECK(q != NULL && harness_verify(q, 4096, i) == HARNESS_OK);
#if HARNESS_HAVE_FORK && !HARNESS_IN_REGION
        touch_t past3 = { q, fa_usable_size(q) };   /* a shrink may leave the huge tier */
        if (FA__HUGE_GUARD && fa_usable_size(q) > FA__LARGE_MAX) CHECK(faults(write_at, &past3) == 1);
#endif
        fa_free(q);
    }
    /* the huge cache hands guarded mappings back out with their guard */
    for (int round = 0; round < 3; round++) {
        unsigned char* p = (unsigned char*)fa_malloc(6 * MiB);
        CHECK(p != NULL);
        if (p == NULL) break;
#if HARNESS_HAVE_FORK && !HARNESS_IN_REGION
        touch_t past = { p, fa_usable_size(p) };
        if (FA__HUGE_GUARD) CHECK(faults(write_at, &past) == 1);
#endif
        fa_free(p);
    }
    if (!FA__HUGE_GUARD) harness_skip("faults past huge blocks", "only FASTALLOC_SECURE builds on an OS put a guard page there");
}

int main(void) {
#if FA__GUARD_SAMPLING
    printf("FASTALLOC_GUARD_SAMPLE rate %lld\n", (long long)FA__GUARD_RATE);
    test_faults();
    test_usable_calloc_realloc();
    test_heaps();
    test_aligned();
    test_cross_thread();
#if HARNESS_HAVE_FORK
    test_fork();
#endif
    test_quarantine_bounded();
    test_rate();
#else
    harness_section("no sampling without FASTALLOC_GUARD_SAMPLE");
    for (size_t i = 0; i < 100000; i++) fa_free(fa_malloc(i % 5000));
    CHECK_EQ_SZ(samples(), 0);
    harness_skip("sampled blocks", "built without FASTALLOC_GUARD_SAMPLE");
#endif
    test_huge();
    return harness_finish();
}
