#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_heap.c — first-class heaps: fa_heap_new, the fa_heap_* allocation calls, destroy (every block
   at once, memory returned), reset (every block at once, pages kept), delete (blocks stay valid and
   join the thread heap), the thread rule (one owner; any thread frees), thread exit with live heaps,
   and the two patterns engines use: a heap reset every frame, and tiered pre-allocation (a region
   budget per task, picked by an estimate, escalated when the estimate was short). In region builds
   (FASTALLOC_NO_OS) the heaps draw from the default region instead of the OS. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if !defined(FASTALLOC_SINGLE_THREAD)
#include <pthread.h>
#include <sched.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#ifndef HEAP_TEST_BLOCKS   /* blocks per heap in the destroy test; the board (tests/embedded) has 16 MiB */
#define HEAP_TEST_BLOCKS 6000
#endif

/* Sizes across every tier: small, medium, large (one in ten up to the tier's top) and, unless
   pages_only, a few huge ones (above half a segment). */
static size_t tier_size(uint64_t* rng, bool pages_only) {
    uint64_t x = harness_rand(rng), pick = x % 1000;
    x >>= 10;
    if (pick < 700) return 1 + x % 512;
    if (pick < 900) return 513 + x % (16 * KiB);
    if (pick < 990) return 16 * KiB + x % (FA__LARGE_MAX / 8);
    if (pick < 997 || pages_only) return FA__LARGE_MAX / 2 + x % (FA__LARGE_MAX / 2);
    return FA__LARGE_MAX + 1 + x % FA__SEGMENT_SIZE;
}

typedef struct {
    unsigned char* p;
    size_t n;
    uint64_t seed;
} blk_t;

static void fill(blk_t* b) { harness_fill_upto(b->p, b->n, b->seed, 64 * KiB); }
static bool intact(const blk_t* b) { return harness_verify_upto(b->p, b->n, b->n, b->seed, 64 * KiB) == HARNESS_OK; }

/* Allocates `count` blocks of tier sizes from `heap`; returns how many came back NULL. */
static size_t alloc_sizes(fa_heap_t* heap, blk_t* v, size_t count, uint64_t seed, bool pages_only) {
    uint64_t rng = seed;
    size_t nulls = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = tier_size(&rng, pages_only);
        v[i].p = (unsigned char*)fa_heap_malloc(heap, n);
        v[i].n = n;
        v[i].seed = harness_rand(&rng);
        if (v[i].p) fill(&v[i]); else nulls++;
    }
    return nulls;
}

static size_t alloc_mix(fa_heap_t* heap, blk_t* v, size_t count, uint64_t seed) {
    return alloc_sizes(heap, v, count, seed, false);
}

static size_t count_broken(const blk_t* v, size_t count) {
    size_t bad = 0;
    for (size_t i = 0; i < count; i++)
        if (v[i].p && !intact(&v[i])) bad++;
    return bad;
}

static fa_stats_t snap(void) { fa_stats_t s; fa_stats_get(&s); return s; }
#ifdef FASTALLOC_NO_OS
#define HELD(s) ((s).region_bytes)
#else
#define HELD(s) ((s).mapped_bytes)
#endif

