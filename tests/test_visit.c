/* test_visit.c — seeing memory: fa_heap_visit and fa_heap_stats against a shadow of the blocks the
   program holds. Random blocks of every tier (tiny, small, medium, large, huge, aligned up to 4 KiB)
   on the thread heap, a first-class heap and a region heap; after each phase the visit must report
   exactly the shadow's pointers, each once, with fa_usable_size as the usable size, and the stats
   must count what the visit counts. Also: early stop, blocks another thread freed, reset, the tier
   counters, a region's largest free block (allocated, and one slice more refused), EINVAL. */
#define _GNU_SOURCE
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"
#include <stdint.h>
#include <stdlib.h>
#if HARNESS_HAVE_THREADS && !defined(FASTALLOC_SINGLE_THREAD)
#include <pthread.h>
#define VISIT_THREADS 1
#else
#define VISIT_THREADS 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MAX_BLOCKS 4096

typedef struct { void* p; size_t size; } held_t;
typedef struct { held_t b[MAX_BLOCKS]; size_t n; } shadow_t;

/* what the visitor saw; it only writes here (a visitor must not call fastalloc) */
static held_t seen[MAX_BLOCKS + 64];
static size_t seen_count, stop_after;
static bool overflowed;

static bool record(void* block, size_t usable, void* arg) {
    (void)arg;
    if (seen_count == MAX_BLOCKS + 64) { overflowed = true; return false; }
    seen[seen_count].p = block;
    seen[seen_count].size = usable;
    return ++seen_count != stop_after;
}

static int by_pointer(const void* a, const void* b) {
    uintptr_t x = (uintptr_t)((const held_t*)a)->p, y = (uintptr_t)((const held_t*)b)->p;
    return x < y ? -1 : x > y;
}

/* Visits h and compares with the shadow (plus `extra` blocks the heap holds for fastalloc itself,
   reported but not the program's); the stats must add up to the same. */
static void compare(fa_heap_t* h, shadow_t* s, size_t extra, const char* what) {
    harness_section(what);
    seen_count = 0; stop_after = 0; overflowed = false;
    CHECK(fa_heap_visit(h, record, NULL));
    CHECK(!overflowed);
    CHECK_EQ_SZ(seen_count, s->n + extra);
    size_t bytes = 0;
    for (size_t i = 0; i < seen_count; i++) bytes += seen[i].size;
    qsort(seen, seen_count, sizeof seen[0], by_pointer);
    qsort(s->b, s->n, sizeof s->b[0], by_pointer);
    size_t missing = 0, twice = 0, bad_usable = 0, j = 0;
    for (size_t i = 0; i < s->n; i++) {
        while (j < seen_count && (uintptr_t)seen[j].p < (uintptr_t)s->b[i].p) j++;
        if (j == seen_count || seen[j].p != s->b[i].p) { missing++; continue; }
        if (j + 1 < seen_count && seen[j + 1].p == seen[j].p) twice++;
        if (seen[j].size != fa_usable_size(s->b[i].p) || seen[j].size < s->b[i].size) bad_usable++;
    }
    CHECKF(missing == 0 && twice == 0 && bad_usable == 0, "%s: %zu missing, %zu twice, %zu wrong usable", what, missing, twice, bad_usable);
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.live_blocks, seen_count);
    CHECK_EQ_SZ(st.live_bytes, bytes);
    CHECK_GE_SZ(st.reserved_bytes, st.committed_bytes);
    CHECK_GE_SZ(st.committed_bytes, st.huge_bytes);
    CHECK_LE_SZ(st.fragmentation, 1000);
}

static void drop(shadow_t* s, size_t i) {
    fa_free(s->b[i].p);
    s->b[i] = s->b[--s->n];
}

static size_t pick_size(uint64_t* rng, size_t huge_min, size_t huge_span) {
    switch (harness_rand(rng) % 8) {
    case 0: case 1: return (size_t)(harness_rand(rng) % 65);               /* tiny  */
    case 2: case 3: return 65 + (size_t)(harness_rand(rng) % (8 * KiB));   /* small */
    case 4: return 8 * KiB + (size_t)(harness_rand(rng) % (56 * KiB));     /* medium */
    case 5: return 64 * KiB + (size_t)(harness_rand(rng) % (2 * MiB - 64 * KiB));   /* large */
    case 6: return huge_span != 0 && harness_rand(rng) % 8 == 0 ? huge_min + (size_t)(harness_rand(rng) % huge_span) : 100;
    default: return (size_t)(harness_rand(rng) % 512);
    }
}

