/* test_check.c — fa_heap_check: true on every healthy heap state the API can produce, false once a
   heap's metadata is corrupted (a write after free into a block's link word, a block freed twice).
   Runs in every build; the double free only where FASTALLOC_DEBUG and FASTALLOC_SECURE would not abort on it first. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Sizes over every tier: mostly small, some medium and large, a few huge. */
static size_t pick_size(void) {
    uint64_t r = rng() % 100;
    if (r < 70) return (size_t)(rng() % 1024);
    if (r < 90) return (size_t)(rng() % (64 * KiB));
    if (r < 98) return (size_t)(rng() % (2 * MiB));
    return 2 * MiB + (size_t)(rng() % (3 * MiB));
}

/* Random alloc/free/realloc churn on `heap` (NULL: the thread heap), checking the heap as it goes. */
static void churn(fa_heap_t* heap, int rounds, const char* what) {
    enum { SLOTS = 256 };
    void* slot[SLOTS] = { 0 };
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        size_t k = (size_t)(rng() % SLOTS);
        if (slot[k] != NULL && rng() % 3 == 0) {
            void* q = heap != NULL ? fa_heap_realloc(heap, slot[k], pick_size()) : fa_realloc(slot[k], pick_size());
            if (q != NULL) slot[k] = q;
        } else {
            fa_free(slot[k]);
            slot[k] = heap != NULL ? fa_heap_malloc(heap, pick_size()) : fa_malloc(pick_size());
        }
        if (i % 97 == 0 && !fa_heap_check(heap)) bad++;
    }
    CHECKF(bad == 0 && fa_heap_check(heap), "%s: %d failed checks during churn", what, bad);
    for (size_t k = 0; k < SLOTS; k++) fa_free(slot[k]);
    CHECKF(fa_heap_check(heap), "%s: after freeing everything", what);
}

static void test_healthy(void) {
    harness_section("healthy heaps");
    CHECK(fa_heap_check(NULL));                    /* a thread with no heap yet */
    churn(NULL, 20000, "thread heap");
    fa_collect(false);
    CHECK(fa_heap_check(NULL));
    fa_collect(true);
    CHECK(fa_heap_check(NULL));

#ifndef FASTALLOC_NO_OS
    fa_heap_t* heap = fa_heap_new();
    CHECK(heap != NULL);
    CHECK(fa_heap_check(heap));
    churn(heap, 20000, "first-class heap");
    for (int i = 0; i < 1000; i++) (void)fa_heap_malloc(heap, pick_size());
    CHECK(fa_heap_check(heap));
    fa_heap_reset(heap);
    CHECK(fa_heap_check(heap));
    churn(heap, 5000, "after reset");
    fa_heap_collect(heap);
    CHECK(fa_heap_check(heap));
    void* kept = fa_heap_malloc(heap, 100);
    fa_heap_delete(heap);                          /* its pages move to the thread heap */
    CHECK(fa_heap_check(NULL));
    fa_free(kept);
    CHECK(fa_heap_check(NULL));
#endif

    static unsigned char region[8 * MiB + 4 * MiB + 100];
    fa_heap_t* in_region = fa_heap_new_in_region(region + 3, sizeof region - 3);
    CHECK(in_region != NULL);
    if (in_region != NULL) {
        CHECK(fa_heap_check(in_region));
        for (int i = 0; i < 2000; i++) {
            void* p = fa_heap_malloc(in_region, (size_t)(rng() % 4096));
            if (i % 3 == 0) fa_free(p);
        }
        CHECK(fa_heap_check(in_region));
        fa_heap_destroy(in_region);
    }
}

static FA__UNUSED void test_corruption(void) {
    harness_section("corruption is reported");
    /* A page of 48-byte blocks of this heap alone: fill some, free two, then overwrite the link
       word of a freed block as a use-after-free write would. */
    fa_heap_t* heap;
#ifdef FASTALLOC_NO_OS
    static unsigned char region[256 * KiB];
    heap = fa_heap_new_in_region(region, sizeof region);
#else
    heap = fa_heap_new();
#endif
    CHECK(heap != NULL);
    if (heap == NULL) return;
    void* b[16];
    for (int i = 0; i < 16; i++) b[i] = fa_heap_malloc(heap, 48);
    fa_free(b[3]);
    fa_free(b[5]);
    CHECK(fa_heap_check(heap));
    void* saved;
    memcpy(&saved, b[5], sizeof saved);
    void* wild = (void*)(uintptr_t)0x1234567;
    memcpy(b[5], &wild, sizeof wild);              /* the write after free */
    CHECK(!fa_heap_check(heap));
    memcpy(b[5], &saved, sizeof saved);            /* repaired: the heap is whole again */
    CHECK(fa_heap_check(heap));
    memcpy(b[5], &b[5], sizeof(void*));            /* a self-linked free list (a cycle) */
    CHECK(!fa_heap_check(heap));
    memcpy(b[5], &saved, sizeof saved);
    CHECK(fa_heap_check(heap));
#if !defined(FASTALLOC_DEBUG) && !defined(FASTALLOC_SECURE)
    fa_free(b[7]);
    fa_free(b[7]);                                 /* freed twice: counts no longer add up */
    CHECK(!fa_heap_check(heap));
#endif
    /* the heap is left as it is: nothing more is allocated from it */
}

int main(void) {
    test_healthy();
#if HARNESS_TOOLS
    /* the writes into free blocks are what the memory tool reports (tests/test_corrupt.c) */
    harness_skip("corruption of free blocks", "a memory tool reports the corrupting writes themselves");
#else
    test_corruption();
#endif
    return harness_finish();
}