static void test_api(void) {
    harness_section("heap API");
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    if (!h) return;
    char* a = (char*)fa_heap_malloc(h, 100);
    char* z = (char*)fa_heap_zalloc(h, 5000);
    char* c = (char*)fa_heap_calloc(h, 1000, 30);
    char* al = (char*)fa_heap_malloc_aligned(h, 300, 4096);
    CHECK(a && z && c && al);
    if (!(a && z && c && al)) return;
    CHECK(harness_first_nonzero(z, 5000) == HARNESS_OK);
    CHECK(harness_first_nonzero(c, 30000) == HARNESS_OK);
    CHECK_ALIGNED(al, 4096);
    CHECK_GE_SZ(fa_heap_usable_size(h, a), 100);
    CHECK_EQ_SZ(fa_heap_usable_size(h, a), fa_usable_size(a));
    CHECK_EQ_SZ(fa_heap_usable_size(h, NULL), 0);
    harness_fill(a, 100, 1);
    char* a2 = (char*)fa_heap_realloc(h, a, 200000);
    CHECK(a2 != NULL);
    if (a2) { CHECK(harness_verify(a2, 100, 1) == HARNESS_OK); a = a2; }
    char* fresh = (char*)fa_heap_realloc(h, NULL, 50);   /* realloc(NULL) is malloc from the heap */
    CHECK(fresh != NULL);
    fa_free(fresh);
    errno = 0;
    void* big = fa_heap_calloc(h, SIZE_MAX / 2, 3);
    CHECK_NULL_ERRNO(big, ENOMEM);
    errno = 0;
    void* bad_al = fa_heap_malloc_aligned(h, 10, 48);
    CHECK_NULL_ERRNO(bad_al, EINVAL);
    /* a missing heap is an error, not a crash */
    void* p;
    errno = 0; p = fa_heap_malloc(NULL, 10);             CHECK_NULL_ERRNO(p, EINVAL);
    errno = 0; p = fa_heap_zalloc(NULL, 10);             CHECK_NULL_ERRNO(p, EINVAL);
    errno = 0; p = fa_heap_calloc(NULL, 1, 10);          CHECK_NULL_ERRNO(p, EINVAL);
    errno = 0; p = fa_heap_realloc(NULL, NULL, 10);      CHECK_NULL_ERRNO(p, EINVAL);
    errno = 0; p = fa_heap_malloc_aligned(NULL, 10, 64); CHECK_NULL_ERRNO(p, EINVAL);
    fa_heap_destroy(NULL);
    fa_heap_reset(NULL);
    fa_heap_delete(NULL);
    fa_heap_collect(NULL);
    /* blocks of a heap are freed by fa_free like any other */
    fa_free(a); fa_free(z); fa_free(c); fa_free(al);
    fa_heap_destroy(h);
}

/* Destroy with thousands of live blocks in every tier: the memory goes back, all of it. */
static void test_destroy(void) {
    harness_section("destroy");
    enum { N = HEAP_TEST_BLOCKS };
    blk_t* v = (blk_t*)calloc(N, sizeof(blk_t));
    fa_stats_t before = snap();
    for (int round = 0; round < 3; round++) {
        fa_heap_t* h = fa_heap_new();
        CHECK(h != NULL);
        if (!h) break;
        size_t nulls = alloc_mix(h, v, N, 100 + (uint64_t)round);
        CHECK_EQ_SZ(nulls, 0);
        CHECK_EQ_SZ(count_broken(v, N), 0);
        fa_stats_t full = snap();
        CHECKF(HELD(full) > HELD(before) + MiB, "round %d: %zu -> %zu bytes held", round, HELD(before), HELD(full));
        fa_heap_destroy(h);
        fa_stats_t after = snap();
        /* what stays is at most the thread heap's spare segment, the page the heap struct used and
           the pool of empty segments kept for the next heap (FA__POOL_SEGMENTS) */
        CHECKF(HELD(after) <= HELD(before) + (2 + FA__POOL_SEGMENTS) * FA__SEGMENT_SIZE,
               "round %d: destroy left %zu bytes held (before %zu)", round, HELD(after), HELD(before));
        /* the next heap takes its memory from that pool: nothing new is mapped */
        fa_heap_t* next = fa_heap_new();
        void* p = fa_heap_malloc(next, 100);
        fa_stats_t reuse = snap();
        CHECK(p != NULL);
        CHECKF(reuse.os_map_calls == after.os_map_calls, "round %d: a heap after a destroy mapped %zu times", round,
               reuse.os_map_calls - after.os_map_calls);
        fa_heap_destroy(next);
        /* fa_collect(true) returns even the pool */
        fa_collect(true);
        fa_stats_t collected = snap();
        CHECKF(HELD(collected) <= HELD(before) + 2 * FA__SEGMENT_SIZE, "round %d: %zu bytes held after collect (before %zu)",
               round, HELD(collected), HELD(before));
        CHECKF(collected.segments_live <= before.segments_live + 2, "round %d: %zu segments live, %zu before", round,
               collected.segments_live, before.segments_live);
    }
    free(v);
}