/* `rounds` random mallocs (some aligned, up to 4 KiB) and frees on h (NULL: the thread heap). Huge
   blocks of the thread heap belong to no heap and go to `unlisted`, whose blocks no visit reports. */
static void churn(fa_heap_t* h, shadow_t* s, shadow_t* unlisted, uint64_t* rng, int rounds, size_t huge_min, size_t huge_span) {
    for (int r = 0; r < rounds; r++) {
        if (s->n != 0 && harness_rand(rng) % 3 == 0) { drop(s, (size_t)(harness_rand(rng) % s->n)); continue; }
        if (s->n == MAX_BLOCKS / 2) continue;
        size_t size = pick_size(rng, huge_min, huge_span), align = (size_t)16 << (harness_rand(rng) % 9);
        bool aligned = harness_rand(rng) % 5 == 0;
        void* p = aligned ? (h != NULL ? fa_heap_malloc_aligned(h, size, align) : fa_malloc_aligned(size, align))
                          : (h != NULL ? fa_heap_malloc(h, size) : fa_malloc(size));
        if (p == NULL) continue;   /* a region may be full */
        shadow_t* into = h == NULL && size >= huge_min && unlisted != NULL ? unlisted : s;
        into->b[into->n].p = p;
        into->b[into->n++].size = size;
    }
}

static void free_all(shadow_t* s) { while (s->n != 0) drop(s, s->n - 1); }

static void early_stop(fa_heap_t* h, size_t live) {
    harness_section("early stop");
    for (size_t k = 1; k <= 3 && k < live; k++) {
        seen_count = 0; stop_after = k; overflowed = false;
        CHECK(!fa_heap_visit(h, record, NULL));
        CHECK_EQ_SZ(seen_count, k);
    }
    stop_after = 0;
}

static shadow_t shadow_a, shadow_b;

static void test_thread_heap(void) {
    uint64_t rng = 1;
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(NULL, &st));     /* the heap may not exist yet */
    size_t extra = st.live_blocks;       /* the harness allocates nothing here: 0 */
    CHECK_EQ_SZ(extra, 0);
    churn(NULL, &shadow_a, &shadow_b, &rng, 3000, 4 * MiB + 1, 2 * MiB);
    compare(NULL, &shadow_a, 0, "thread heap: random blocks");
    CHECK(shadow_b.n > 0);
    harness_section("thread heap: huge blocks are no heap's");
    seen_count = 0;
    fa_heap_visit(NULL, record, NULL);
    size_t reported = 0;
    for (size_t i = 0; i < seen_count; i++)
        for (size_t k = 0; k < shadow_b.n; k++) reported += seen[i].p == shadow_b.b[k].p;
    CHECK_EQ_SZ(reported, 0);
    CHECK(fa_heap_stats(NULL, &st));
    CHECK_EQ_SZ(st.huge_blocks, 0);
    early_stop(NULL, shadow_a.n);
    for (size_t i = 0; i < shadow_a.n; i += 2) drop(&shadow_a, i);
    compare(NULL, &shadow_a, 0, "thread heap: half freed");
    free_all(&shadow_a);
    free_all(&shadow_b);
    compare(NULL, &shadow_a, 0, "thread heap: all freed");
}

