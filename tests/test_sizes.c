#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_sizes.c — size coverage: every size 0..4096, a stepped sweep to 1 MiB, power-of-two
   boundaries and huge sizes, many live blocks per size with per-block patterns (overlap
   detection), the usable-size and alignment rules, mixed free orders, and large batches checked
   for non-overlapping [p, p+usable) ranges. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    char* p;
    size_t size;   /* requested */
    size_t usable; /* fa_usable_size at allocation */
    uint64_t seed;
} blk_t;

static void fill_blk(blk_t* b) { harness_fill_upto(b->p, b->usable, b->seed, 4 * MiB); }
static size_t verify_blk(const blk_t* b) { return harness_verify_upto(b->p, b->usable, b->usable, b->seed, 4 * MiB); }

static uint64_t g_rng = 0x1234567887654321ULL;

static void shuffle(blk_t* v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(harness_rand(&g_rng) % i);
        blk_t t = v[i - 1]; v[i - 1] = v[j]; v[j] = t;
    }
}

typedef struct {
    size_t nulls, small_usable, misaligned, corrupt, usable_changed;
} counts_t;

/* Allocates v[i].size for every entry, records usable size, checks the rules and fills. */
static void alloc_all(blk_t* v, size_t n, counts_t* c) {
    for (size_t i = 0; i < n; i++) {
        blk_t* b = &v[i];
        b->p = (char*)fa_malloc(b->size);
        if (!b->p) { c->nulls++; b->usable = 0; continue; }
        b->usable = fa_usable_size(b->p);
        if (b->usable < b->size) {
            if (c->small_usable++ < 3)
                fprintf(stderr, "    size %zu: usable %zu\n", b->size, b->usable);
        }
        if ((uintptr_t)b->p % harness_min_align(b->size) != 0) {
            if (c->misaligned++ < 3)
                fprintf(stderr, "    size %zu: misaligned %p\n", b->size, (void*)b->p);
        }
        fill_blk(b);
    }
}

/* Verifies every block, then frees them in an order chosen by `order`. */
static void verify_and_free(blk_t* v, size_t n, counts_t* c, int order) {
    for (size_t i = 0; i < n; i++) {
        if (!v[i].p) continue;
        size_t at = verify_blk(&v[i]);
        if (at != HARNESS_OK) {
            if (c->corrupt++ < 3)
                fprintf(stderr, "    block %p size %zu usable %zu corrupted at %zu\n",
                        (void*)v[i].p, v[i].size, v[i].usable, at);
        }
        if (fa_usable_size(v[i].p) != v[i].usable) c->usable_changed++;
    }
    switch (order & 3) {
    case 0:
        for (size_t i = 0; i < n; i++) fa_free(v[i].p);
        break;
    case 1:
        for (size_t i = n; i > 0; i--) fa_free(v[i - 1].p);
        break;
    case 2:
        for (size_t i = 0; i < n; i += 2) fa_free(v[i].p);
        for (size_t i = 1; i < n; i += 2) fa_free(v[i].p);
        break;
    default:
        shuffle(v, n);
        for (size_t i = 0; i < n; i++) fa_free(v[i].p);
        break;
    }
}

static void check_counts(const counts_t* c, const char* what) {
    CHECKF(c->nulls == 0, "%s: %zu allocations failed", what, c->nulls);
    CHECKF(c->small_usable == 0, "%s: %zu blocks with usable < size", what, c->small_usable);
    CHECKF(c->misaligned == 0, "%s: %zu misaligned blocks", what, c->misaligned);
    CHECKF(c->corrupt == 0, "%s: %zu corrupted blocks (overlap?)", what, c->corrupt);
    CHECKF(c->usable_changed == 0, "%s: %zu blocks whose usable size changed", what, c->usable_changed);
}

/* Runs sizes[0..nsizes) with `per` blocks each, all live at once, interleaved by size. */
static void run_group(const size_t* sizes, size_t nsizes, size_t per, int order, counts_t* c) {
    size_t n = nsizes * per;
    blk_t* v = (blk_t*)calloc(n, sizeof(blk_t));
    for (size_t k = 0; k < per; k++)
        for (size_t i = 0; i < nsizes; i++) {
            blk_t* b = &v[k * nsizes + i];
            b->size = sizes[i];
            b->seed = harness_mix64(sizes[i] * 131 + k + 1);
        }
    alloc_all(v, n, c);
    verify_and_free(v, n, c, order);
    free(v);
}

static void test_every_small_size(void) {
    harness_section("sizes 0..4096");
    enum { WINDOW = 128, PER = 8 };
    counts_t c = {0, 0, 0, 0, 0};
    size_t sizes[WINDOW];
    int order = 0;
    for (size_t lo = 0; lo <= 4096; lo += WINDOW) {
        size_t n = 0;
        for (size_t s = lo; s < lo + WINDOW && s <= 4096; s++) sizes[n++] = s;
        run_group(sizes, n, PER, order++, &c);
    }
    check_counts(&c, "0..4096");
}

static void test_stepped_sweep(void) {
    harness_section("sweep to 1 MiB");
    counts_t c = {0, 0, 0, 0, 0};
    size_t sizes[8];
    size_t n = 0;
    int order = 0;
    for (size_t s = 4097; s <= MiB; s += s / 16 + 13) {
        sizes[n++] = s;
        if (n == ARRAY_LEN(sizes)) { run_group(sizes, n, 6, order++, &c); n = 0; }
    }
    sizes[n++] = MiB;
    run_group(sizes, n, 6, order++, &c);
    check_counts(&c, "sweep");
}