/* Reset: every block gone, every page kept; the same work next time needs no new memory. */
static void test_reset_frames(void) {
    harness_section("frame loop");
    enum { N = HEAP_TEST_BLOCKS / 2, FRAMES = 40 };
    blk_t* v = (blk_t*)calloc(N, sizeof(blk_t));
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    if (!h) { free(v); return; }
    size_t nulls = 0, broken = 0, grew = 0;
    fa_stats_t second = snap();
    for (int frame = 0; frame < FRAMES; frame++) {
        /* frame f repeats the mix of frame f % 4, so after four frames the heap has seen them all;
           two huge blocks a frame, which reset releases */
        nulls += alloc_sizes(h, v, N - 2, 1000 + (uint64_t)(frame % 4), true);
        for (size_t k = N - 2; k < N; k++) {
            v[k].n = FA__LARGE_MAX + 1 + k;
            v[k].p = (unsigned char*)fa_heap_malloc(h, v[k].n);
            v[k].seed = k;
            if (v[k].p) fill(&v[k]); else nulls++;
        }
        broken += count_broken(v, N);
        fa_heap_reset(h);
        fa_stats_t now = snap();
        if (frame == 3) second = now;
        if (frame > 3 && (now.segments_live > second.segments_live || HELD(now) > HELD(second))) grew++;
    }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(broken, 0);
    CHECKF(grew == 0, "the heap took new memory in %zu of %d repeated frames", grew, FRAMES - 4);
#ifdef FASTALLOC_STATS
    /* pages are kept across resets, not acquired again */
    fa_stats_t a = snap();
    nulls = alloc_sizes(h, v, N, 1000, true);
    fa_heap_reset(h);
    fa_stats_t b = snap();
    CHECK_EQ_SZ(nulls, 0);
    CHECKF(b.pages_acquired == a.pages_acquired, "a repeated frame acquired %zu pages", b.pages_acquired - a.pages_acquired);
#endif
    /* zeroing after a reset: recycled pages are dirty and must be cleared */
    size_t not_zero = 0;
    for (size_t i = 0; i < 2000; i++) {
        size_t n = 1 + (i * 37) % 3000;
        unsigned char* p = (unsigned char*)fa_heap_zalloc(h, n);
        if (!p || harness_first_nonzero(p, n) != HARNESS_OK) not_zero++;
    }
    CHECK_EQ_SZ(not_zero, 0);
    /* fa_heap_collect gives back the pages the last frame did not use */
    fa_heap_reset(h);
    fa_stats_t kept = snap();
    fa_heap_collect(h);
    fa_collect(true);
    fa_stats_t collected = snap();
    CHECKF(collected.segments_live < kept.segments_live || HELD(collected) < HELD(kept),
           "fa_heap_collect after reset kept everything (%zu segments, %zu bytes)", kept.segments_live, HELD(kept));
    fa_heap_destroy(h);
    free(v);
}

/* Delete: the heap goes, its blocks stay and belong to the thread heap from now on. */
static void test_delete(void) {
    harness_section("delete");
    enum { N = HEAP_TEST_BLOCKS / 2 };
    blk_t* v = (blk_t*)calloc(N, sizeof(blk_t));
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    if (!h) { free(v); return; }
    CHECK_EQ_SZ(alloc_mix(h, v, N, 77), 0);
    for (size_t i = 0; i < N; i += 3) { fa_free(v[i].p); v[i].p = NULL; }
    size_t usable_before = 0;
    for (size_t i = 0; i < N; i++) if (v[i].p) usable_before += fa_usable_size(v[i].p);
    fa_heap_delete(h);
    CHECK_EQ_SZ(count_broken(v, N), 0);
    size_t usable_after = 0;
    for (size_t i = 0; i < N; i++) if (v[i].p) usable_after += fa_usable_size(v[i].p);
    CHECK_EQ_SZ(usable_after, usable_before);
    /* they can be written, grown and freed as the thread heap's own */
    size_t bad = 0;
    for (size_t i = 1; i < N; i += 3) {
        if (!v[i].p) continue;
        unsigned char* q = (unsigned char*)fa_realloc(v[i].p, v[i].n + 100);
        if (!q) { bad++; continue; }
        v[i].p = q;
        if (!intact(&v[i])) bad++;
        v[i].n += 100;
        fill(&v[i]);
    }
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(count_broken(v, N), 0);
    for (size_t i = 0; i < N; i++) fa_free(v[i].p);
    free(v);
}