static void test_first_class(void) {
    uint64_t rng = 2;
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    compare(h, &shadow_a, 0, "first-class: new");
    churn(h, &shadow_a, NULL, &rng, 3000, 4 * MiB + 1, 2 * MiB);
    compare(h, &shadow_a, 0, "first-class: random blocks");
    size_t huge = 0;
    for (size_t i = 0; i < shadow_a.n; i++) huge += shadow_a.b[i].size > FA__LARGE_MAX;
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK(huge > 0);
    CHECK_EQ_SZ(st.huge_blocks, huge);
    early_stop(h, shadow_a.n);

    fa_heap_reset(h);
    shadow_a.n = 0;
    compare(h, &shadow_a, 0, "first-class: reset");
    CHECK(fa_heap_stats(h, &st));
    CHECK(st.live_blocks == 0 && st.live_bytes == 0 && st.huge_blocks == 0);
    fa_heap_destroy(h);

    /* a fresh heap: each tier's pages appear as its blocks do */
    harness_section("first-class: tiers move");
    h = fa_heap_new();
    fa_heap_stats_t before, after;
    CHECK(fa_heap_stats(h, &before));
    CHECK(before.live_blocks == 0 && before.pages_small == 0 && before.page_bytes == 0);
    size_t small = 1024, medium = fa__geometry_small_max(FASTALLOC_SLICE_SHIFT) + 1;
    size_t large = fa__geometry_medium_max(FASTALLOC_SLICE_SHIFT) + 1;
    for (size_t i = 0; i < 600; i++) { shadow_a.b[shadow_a.n].p = fa_heap_malloc(h, small); shadow_a.b[shadow_a.n++].size = small; }
    CHECK(fa_heap_stats(h, &after));
    CHECK(after.pages_small > before.pages_small);
    CHECK_EQ_SZ(after.pages_medium + after.pages_large, 0);
    before = after;
    for (size_t i = 0; i < 40; i++) { shadow_a.b[shadow_a.n].p = fa_heap_malloc(h, medium); shadow_a.b[shadow_a.n++].size = medium; }
    CHECK(fa_heap_stats(h, &after));
    CHECK(after.pages_medium > before.pages_medium);
    CHECK_EQ_SZ(after.pages_small, before.pages_small);
    CHECK_EQ_SZ(after.pages_large, 0);
    before = after;
    /* a large page holds one block, or the few that fill its slices exactly: 80 KiB blocks four to
       a page of five slices (where the OS's geometry is not a region's) */
    size_t large_bs = fa__bin_size(fa__bin_of(large)), large_slices = fa__page_slices_for(large_bs, FASTALLOC_SLICE_SHIFT);
    size_t large_per_page = (large_slices << FASTALLOC_SLICE_SHIFT) / large_bs, large_pages = (3 + large_per_page - 1) / large_per_page;
    if (FA__REGION_SHIFT != FASTALLOC_SLICE_SHIFT) CHECK(large_per_page == 4 && large_slices == 5);
    for (size_t i = 0; i < 3; i++) { shadow_a.b[shadow_a.n].p = fa_heap_malloc(h, large); shadow_a.b[shadow_a.n++].size = large; }
    CHECK(fa_heap_stats(h, &after));
    CHECK_EQ_SZ(after.pages_large, before.pages_large + large_pages);
    CHECK_EQ_SZ(after.page_bytes, before.page_bytes + (large_pages * large_slices << FASTALLOC_SLICE_SHIFT));
    CHECK_EQ_SZ(after.huge_blocks, 0);
    shadow_a.b[shadow_a.n].p = fa_heap_malloc(h, 5 * MiB); shadow_a.b[shadow_a.n++].size = 5 * MiB;
    CHECK(fa_heap_stats(h, &before));
    CHECK_EQ_SZ(before.huge_blocks, 1);
    CHECK_GE_SZ(before.huge_bytes, 5 * MiB);
    CHECK_GE_SZ(before.reserved_bytes, after.reserved_bytes + 5 * MiB);
    compare(h, &shadow_a, 0, "first-class: after the tiers");
    free_all(&shadow_a);
    compare(h, &shadow_a, 0, "first-class: tiers freed");
    fa_heap_destroy(h);
}

/* Medium pages start just big enough for two blocks (eight in a region's geometry, which keeps the
   first size) and double with each fresh page a heap makes for the class while its other pages are
   full (up to FA__MEDIUM_PAGE_SLICES) and halve with each page the heap gives back: one block of
   every medium class holds one first-size page each, many blocks of one class fill few pages, and
   once those went back the class makes pages of its first size again; a class whose only page
   went back gets a page of the size it had, not a bigger one. */
