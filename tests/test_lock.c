/* test_lock.c — the RTOS build: FASTALLOC_LOCK/FASTALLOC_UNLOCK defined, so fastalloc runs as one
   thread of control (no TLS, no atomics) and the hooks make tasks take turns on one shared heap.
   Every public function must take the hook exactly once and never inside another take; tasks (here
   threads, under a mutex) may then allocate and free each other's blocks. Under ThreadSanitizer any
   access outside the hooks is a reported race. */
#if !defined(FA_TEST_BARE_METAL)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE         /* PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP */
#endif
#include <pthread.h>
static pthread_mutex_t g_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;   /* a nested take is seen, not a deadlock */
#define TAKE() pthread_mutex_lock(&g_mutex)
#define GIVE() pthread_mutex_unlock(&g_mutex)
#else
#define TAKE() ((void)0)     /* on the board: one task, the hook only counts */
#define GIVE() ((void)0)
#endif
static unsigned long g_takes, g_gives;
static int g_depth, g_max_depth;
static void lock_hook(void) {
    TAKE();
    if (++g_depth > g_max_depth) g_max_depth = g_depth;
    g_takes++;
}
static void unlock_hook(void) {
    g_gives++;
    g_depth--;
    GIVE();
}
#define FASTALLOC_LOCK() lock_hook()
#define FASTALLOC_UNLOCK() unlock_hook()
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(FASTALLOC_SINGLE_THREAD)
#error "FASTALLOC_LOCK must imply FASTALLOC_SINGLE_THREAD"
#endif

#define KiB ((size_t)1 << 10)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Counters are read between calls, by the one thread running then. */
static unsigned long takes(void) { TAKE(); unsigned long n = g_takes; GIVE(); return n; }

#define ONCE(call) do { \
        unsigned long before_ = takes(); \
        call; \
        unsigned long after_ = takes(); \
        CHECKF(after_ - before_ == 1, "%s took the lock %lu times", #call, after_ - before_); \
    } while (0)

static unsigned char g_region[2 * FA__SEGMENT_SIZE];
/* One segment's worth starting at a segment boundary: a region with or without an OS. */
static unsigned char* region_mem(void) {
    return (unsigned char*)(((uintptr_t)g_region + FA__SEGMENT_MASK) & ~(uintptr_t)FA__SEGMENT_MASK);
}

static void test_every_entry_once(void) {
    harness_section("every entry point takes the lock once");
    void *p = NULL, *q = NULL, *r = NULL;
    char* s = NULL;
    ONCE(p = fa_malloc(100));
    ONCE(q = fa_zalloc(100));
    ONCE(r = fa_calloc(10, 10));
    ONCE(fa_free(r));
    ONCE(r = fa_malloc_aligned(100, 256));
    ONCE(fa_free(r));
    ONCE(r = fa_zalloc_aligned(100, 256));
    ONCE(p = fa_realloc(p, 5000));          /* moves: malloc + copy + free inside, one take */
    ONCE(q = fa_rezalloc(q, 5000));
    ONCE(q = fa_recalloc(q, 10, 600));
    ONCE(r = fa_realloc_aligned(r, 3000, 512));
    ONCE(r = fa_rezalloc_aligned(r, 6000, 512));
    size_t u = 0;
    ONCE(u = fa_usable_size(p));
    CHECK_GE_SZ(u, 5000);
    ONCE(s = fa_strdup("rtos"));
    ONCE(fa_free(s));
    ONCE(s = fa_strndup("rtos", 2));
    ONCE(fa_free(s));
    ONCE(fa_free(p));
    ONCE(fa_free(q));
    ONCE(fa_free(r));
    ONCE(fa_collect(false));
    ONCE(fa_collect(true));
    ONCE(fa_thread_done());
    fa_stats_t st;
    ONCE(fa_stats_get(&st));
    bool ok = true;
    ONCE(ok = fa_init_region(region_mem(), FA__SEGMENT_SIZE));   /* too late: EBUSY, but still one take */
    CHECK(!ok);
    fa_heap_t* h = NULL;
    ONCE(h = fa_heap_new_in_region(region_mem(), FA__SEGMENT_SIZE));
    CHECK(h != NULL);
    if (h) {
        ONCE(p = fa_heap_malloc(h, 10));
        ONCE(q = fa_heap_zalloc(h, 10));
        ONCE(r = fa_heap_calloc(h, 3, 10));
        ONCE(p = fa_heap_realloc(h, p, 3000));
        ONCE(s = (char*)fa_heap_malloc_aligned(h, 10, 128));
        ONCE(u = fa_heap_usable_size(h, p));
        ONCE(fa_heap_collect(h));
        ONCE(fa_heap_reset(h));
        ONCE(fa_heap_destroy(h));
    }
    ONCE(h = fa_heap_new());
    CHECK(h != NULL);
    if (h) {
        ONCE(p = fa_heap_malloc(h, 10));
        ONCE(fa_heap_delete(h));
        ONCE(fa_free(p));
    }
    CHECK_EQ_SZ(g_max_depth, 1);
    CHECK_EQ_SZ(g_takes, g_gives);
}