#if !defined(FASTALLOC_SINGLE_THREAD)
typedef struct {
    blk_t* v;
    size_t from, to;
} span_t;

static void* free_span(void* arg) {
    span_t* s = (span_t*)arg;
    for (size_t i = s->from; i < s->to; i++) { fa_free(s->v[i].p); s->v[i].p = NULL; }
    return NULL;
}

/* Allocates `count` blocks of `size` bytes from `heap`, each written once; returns how many came back NULL. */
static size_t alloc_fixed(fa_heap_t* heap, blk_t* v, size_t count, size_t size) {
    size_t nulls = 0;
    for (size_t i = 0; i < count; i++) {
        v[i].p = (unsigned char*)fa_heap_malloc(heap, size);
        if (v[i].p) v[i].p[0] = 1; else nulls++;
    }
    return nulls;
}

/* Pages that other threads empty go back to their segments before the owner maps more: the first
   free into a full page tells the heap (delayed free), which notes the page when the frees that
   follow it into the page's own list empty it, and takes such pages in before it maps a segment.
   Here 32 MiB of medium blocks, freed by another thread, must serve 32 MiB of large blocks. */
static void test_foreign_emptied_pages(void) {
    harness_section("pages other threads empty serve other sizes");
    enum { SMALL_BYTES = 8 * 1024, TOTAL = 32 << 20 };
    size_t n_small = TOTAL / SMALL_BYTES, big = FA__LARGE_MAX / 2, n_big = TOTAL / big;
    blk_t* v = (blk_t*)calloc(n_small, sizeof(blk_t));
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL && v != NULL);
    if (!h || !v) { free(v); return; }
    CHECK_EQ_SZ(alloc_fixed(h, v, n_small, SMALL_BYTES), 0);
    span_t all = {v, 0, n_small};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_span, &all) == 0);
    pthread_join(t, NULL);
    fa_stats_t a = snap();
    CHECK_EQ_SZ(alloc_fixed(h, v, n_big, big), 0);
    fa_stats_t b = snap();
    CHECKF(HELD(b) <= HELD(a) + 2 * FA__SEGMENT_SIZE, "large blocks over pages emptied by another thread: %zu -> %zu bytes held",
           HELD(a), HELD(b));
    fa_heap_destroy(h);
    free(v);
}

/* The thread rule: only the owner allocates, any thread frees, even while the owner works. */
static void test_foreign_frees(void) {
    harness_section("frees from other threads");
    enum { N = 8000 };
    blk_t* v = (blk_t*)calloc(N, sizeof(blk_t));
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    if (!h) { free(v); return; }
    CHECK_EQ_SZ(alloc_mix(h, v, N, 9), 0);
    span_t s1 = {v, 0, N / 2}, s2 = {v, N / 2, N};
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, free_span, &s1) == 0);
    CHECK(pthread_create(&t2, NULL, free_span, &s2) == 0);
    blk_t* w = (blk_t*)calloc(N, sizeof(blk_t));
    size_t nulls = alloc_mix(h, w, N, 10);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(count_broken(w, N), 0);
    /* the freed memory is the heap's again: the same page-tier mix again needs little more */
    for (size_t i = 0; i < N; i++) fa_free(w[i].p);
    CHECK_EQ_SZ(alloc_sizes(h, w, N, 11, true), 0);
    span_t s3 = {w, 0, N};
    CHECK(pthread_create(&t1, NULL, free_span, &s3) == 0);
    pthread_join(t1, NULL);
    fa_stats_t a = snap();
    CHECK_EQ_SZ(alloc_sizes(h, w, N, 11, true), 0);
    fa_stats_t b = snap();
    CHECKF(HELD(b) <= HELD(a) + 4 * FA__SEGMENT_SIZE, "reusing frees from other threads: %zu -> %zu bytes",
           HELD(a), HELD(b));
    fa_heap_destroy(h);
    free(v);
    free(w);
}