static void test_pow2_boundaries(void) {
    harness_section("power-of-two boundaries");
    counts_t c = {0, 0, 0, 0, 0};
    int order = 0;
    for (int k = 3; k <= 26; k++) {
        size_t p2 = (size_t)1 << k;
        size_t sizes[] = {p2 - 1, p2, p2 + 1, p2 + p2 / 2};
        size_t per = p2 <= 64 * KiB ? 16 : (p2 <= 4 * MiB ? 4 : 2);
        run_group(sizes, ARRAY_LEN(sizes) - (k >= 25 ? 1 : 0), per, order++, &c);
    }
    check_counts(&c, "pow2");
}

static void test_huge(void) {
    harness_section("huge sizes");
    counts_t c = {0, 0, 0, 0, 0};
    static const size_t sizes[] = {2 * MiB + 1, 3 * MiB, 4 * MiB - 64 * KiB, 4 * MiB - 64 * KiB + 1,
                                   4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 5 * MiB + 3, 8 * MiB + 1,
                                   32 * MiB - 1};
    for (int order = 0; order < 4; order++) run_group(sizes, ARRAY_LEN(sizes), 3, order, &c);
    static const size_t big[] = {64 * MiB};
    run_group(big, 1, 2, 1, &c);
    check_counts(&c, "huge");
}

static int cmp_blk_addr(const void* a, const void* b) {
    uintptr_t x = (uintptr_t)((const blk_t*)a)->p, y = (uintptr_t)((const blk_t*)b)->p;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Sorts by address and counts blocks whose [p, p+usable) intersects the next one. */
static size_t count_overlaps(blk_t* v, size_t n) {
    qsort(v, n, sizeof(blk_t), cmp_blk_addr);
    size_t bad = 0;
    for (size_t i = 1; i < n; i++) {
        if (!v[i - 1].p || !v[i].p) continue;
        if ((uintptr_t)v[i - 1].p + v[i - 1].usable > (uintptr_t)v[i].p) {
            if (bad++ < 3)
                fprintf(stderr, "    overlap: %p+%zu and %p\n", (void*)v[i - 1].p, v[i - 1].usable,
                        (void*)v[i].p);
        }
    }
    return bad;
}

static void test_batches(void) {
    harness_section("batches");
    struct { size_t count, size; } spec[] = {
        {100000, 16}, {10000, KiB}, {1000, 40 * KiB}, {200, 300 * KiB}, {20000, 48}, {3000, 3000},
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_LEN(spec); i++) total += spec[i].count;
    blk_t* v = (blk_t*)calloc(total, sizeof(blk_t));
    counts_t c = {0, 0, 0, 0, 0};
    size_t at = 0;
    for (size_t i = 0; i < ARRAY_LEN(spec); i++) {
        blk_t* start = v + at;
        for (size_t k = 0; k < spec[i].count; k++, at++) {
            v[at].size = spec[i].size;
            v[at].seed = harness_mix64(at + 77);
        }
        alloc_all(start, spec[i].count, &c);
        /* each batch on its own is overlap free */
        blk_t* copy = (blk_t*)malloc(spec[i].count * sizeof(blk_t));
        memcpy(copy, start, spec[i].count * sizeof(blk_t));
        CHECKF(count_overlaps(copy, spec[i].count) == 0, "batch of %zu x %zu overlaps", spec[i].count,
               spec[i].size);
        free(copy);
    }
    /* and all batches together */
    CHECK_EQ_SZ(count_overlaps(v, total), 0);
    /* free a random half, allocate replacements, check again */
    shuffle(v, total);
    size_t half = total / 2;
    for (size_t i = 0; i < half; i++) {
        if (v[i].p && verify_blk(&v[i]) != HARNESS_OK) c.corrupt++;
        fa_free(v[i].p);
        v[i].p = NULL;
        v[i].seed ^= 0xABCDEF;
    }
    alloc_all(v, half, &c);
    CHECK_EQ_SZ(count_overlaps(v, total), 0);
    verify_and_free(v, total, &c, 3);
    check_counts(&c, "batches");
    free(v);
}

/* Random sizes, with mostly small ones, churned for a while in one pool. */
static void test_random_pool(void) {
    harness_section("random pool");
    size_t n = harness_scale(20000, 4);
    size_t rounds = harness_scale(20, 4);
    blk_t* v = (blk_t*)calloc(n, sizeof(blk_t));
    counts_t c = {0, 0, 0, 0, 0};
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = harness_rand(&rng);
        v[i].size = (r % 100 < 90) ? (size_t)(r >> 32) % 600 : (size_t)(r >> 32) % 70000;
        v[i].seed = r;
    }
    alloc_all(v, n, &c);
    for (size_t round = 0; round < rounds; round++) {
        /* replace a random tenth of the pool */
        for (size_t k = 0; k < n / 10; k++) {
            size_t i = (size_t)(harness_rand(&rng) % n);
            if (v[i].p && verify_blk(&v[i]) != HARNESS_OK) c.corrupt++;
            fa_free(v[i].p);
            uint64_t r = harness_rand(&rng);
            v[i].size = (r % 100 < 90) ? (size_t)(r >> 32) % 600 : (size_t)(r >> 32) % 70000;
            v[i].seed = r;
            alloc_all(&v[i], 1, &c);
        }
    }
    blk_t* copy = (blk_t*)malloc(n * sizeof(blk_t));
    memcpy(copy, v, n * sizeof(blk_t));
    CHECK_EQ_SZ(count_overlaps(copy, n), 0);
    free(copy);
    verify_and_free(v, n, &c, 2);
    check_counts(&c, "random pool");
    free(v);
}

int main(void) {
    test_every_small_size();
    test_stepped_sweep();
    test_pow2_boundaries();
    test_huge();
    test_batches();
    test_random_pool();
    return harness_finish();
}
