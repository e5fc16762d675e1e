/* test_hooks.c — the profiler hooks FASTALLOC_ON_ALLOC / FASTALLOC_ON_FREE. A tiny tracker records
   what the hooks report; the program keeps its own shadow of the blocks it holds. After a workload
   over every allocating entry point (plain, zeroed, aligned, realloc in place and moved, huge blocks,
   strdup, first-class heaps, a region heap, an arena's chunks, reset, destroy, delete) and threads
   that free each other's blocks, the tracker's live set must be exactly the shadow: same pointers,
   same sizes, the heap they came from; and no report may free an unknown block or allocate a live one. */
#define _GNU_SOURCE   /* pthread barriers under -std=c11 */
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

/* ---- the tracker: what the hooks say ------------------------------------------------------------ */
typedef struct { void* p; size_t size; void* heap; } entry_t;
#define TABLE_BITS 18
#define TABLE_SIZE ((size_t)1 << TABLE_BITS)
typedef struct { entry_t e[TABLE_SIZE]; size_t count; } table_t;

static size_t slot_of(const void* p) { return (size_t)(((uintptr_t)p >> 3) * 0x9E3779B97F4A7C15ULL >> (64 - TABLE_BITS)); }

/* Linear probing with backward-shift deletion: no tombstones to pile up. */
static entry_t* table_find(table_t* t, const void* p) {
    for (size_t i = slot_of(p);; i = (i + 1) & (TABLE_SIZE - 1)) {
        if (t->e[i].p == p) return &t->e[i];
        if (t->e[i].p == NULL) return NULL;
    }
}
static int table_add(table_t* t, void* p, size_t size, void* heap) {
    if (table_find(t, p) != NULL || t->count + 1 >= TABLE_SIZE / 2) return 0;
    size_t i = slot_of(p);
    while (t->e[i].p != NULL) i = (i + 1) & (TABLE_SIZE - 1);
    t->e[i].p = p; t->e[i].size = size; t->e[i].heap = heap;
    t->count++;
    return 1;
}
static int table_del(table_t* t, const void* p) {
    entry_t* hit = table_find(t, p);
    if (hit == NULL) return 0;
    size_t i = (size_t)(hit - t->e);
    t->e[i].p = NULL;
    for (size_t j = (i + 1) & (TABLE_SIZE - 1); t->e[j].p != NULL; j = (j + 1) & (TABLE_SIZE - 1)) {
        size_t home = slot_of(t->e[j].p);
        /* move e[j] back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->e[i] = t->e[j];
            t->e[j].p = NULL;
            i = j;
        }
    }
    t->count--;
    return 1;
}

static table_t tracker, shadow;
static pthread_mutex_t tracker_lock = PTHREAD_MUTEX_INITIALIZER, shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long hook_allocs, hook_frees, bad_allocs, bad_frees;

static void on_alloc(void* p, size_t size, void* heap) {
    pthread_mutex_lock(&tracker_lock);
    hook_allocs++;
    if (!table_add(&tracker, p, size, heap)) bad_allocs++;
    pthread_mutex_unlock(&tracker_lock);
}
static void on_free(void* p, void* heap) {
    (void)heap;
    pthread_mutex_lock(&tracker_lock);
    hook_frees++;
    if (!table_del(&tracker, p)) bad_frees++;
    pthread_mutex_unlock(&tracker_lock);
}
#define FASTALLOC_ON_ALLOC(p, size, heap) on_alloc((p), (size), (heap))
#define FASTALLOC_ON_FREE(p, heap) on_free((p), (heap))
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

/* ---- the program's shadow: what it holds ------------------------------------------------------- */
#define ANY_SIZE ((size_t)-1)      /* arena chunks: the program does not know their size */
static void held(void* p, size_t size, fa_heap_t* heap) {
    if (p == NULL) return;
    pthread_mutex_lock(&shadow_lock);
    int ok = table_add(&shadow, p, size, heap);
    pthread_mutex_unlock(&shadow_lock);
    CHECKF(ok, "%p handed out while the program still holds it", p);
}
static void dropped(void* p) {
    if (p == NULL) return;
    pthread_mutex_lock(&shadow_lock);
    int ok = table_del(&shadow, p);
    pthread_mutex_unlock(&shadow_lock);
    CHECKF(ok, "%p dropped but not held", p);
}
static void dropped_heap(fa_heap_t* heap) {
    pthread_mutex_lock(&shadow_lock);
    for (size_t i = 0; i < TABLE_SIZE;) {
        if (shadow.e[i].p != NULL && shadow.e[i].heap == heap) table_del(&shadow, shadow.e[i].p);   /* the shift may refill i */
        else i++;
    }
    pthread_mutex_unlock(&shadow_lock);
}
static void* hfree(void* p) { dropped(p); fa_free(p); return NULL; }

/* The tracker equals the shadow: every pointer, its size, and for a first-class heap's block its heap
   (the shadow says NULL for the thread heap, whose record the program does not see: then any heap). */
static void compare(const char* when) {
    size_t missing = 0, extra = 0, wrong = 0;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        entry_t* s = &shadow.e[i];
        if (s->p == NULL) continue;
        entry_t* t = table_find(&tracker, s->p);
        if (t == NULL) { missing++; continue; }
        if ((s->size != ANY_SIZE && s->size != t->size) || (s->heap != NULL && s->heap != t->heap) || t->heap == NULL) {
            if (wrong++ < 5) fprintf(stderr, "    %p: size %zu vs %zu, heap %p vs %p\n", s->p, t->size, s->size, t->heap, s->heap);
        }
    }
    for (size_t i = 0; i < TABLE_SIZE; i++)
        if (tracker.e[i].p != NULL && table_find(&shadow, tracker.e[i].p) == NULL) extra++;
    CHECKF(missing == 0 && extra == 0 && wrong == 0 && tracker.count == shadow.count,
           "%s: tracker %zu blocks, shadow %zu: %zu missing, %zu extra, %zu with a wrong size or heap", when, tracker.count,
           shadow.count, missing, extra, wrong);
    CHECKF(bad_allocs == 0 && bad_frees == 0, "%s: %lu allocations of live blocks, %lu frees of unknown blocks", when,
           bad_allocs, bad_frees);
}

/* ---- the workload ----------------------------------------------------------------------------- */
static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static size_t pick_size(uint64_t* st) {
    uint64_t r = harness_rand(st) % 100;
    if (r < 70) return (size_t)(harness_rand(st) % 1024);
    if (r < 92) return (size_t)(harness_rand(st) % (64 * KiB));
    if (r < 99) return (size_t)(harness_rand(st) % (2 * MiB));
    return 2 * MiB + (size_t)(harness_rand(st) % (3 * MiB));
}

/* One random step on a slot: every allocating entry point of the thread heap (heap NULL) or of `heap`. */
static void step(void** slot, fa_heap_t* heap, uint64_t* st) {
    size_t size = pick_size(st), align = (size_t)16 << (harness_rand(st) % 9);   /* 16 .. 4 KiB */
    void* p = *slot;
    unsigned op = (unsigned)(harness_rand(st) % (heap != NULL ? 6 : 11));
    if (p == NULL && op < 2) op = 2;
    switch (op) {
    case 0: *slot = hfree(p); return;
    case 1: {                                                   /* realloc: in place, moved, huge */
        if (harness_rand(st) % 4 == 0) size = fa_usable_size(p) / 2 + 1;   /* stays in place */
        dropped(p);
        void* q = heap != NULL ? fa_heap_realloc(heap, p, size) : fa_realloc(p, size);
        CHECK(q != NULL);
        held(q, size, heap);
        *slot = q;
        return;
    }
    default: break;
    }
    if (p != NULL) hfree(p);
    void* q = NULL;
    switch (op) {
    case 2: q = heap != NULL ? fa_heap_malloc(heap, size) : fa_malloc(size); break;
    case 3: q = heap != NULL ? fa_heap_zalloc(heap, size) : fa_zalloc(size); break;
    case 4: q = heap != NULL ? fa_heap_calloc(heap, 1, size) : fa_calloc(size, 1); break;
    case 5: q = heap != NULL ? fa_heap_malloc_aligned(heap, size, align) : fa_malloc_aligned(size, align); break;
    case 6: q = fa_zalloc_aligned(size, align); break;
    case 7: size = size % 100; q = fa_rezalloc(NULL, size); break;
    case 8: size = size % 100; q = fa_recalloc(NULL, size, 1); break;
    case 9: {                                                   /* aligned realloc of an aligned block */
        void* a = fa_malloc_aligned(64, align);
        CHECK(a != NULL);
        q = fa_realloc_aligned(a, size, align);
        if (q == NULL) fa_free(a);
        break;
    }
    default: {
        char text[40];
        size_t n = (size_t)(harness_rand(st) % (sizeof text - 1));
        memset(text, 'x', n);
        text[n] = '\0';
        if (harness_rand(st) % 2) { q = fa_strdup(text); size = n + 1; }
        else { q = fa_strndup(text, n / 2); size = n / 2 + 1; }
        break;
    }
    }
    CHECK(q != NULL);
    held(q, size, heap);
    *slot = q;
}

#define SLOTS 512
static void churn(fa_heap_t* heap, void** slots, int rounds, uint64_t* st) {
    for (int i = 0; i < rounds; i++) step(&slots[harness_rand(st) % SLOTS], heap, st);
}

static void test_thread_heap(void) {
    harness_section("thread heap, every entry point");
    static void* slots[SLOTS];
    churn(NULL, slots, 20000, &rng_state);
    /* the edge cases of realloc: NULL (a malloc), size 0 (a minimal block), rezalloc growth */
    void* p = fa_realloc(NULL, 100);
    held(p, 100, NULL);
    dropped(p);
    p = fa_realloc(p, 0);
    held(p, 0, NULL);
    dropped(p);
    p = fa_rezalloc(p, 5000);
    held(p, 5000, NULL);
    dropped(p);
    p = fa_recalloc(p, 10, 1000);
    held(p, 10000, NULL);
    dropped(p);
    p = fa_rezalloc_aligned(p, 20000, 256);
    held(p, 20000, NULL);
    compare("thread heap churn");
    unsigned long frees = hook_frees;
    fa_free(NULL);
    int on_stack;
#if !defined(FASTALLOC_DEBUG) && !defined(FASTALLOC_SECURE) && !HARNESS_TOOLS
    fa_free(&on_stack);           /* not fastalloc's: left alone and not reported (debug and secure builds and tools abort) */
    CHECK(hook_frees == frees);
#endif
    errno = 0;
    CHECK(fa_realloc(&on_stack, 10) == NULL && errno == EINVAL);
    CHECK(hook_frees == frees && hook_allocs != 0);
    hfree(p);
    for (size_t k = 0; k < SLOTS; k++) slots[k] = hfree(slots[k]);
    compare("thread heap emptied");
}

/* A first-class heap: churn, an arena on it, then reset (every block reported freed), churn again,
   destroy. Blocks freed before the reset must not be reported twice. */
/* A reset frees every block: the hooks must report each, so the tracker empties as the shadow does. */
static void reset_and_compare(fa_heap_t* heap, void** slots, const char* when) {
    fa_heap_reset(heap);
    dropped_heap(heap);
    for (size_t k = 0; k < SLOTS; k++) slots[k] = NULL;
    compare(when);
}

static void test_first_class(void) {
    harness_section("first-class heaps: reset and destroy");
    static void* slots[SLOTS];
    unsigned long allocs = hook_allocs;
    fa_heap_t* heap = fa_heap_new();
    CHECK(heap != NULL);
    CHECK(hook_allocs == allocs);                 /* the heap's own record is not a block of the caller */
    churn(heap, slots, 20000, &rng_state);
    fa_arena_t* arena = fa_arena_new(heap, 4096);
    CHECK(arena != NULL);
    for (int i = 0; i < 200; i++) CHECK(fa_arena_alloc(arena, 300) != NULL);
    for (fa_arena_chunk_t* c = arena->chunk; c != NULL; c = c->prev) held(c, ANY_SIZE, heap);
    compare("first-class heap with an arena");
    reset_and_compare(heap, slots, "after reset");
    churn(heap, slots, 20000, &rng_state);
    compare("churn after reset");
    /* aligned blocks, with their marks, survive a reset walk: reset again with many of them out */
    for (size_t k = 0; k < SLOTS; k++) {
        if (slots[k] != NULL) hfree(slots[k]);
        size_t size = 16 + k * 7;
        slots[k] = fa_heap_malloc_aligned(heap, size, (size_t)32 << (k % 5));
        held(slots[k], size, heap);
    }
    compare("aligned blocks");
    reset_and_compare(heap, slots, "after reset of aligned blocks");
    churn(heap, slots, 5000, &rng_state);
    fa_heap_destroy(heap);
    dropped_heap(heap);
    compare("after destroy");

    /* delete: the blocks stay, now the thread heap's; nothing is reported */
    heap = fa_heap_new();
    for (size_t k = 0; k < SLOTS; k++) slots[k] = NULL;
    churn(heap, slots, 3000, &rng_state);
    unsigned long frees = hook_frees;
    fa_heap_delete(heap);
    CHECK(hook_frees == frees);
    compare("after delete");
    for (size_t k = 0; k < SLOTS; k++) slots[k] = hfree(slots[k]);
    compare("deleted heap's blocks freed");
}

/* A region heap: realloc that fails (the region is full) reports the block allocated again, with
   its usable size. */
static void test_region(void) {
    harness_section("region heap");
    static unsigned char region[512 * 1024 + 1];
    fa_heap_t* heap = fa_heap_new_in_region(region + 1, sizeof region - 1);
    CHECK(heap != NULL);
    static void* slots[SLOTS];
    uint64_t st = 77;
    for (int i = 0; i < 5000; i++) {
        void** s = &slots[harness_rand(&st) % SLOTS];
        size_t size = (size_t)(harness_rand(&st) % 2000);
        if (*s != NULL) *s = hfree(*s);
        *s = fa_heap_malloc(heap, size);
        held(*s, size, heap);
    }
    compare("region heap");
    void* p = fa_heap_malloc(heap, 1000);
    CHECK(p != NULL);
    held(p, 1000, heap);
    errno = 0;
    CHECK(fa_heap_realloc(heap, p, 64 * MiB) == NULL && errno == ENOMEM);
    entry_t* t = table_find(&tracker, p);
    CHECK(t != NULL && t->size == fa_usable_size(p));
    dropped(p);
    held(p, fa_usable_size(p), heap);
    compare("failed realloc");
    fa_heap_destroy(heap);
    dropped_heap(heap);
    for (size_t k = 0; k < SLOTS; k++) slots[k] = NULL;
    compare("region heap destroyed");
}

#if HARNESS_HAVE_THREADS
/* Threads allocate from their thread heap and a heap of their own, hand blocks to the next thread
   through a mailbox, and free what they receive: cross-thread frees into pages that fill up (the
   delayed-free path included). Each thread then resets its heap: blocks other threads freed into it
   were reported once, by their free, and not again. */
#define THREADS 4
#define MAIL 256
static void* mailbox[THREADS][MAIL];
static pthread_barrier_t barrier;

static void* worker(void* arg) {
    size_t me = (size_t)(uintptr_t)arg, next = (me + 1) % THREADS;
    uint64_t st = 1000 + me;
    fa_heap_t* heap = fa_heap_new();
    static void* own[THREADS][SLOTS];
    for (int round = 0; round < 20; round++) {
        for (size_t k = 0; k < MAIL; k++) {
            size_t size = 16 + (size_t)(harness_rand(&st) % 200);
            void* p = (k & 1) ? fa_heap_malloc(heap, size) : fa_malloc(size);
            held(p, size, (k & 1) ? heap : NULL);
            __atomic_store_n(&mailbox[next][k], p, __ATOMIC_RELEASE);
        }
        churn(NULL, own[me], 300, &st);
        pthread_barrier_wait(&barrier);
        for (size_t k = 0; k < MAIL; k++) hfree(__atomic_exchange_n(&mailbox[me][k], NULL, __ATOMIC_ACQ_REL));
        pthread_barrier_wait(&barrier);
    }
    for (size_t k = 0; k < SLOTS; k++) own[me][k] = hfree(own[me][k]);
    fa_heap_reset(heap);
    dropped_heap(heap);
    fa_heap_destroy(heap);
    return NULL;
}

static void* free_odd(void* arg) {
    void** blocks = (void**)arg;
    for (size_t i = 1; i < 3000; i += 2) blocks[i] = hfree(blocks[i]);
    return NULL;
}

static void test_threads(void) {
    harness_section("threads: cross-thread frees, then reset");
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (size_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void*)(uintptr_t)i);
    for (size_t i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    compare("after the threads");

    /* a full page of a first-class heap whose blocks another thread frees (delayed frees, thread_free
       lists), then a reset: only the blocks still held are reported */
    fa_heap_t* heap = fa_heap_new();
    enum { N = 3000 };
    static void* blocks[N];
    for (size_t i = 0; i < N; i++) { blocks[i] = fa_heap_malloc(heap, 48); held(blocks[i], 48, heap); }
    pthread_t freer;
    pthread_create(&freer, NULL, free_odd, blocks);
    pthread_join(freer, NULL);
    compare("full pages, half freed by another thread");
    fa_heap_reset(heap);
    dropped_heap(heap);
    fa_heap_destroy(heap);
    compare("full pages reset");
}
#endif

int main(void) {
    test_thread_heap();
    test_first_class();
    test_region();
#if HARNESS_HAVE_THREADS
    test_threads();
#endif
    compare("end");
    CHECK(hook_allocs > 50000 && hook_frees > 50000);
    return harness_finish();
}