typedef struct {
    blk_t v[600];
    size_t count;
} orphan_t;

/* A thread makes heaps (one in a region) and exits without destroying them. */
static unsigned char g_orphan_region[4 * FA__SEGMENT_SIZE];
static void* make_heaps_and_exit(void* arg) {
    orphan_t* o = (orphan_t*)arg;
    fa_heap_t* hs[3] = {fa_heap_new(), fa_heap_new(), fa_heap_new_in_region(g_orphan_region + 3, sizeof g_orphan_region - 3)};
    uint64_t rng = 5;
    o->count = 0;
    for (size_t i = 0; i < 600; i++) {
        fa_heap_t* h = hs[i % 3];
        if (!h) continue;
        size_t n = 1 + (size_t)(harness_rand(&rng) % (i % 3 == 2 ? 4 * KiB : 70 * KiB));
        blk_t* b = &o->v[o->count];
        b->p = (unsigned char*)fa_heap_malloc(h, n);
        if (!b->p) continue;
        b->n = n;
        b->seed = harness_rand(&rng);
        fill(b);
        o->count++;
    }
    return NULL;   /* heaps are deleted at exit: their blocks live on */
}

static void test_thread_exit(void) {
    harness_section("thread exit with live heaps");
    orphan_t* o = (orphan_t*)calloc(1, sizeof(orphan_t));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, make_heaps_and_exit, o) == 0);
    pthread_join(t, NULL);
    CHECK_EQ_SZ(o->count, 600);
    CHECK_EQ_SZ(count_broken(o->v, o->count), 0);
    fa_stats_t a = snap();
    for (size_t i = 0; i < o->count; i++) fa_free(o->v[i].p);
    fa_collect(true);   /* adopts what the thread left and gives it back */
    fa_stats_t b = snap();
    CHECKF(b.segments_abandoned == 0, "%zu segments still abandoned", b.segments_abandoned);
    CHECKF(HELD(b) <= HELD(a), "bytes held %zu -> %zu after freeing an exited thread's blocks", HELD(a), HELD(b));
    free(o);
}
#endif

#if !defined(FASTALLOC_SINGLE_THREAD)
/* A thread exits with live blocks: its segments wait for a thread heap to adopt them. A first-class
   heap must never take them (resetting or destroying it would wipe the dead thread's blocks), nor a
   region heap (its blocks would lie outside its region). */
static unsigned char* g_survivors[64];
static void* leave_live_blocks(void* arg) {
    (void)arg;
    for (int i = 0; i < 64; i++) {
        g_survivors[i] = (unsigned char*)fa_malloc(48);
        if (g_survivors[i]) memset(g_survivors[i], 'A', 48);
    }
    return NULL;
}
static unsigned char g_adopt_region[3 * FA__SEGMENT_SIZE];
static void test_no_adoption(void) {
    harness_section("first-class heaps do not adopt abandoned segments");
    for (int mode = 0; mode < 3; mode++) {
        fa_collect(true);   /* nothing abandoned is left from before */
        /* the heap exists before the thread ends, so its first page is what it looks for after */
        fa_heap_t* h = mode < 2 ? fa_heap_new() : fa_heap_new_in_region(g_adopt_region + 7, sizeof g_adopt_region - 7);
        CHECK(h != NULL);
        if (!h) continue;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, leave_live_blocks, NULL) == 0);
        pthread_join(t, NULL);
        size_t outside = 0;
        for (int i = 0; i < 200; i++) {
            unsigned char* q = (unsigned char*)fa_heap_malloc(h, 48);
            if (!q) continue;
            memset(q, 'B', 48);
            if (mode == 2 && (q < g_adopt_region || q >= g_adopt_region + sizeof g_adopt_region)) outside++;
        }
        if (mode == 0) {   /* reset, then reuse every page it kept */
            fa_heap_reset(h);
            for (int i = 0; i < 200; i++) { unsigned char* q = (unsigned char*)fa_heap_malloc(h, 48); if (q) memset(q, 'C', 48); }
        }
        fa_heap_destroy(h);
        fa_heap_t* h2 = fa_heap_new();   /* takes the pool a destroy filled */
        for (int i = 0; i < 200; i++) { unsigned char* q = (unsigned char*)fa_heap_malloc(h2, 48); if (q) memset(q, 'D', 48); }
        size_t bad = 0;
        for (int i = 0; i < 64; i++)
            if (!g_survivors[i] || harness_first_not(g_survivors[i], 48, 'A') != HARNESS_OK) bad++;
        CHECKF(bad == 0, "mode %d: %zu of 64 blocks of an exited thread overwritten", mode, bad);
        CHECK_EQ_SZ(outside, 0);
        fa_heap_destroy(h2);
        for (int i = 0; i < 64; i++) fa_free(g_survivors[i]);
    }
}
#endif