enum { MEDIUM_MANY = 400 };
static void test_medium_pages(void) {
    harness_section("first-class: medium pages start small and grow with use");
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    unsigned shift = FASTALLOC_SLICE_SHIFT;
    size_t slice = (size_t)1 << shift;
    static void* one[64];
    static void* many[MEDIUM_MANY];
    size_t classes = 0, first_bytes = 0;
    for (size_t bin = fa__bin_of(fa__geometry_small_max(shift) + 1); fa__bin_size(bin) <= fa__geometry_medium_max(shift); bin++) {
        size_t bs = fa__bin_size(bin);
        CHECK((one[classes] = fa_heap_malloc(h, bs)) != NULL);
        classes++;
        first_bytes += fa__page_slices_for(bs, shift) * slice;
    }
    fa_heap_stats_t st, before;
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.pages_medium, classes);
    CHECK_EQ_SZ(st.page_bytes, first_bytes);
    if (FA__REGION_SHIFT != FASTALLOC_SLICE_SHIFT) CHECK(first_bytes < classes * FA__MEDIUM_PAGE_SLICES * slice / 2);

    /* the smallest medium class (first page: one slice with an OS): pages of twice, four times ...
       the first size, up to FA__MEDIUM_PAGE_SLICES slices, hold MEDIUM_MANY blocks in a few pages,
       where pages of the first size (a region's geometry) take one per first page's worth */
    size_t bs = fa__bin_size(fa__bin_of(fa__geometry_small_max(shift) + 1));
    size_t first_slices = fa__page_slices_for(bs, shift), first_blocks = first_slices * slice / bs;
    before = st;
    for (size_t i = 0; i < MEDIUM_MANY; i++) CHECK((many[i] = fa_heap_malloc(h, bs)) != NULL);
    CHECK(fa_heap_stats(h, &st));
    size_t pages = st.pages_medium - before.pages_medium, want = 0;
    if (FA__REGION_SHIFT != FASTALLOC_SLICE_SHIFT) {
        size_t room = first_blocks - 1, next = first_slices;   /* the first page holds one block already; the
                                                                  next is made as it fills, at its size */
        while (room < MEDIUM_MANY) {
            room += next * slice / bs;
            want++;
            next = next * 2 > FA__MEDIUM_PAGE_SLICES ? FA__MEDIUM_PAGE_SLICES : next * 2;
        }
        CHECK_EQ_SZ(pages, want);
    } else {
        CHECK_EQ_SZ(pages, MEDIUM_MANY / first_blocks);   /* ceil((MEDIUM_MANY - (first_blocks - 1)) / first_blocks) */
    }
    CHECK_GE_SZ(st.page_bytes - before.page_bytes, (MEDIUM_MANY - first_blocks) * bs);
    for (size_t i = 0; i < MEDIUM_MANY; i++) fa_free(many[i]);

    /* those pages given back (the heap collected; the class's first page keeps its one block),
       each halves the size the class had grown to: with the first page full again, the next page
       is of the first size, not of FA__MEDIUM_PAGE_SLICES */
    fa_heap_collect(h);
    CHECK(fa_heap_stats(h, &before));
    CHECK_EQ_SZ(before.pages_medium, classes);
    for (size_t i = 0; i + 1 < first_blocks; i++) CHECK((many[i] = fa_heap_malloc(h, bs)) != NULL);
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.page_bytes, before.page_bytes);   /* the first page took them */
    CHECK((many[first_blocks - 1] = fa_heap_malloc(h, bs)) != NULL);
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.page_bytes - before.page_bytes, first_slices * slice);
    for (size_t i = 0; i < first_blocks; i++) fa_free(many[i]);

    /* the second medium class (one block, on its first page): that page given back (the block
       freed, the heap collected), the next one is of the first size again, round after round; only
       a page made while the others are full makes the next one bigger */
    size_t second = fa__bin_size(fa__bin_of(fa__geometry_small_max(shift) + 1) + 1);
    size_t second_first = fa__page_slices_for(second, shift) * slice;
    CHECK(2 * second_first <= FA__MEDIUM_PAGE_SLICES * slice);   /* room to grow, so a wrong growth shows */
    for (int round = 0; round < 3; round++) {
        fa_free(one[1]);
        fa_heap_collect(h);
        CHECK(fa_heap_stats(h, &before));
        CHECK((one[1] = fa_heap_malloc(h, second)) != NULL);
        CHECK(fa_heap_stats(h, &st));
        CHECK_EQ_SZ(st.page_bytes - before.page_bytes, second_first);
    }
    for (size_t i = 0; i < classes; i++) fa_free(one[i]);
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.live_blocks, 0);
    fa_heap_destroy(h);
}