#if !defined(FA_TEST_BARE_METAL)
enum { TASKS = 4, OPS = 20000, SLOTS = 512 };
/* Tasks share a table of blocks: any task frees what another allocated. */
static struct { unsigned char* p; size_t n; uint64_t seed; } g_slots[SLOTS];
static unsigned long g_bad[TASKS];

static void* task(void* arg) {
    size_t id = (size_t)(uintptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (id + 1);
    for (int i = 0; i < OPS; i++) {
        size_t k = (size_t)(harness_rand(&rng) % SLOTS);
        size_t n = 1 + (size_t)(harness_rand(&rng) % (i % 50 == 0 ? 300 * KiB : 2 * KiB));
        uint64_t seed = harness_rand(&rng);
        unsigned char* mine = (unsigned char*)fa_malloc(n);
        if (!mine) { g_bad[id]++; continue; }
        harness_fill(mine, n, seed);
        /* swap it into the shared table under the same lock the allocator uses */
        TAKE();
        unsigned char* old = g_slots[k].p;
        size_t old_n = g_slots[k].n;
        uint64_t old_seed = g_slots[k].seed;
        g_slots[k].p = mine; g_slots[k].n = n; g_slots[k].seed = seed;
        GIVE();
        if (old) {
            if (harness_verify(old, old_n, old_seed) != HARNESS_OK) g_bad[id]++;
            fa_free(old);
        }
    }
    return NULL;
}

static void test_tasks_share_one_heap(void) {
    harness_section("tasks share one heap");
    pthread_t t[TASKS];
    for (size_t i = 0; i < TASKS; i++) CHECK(pthread_create(&t[i], NULL, task, (void*)(uintptr_t)i) == 0);
    for (size_t i = 0; i < TASKS; i++) pthread_join(t[i], NULL);
    unsigned long bad = 0;
    for (size_t i = 0; i < TASKS; i++) bad += g_bad[i];
    CHECK_EQ_SZ(bad, 0);
    size_t lost = 0;
    for (size_t k = 0; k < SLOTS; k++)
        if (g_slots[k].p) {
            if (harness_verify(g_slots[k].p, g_slots[k].n, g_slots[k].seed) != HARNESS_OK) lost++;
            fa_free(g_slots[k].p);
        }
    CHECK_EQ_SZ(lost, 0);
    CHECK_EQ_SZ(g_max_depth, 1);
    CHECK_EQ_SZ(g_takes, g_gives);
}
#endif

int main(void) {
    test_every_entry_once();
#if !defined(FA_TEST_BARE_METAL)
    test_tasks_share_one_heap();
#endif
    return harness_finish();
}