#if !defined(FASTALLOC_SINGLE_THREAD)
/* Another thread may realloc a heap's huge block (it is a block like any other) while the owner
   deletes the heap: the move must not put the block back on the list of a heap that is gone. */
typedef struct { void* p; int stop; size_t moves; } mover_t;
static void* keep_resizing(void* arg) {
    mover_t* m = (mover_t*)arg;
    for (size_t i = 0; !__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE) || i < 4; i++) {
        void* q = fa_realloc(m->p, (i & 1) ? 40 * FA__SEGMENT_SIZE / 4 : 8 * FA__SEGMENT_SIZE / 4);
        if (q) { m->p = q; __atomic_add_fetch(&m->moves, 1, __ATOMIC_RELEASE); }
    }
    return NULL;
}
static void test_remote_realloc_vs_delete(void) {
    harness_section("remote realloc of a huge block while its heap is deleted");
    size_t stale = 0, bad = 0;
    for (int round = 0; round < 40; round++) {
        fa_heap_t* h = fa_heap_new();
        CHECK(h != NULL);
        if (!h) return;
        mover_t m = {fa_heap_malloc(h, 2 * FA__SEGMENT_SIZE), 0, 0};
        if (!m.p) { bad++; fa_heap_destroy(h); continue; }
        memset(m.p, 7, 64);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, keep_resizing, &m) == 0);
        while (__atomic_load_n(&m.moves, __ATOMIC_ACQUIRE) < 1 + (size_t)(round % 3)) sched_yield();   /* mid-resize */
        fa_heap_delete(h);
        __atomic_store_n(&m.stop, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
        /* the heap is gone: its former huge block belongs to nobody now */
        if (fa__ptr_segment(m.p)->heap != NULL) stale++;
        if (harness_first_not(m.p, 64, 7) != HARNESS_OK) bad++;
        fa_free(m.p);
    }
    CHECKF(stale == 0, "%zu of 40 huge blocks still listed on a deleted heap", stale);
    CHECK_EQ_SZ(bad, 0);
}
#endif

/* Tiered pre-allocation: three budgets carved once (64 KiB, 1 MiB, 16 MiB), at odd addresses with
   or without an OS; each task gets the smallest budget its estimate fits, allocates only inside it,
   escalates when it runs out, and releases the budget whole at its end. */
#if defined(FA_TEST_BARE_METAL)
static const size_t tier_bytes[] = {64 * KiB, 256 * KiB, 2 * MiB};
#else
static const size_t tier_bytes[] = {64 * KiB, MiB, 16 * MiB};
#endif
static unsigned char* g_tiers[3];

typedef struct {
    unsigned percent, work_tier;   /* the real work: this share of that tier's bytes     */
    size_t estimate_tier;          /* the tier the scheduler's estimate points at        */
    size_t block_max;              /* blocks of 1..block_max bytes                       */
} task_t;