#if VISIT_THREADS
enum { CROSS = 3000 };
static void* cross_blocks[CROSS];
static void* free_odd(void* arg) {
    (void)arg;
    for (size_t i = 1; i < CROSS; i += 2) fa_free(cross_blocks[i]);
    return NULL;
}
static void test_cross_thread(void) {
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    shadow_a.n = 0;
    for (size_t i = 0; i < CROSS; i++) cross_blocks[i] = fa_heap_malloc(h, i % 3 == 0 ? 48 : 3000);
    pthread_t t;
    pthread_create(&t, NULL, free_odd, NULL);
    pthread_join(t, NULL);
    for (size_t i = 0; i < CROSS; i += 2) { shadow_a.b[shadow_a.n].p = cross_blocks[i]; shadow_a.b[shadow_a.n++].size = i % 3 == 0 ? 48 : 3000; }
    harness_section("stats before any visit: cross-thread frees taken in");
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.live_blocks, shadow_a.n);
    compare(h, &shadow_a, 0, "blocks freed by another thread are not reported");
    fa_heap_reset(h);
    shadow_a.n = 0;
    compare(h, &shadow_a, 0, "cross-thread: reset");
    fa_heap_destroy(h);
}
#endif

/* largest_free: allocated it succeeds, one region slice more fails (empty pages given back first,
   as fa_heap_malloc would give them back before it fails). */
static void check_largest(fa_heap_t* h, size_t region, const char* what) {
    harness_section(what);
    fa_heap_collect(h);
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK_EQ_SZ(st.region_bytes, region);
    CHECK_GE_SZ(st.free_bytes, st.largest_free);
    CHECK_LE_SZ(st.fragmentation, 1000);
    if (st.free_bytes != 0)
        CHECK_EQ_SZ(st.fragmentation, (st.free_bytes - st.largest_free) * 1000 / st.free_bytes);
    if (st.largest_free != 0) {
        void* p = fa_heap_malloc(h, st.largest_free);
        CHECKF(p != NULL, "%s: largest_free %zu", what, st.largest_free);
        fa_free(p);
    }
    fa_heap_collect(h);
    void* q = fa_heap_malloc(h, st.largest_free + FA__REGION_SLICE_SIZE);
    CHECKF(q == NULL, "%s: %zu + a slice", what, st.largest_free);
    fa_free(q);
}

static void test_region(void) {
    uint64_t rng = 3;
    size_t size = 8 * MiB + 12345;
    unsigned char* mem = (unsigned char*)malloc(size);
    CHECK(mem != NULL);
    if (mem == NULL) return;
    fa_heap_t* h = fa_heap_new_in_region(mem + 3, size - 3);
    CHECK(h != NULL);
    if (h == NULL) { free(mem); return; }
    shadow_a.n = 0;
    check_largest(h, size - 3, "region: empty");
    fa_heap_stats_t st;
    CHECK(fa_heap_stats(h, &st));
    CHECK(st.largest_free > 7 * MiB && st.fragmentation == 0);
    churn(h, &shadow_a, NULL, &rng, 2000, 40 * KiB, 400 * KiB);
    compare(h, &shadow_a, 0, "region: random blocks");
    check_largest(h, size - 3, "region: random blocks, largest free");
    early_stop(h, shadow_a.n);
    for (size_t i = 0; i < shadow_a.n; i += 2) drop(&shadow_a, i);
    compare(h, &shadow_a, 0, "region: half freed");
    check_largest(h, size - 3, "region: half freed, largest free");
    /* fill it: what is left is all fragments */
    while (shadow_a.n < MAX_BLOCKS - 1) {
        void* p = fa_heap_malloc(h, 20 * KiB);
        if (p == NULL) break;
        shadow_a.b[shadow_a.n].p = p; shadow_a.b[shadow_a.n++].size = 20 * KiB;
    }
    compare(h, &shadow_a, 0, "region: filled");
    check_largest(h, size - 3, "region: filled, largest free");
    fa_heap_reset(h);
    shadow_a.n = 0;
    compare(h, &shadow_a, 0, "region: reset");
    check_largest(h, size - 3, "region: after reset");
    fa_heap_destroy(h);
    free(mem);
}

static void test_einval(void) {
    harness_section("EINVAL");
    errno = 0;
    CHECK(!fa_heap_visit(NULL, NULL, NULL));
    CHECK_EQ_SZ((size_t)errno, (size_t)EINVAL);
    errno = 0;
    CHECK(!fa_heap_stats(NULL, NULL));
    CHECK_EQ_SZ((size_t)errno, (size_t)EINVAL);
}

int main(void) {
    test_thread_heap();
    test_first_class();
    test_medium_pages();
#if VISIT_THREADS
    test_cross_thread();
#endif
    test_region();
    test_einval();
    return harness_finish();
}