/* Runs a task in tier t; returns whether it fit. Checks its blocks lie inside the tier. */
static bool run_task(const task_t* task, size_t t, size_t* outside, size_t* broken, size_t* wrong_errno) {
    fa_heap_t* h = fa_heap_new_in_region(g_tiers[t], tier_bytes[t]);
    if (!h) return false;
    size_t work = tier_bytes[task->work_tier] / 100 * task->percent, done = 0, count = 0;
    size_t cap = 2 * work / task->block_max + 16;
    blk_t* v = (blk_t*)calloc(cap, sizeof(blk_t));
    uint64_t rng = work + task->block_max;
    bool fit = true;
    while (done < work && count < cap) {
        size_t n = 1 + (size_t)(harness_rand(&rng) % task->block_max);
        errno = 0;
        unsigned char* p = (unsigned char*)fa_heap_malloc(h, n);
        if (!p) { if (errno != ENOMEM) (*wrong_errno)++; fit = false; break; }
        if (p < g_tiers[t] || (size_t)(p - g_tiers[t]) > tier_bytes[t] - n) (*outside)++;
        v[count].p = p; v[count].n = n; v[count].seed = harness_rand(&rng);
        fill(&v[count++]);
        done += n;
    }
    if (fit) *broken += count_broken(v, count);
    free(v);
    fa_heap_destroy(h);   /* one call, whatever the task left live */
    return fit;
}

static void test_tiered(void) {
    harness_section("tiered pre-allocation");
    for (size_t t = 0; t < 3; t++) {
        g_tiers[t] = (unsigned char*)fa_malloc(tier_bytes[t] + 1);
        if (g_tiers[t]) g_tiers[t] += 1;   /* no alignment is needed: prove it */
        CHECK(g_tiers[t] != NULL);
        if (!g_tiers[t]) return;
    }
    const task_t tasks[] = {
        {30, 0, 0, 128}, {40, 1, 1, 4096}, {50, 2, 2, 4096}, {20, 0, 0, 64},   /* estimates right */
        {40, 1, 0, 4096}, {50, 2, 1, 4096},   /* estimates a tier too low: each must escalate once */
    };
    fa_stats_t a = snap();
    size_t outside = 0, broken = 0, wrong_errno = 0, escalations = 0, unfinished = 0;
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < ARRAY_LEN(tasks); i++) {
            bool done = false;
            for (size_t t = tasks[i].estimate_tier; t < 3 && !done; t++) {
                done = run_task(&tasks[i], t, &outside, &broken, &wrong_errno);
                if (!done) escalations++;
                if (!done && getenv("FA_TEST_VERBOSE")) fprintf(stderr, "task %zu failed in tier %zu\n", i, t);
            }
            if (!done) unfinished++;
        }
    fa_stats_t b = snap();
    CHECK_EQ_SZ(unfinished, 0);
    CHECK_EQ_SZ(outside, 0);
    CHECK_EQ_SZ(broken, 0);
    CHECK_EQ_SZ(wrong_errno, 0);
    CHECK_EQ_SZ(escalations, 2 * 3);
    /* all that work ran inside the budgets: the allocator took no memory of its own (it may give
       some back meanwhile: with FASTALLOC_OVERRIDE the C library's frees reach it too) */
    CHECKF(HELD(b) <= HELD(a) && b.os_map_calls == a.os_map_calls, "tasks took memory: %zu -> %zu bytes, %zu -> %zu maps",
           HELD(a), HELD(b), a.os_map_calls, b.os_map_calls);
    for (size_t t = 0; t < 3; t++) {
        fa_free(g_tiers[t] - 1);
    }
}

int main(void) {
    fa_free(fa_malloc(1));
    test_api();
    test_destroy();
    test_reset_frames();
    test_delete();
#if !defined(FASTALLOC_SINGLE_THREAD)
    test_foreign_frees();
    test_foreign_emptied_pages();
    test_thread_exit();
    test_no_adoption();
    test_remote_realloc_vs_delete();
#endif
    test_tiered();
    return harness_finish();
}
