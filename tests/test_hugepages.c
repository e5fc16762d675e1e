#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_hugepages.c — FASTALLOC_HUGE_PAGES (default: segments from 32 MiB mapped or 8 MiB held by
   the heap asking, huge blocks of 2-64 MiB always). Linux marks a mapping advised MADV_HUGEPAGE
   with "hg" in its VmFlags (/proc/self/smaps), whatever the system's THP mode, so the suite reads
   the advice itself. A fresh mapping (the allocation raised os_map_calls) must carry it exactly
   when the build asks for huge pages, the kernel has them, and it is a huge block within the cap or
   a segment mapped once at least FASTALLOC_HUGE_PAGES MiB were, once the heap held a quarter of
   that in segments (fa_heap_stats' reserved_bytes: with no spare segment, as when one is mapped,
   the heap's segments) or for a block of a MiB or more: so below the threshold a 6 MiB huge block is advised and a heap's second
   segment is not, but its third is, and so is a segment mapped for a 1.5 MiB block (half a huge
   page or more); above it a new segment and a 30 MiB huge block are (the blocks
   starting on a 2 MiB boundary), and an 80 MiB huge block never is (above the 64 MiB cap). In every build
   memory keeps its contents across segments and huge blocks, and fa_collect(true) gives freed
   memory back: resident memory falls by most of what was freed, huge pages or not. Where there is
   no /proc (other systems) only the content checks run. And a mapping given back is where the next
   one goes (the mapping hint, POSIX systems): see test_mapping_hint. */

#include <stdbool.h>
#include <unistd.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define HAS_MMAP 1
#else
#define HAS_MMAP 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__linux__) && !defined(FASTALLOC_PORTABLE_POSIX) && (FASTALLOC_HUGE_PAGES + 0) >= 0
#define BUILD_ASKS 1
#define FROM_MIB (FASTALLOC_HUGE_PAGES + 0)
#else
#define BUILD_ASKS 0
#define FROM_MIB 0
#endif
/* The threshold in bytes (a function: with 0, comparisons against a constant would draw warnings). */
static size_t from_bytes(void) { return (size_t)FROM_MIB * MiB; }

/* 1: the mapping holding p is advised MADV_HUGEPAGE, 0: it is not, -1: no smaps to say. */
static int advised(const void* p) {
#if defined(__linux__)
    FILE* f = fopen("/proc/self/smaps", "r");
    if (f == NULL) return -1;
    char line[512];
    bool inside = false;
    int result = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long lo, hi;
        if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') == line + strspn(line, "0123456789abcdef")) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            result = strstr(line, " hg") != NULL ? 1 : 0;
            break;
        }
    }
    fclose(f);
    return result;
#else
    (void)p;
    return -1;
#endif
}

/* Resident bytes of the process, 0 where /proc/self/statm is missing. */
static size_t resident_bytes(void) {
#if defined(__linux__)
    FILE* f = fopen("/proc/self/statm", "r");
    if (f == NULL) return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (size_t)resident * 4096u : 0;
#else
    return 0;
#endif
}

/* Whether the kernel was built with transparent huge pages (else madvise refuses the advice). */
static bool kernel_has_thp(void) {
#if defined(__linux__)
    return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
#else
    return false;
#endif
}

static void stats(size_t* mapped, size_t* maps) {
    fa_stats_t s;
    fa_stats_get(&s);
    *mapped = s.mapped_bytes;
    *maps = s.os_map_calls;
}

/* What the thread's heap holds in segments (and its spare, which a new segment would be taken from
   before mapping one). */
static size_t heap_reserved(void) {
    fa_heap_stats_t hs;
    CHECK(fa_heap_stats(NULL, &hs));
    return hs.reserved_bytes;
}

/* Allocates `size` and, when that made a fresh mapping, checks its advice against the rule: asked
   for when the build asks, the kernel can, the mapping qualifies (`eligible`: a segment, or a huge
   block within the cap) and from_bytes() were mapped before. Returns the block; *fresh: it mapped. */
static void* alloc_checked(const char* what, size_t size, bool eligible, bool* fresh) {
    size_t mapped_before, maps_before, mapped_after, maps_after, held_before = heap_reserved();
    stats(&mapped_before, &maps_before);
    void* p = fa_malloc(size);
    stats(&mapped_after, &maps_after);
    CHECKF(p != NULL, "%s: fa_malloc(%zu) failed", what, size);
    *fresh = maps_after > maps_before;
    if (p == NULL || !*fresh) return p;
    bool in_segment = size <= FA__LARGE_MAX;   /* else a huge block: advised whatever is mapped */
    bool want = BUILD_ASKS && kernel_has_thp() && eligible
                && (!in_segment || mapped_before >= from_bytes() || held_before >= from_bytes() / 4
                    || fa_good_size(size) >= MiB);
    int got = advised(p);
    if (got >= 0)
        CHECKF(got == (int)want, "%s at %p (%zu MiB mapped, %zu KiB held by the heap before): MADV_HUGEPAGE advice %d, expected %d",
               what, p, mapped_before / MiB, held_before / KiB, got, (int)want);
    if (want && size >= 2 * MiB) CHECK_ALIGNED(p, 2 * MiB);
    return p;
}

/* A block of `size` that lands in a segment mapped by this very call: blocks of that size are
   allocated (and kept) until one makes the allocator map a segment. */
static void check_new_segment(const char* what, size_t size, void** keep, size_t keep_max) {
    size_t n = 0;
    bool fresh = false;
    while (n < keep_max && !fresh) {
        keep[n] = alloc_checked(what, size, true, &fresh);
        if (keep[n++] == NULL) break;
    }
    CHECKF(fresh, "%s: no new segment after %zu blocks of %zu bytes", what, n, size);
    for (size_t i = 0; i < n; i++) fa_free(keep[i]);
}

/* Conditions on the heap just before an allocation that maps a segment. */
static bool heap_quiet(void) {
    size_t mapped, maps;
    stats(&mapped, &maps);
    return heap_reserved() < from_bytes() / 4 && mapped < from_bytes();
}
static bool heap_busy(void) { return heap_reserved() >= from_bytes() / 4; }

/* Blocks of `size` are allocated and kept in keep[] (*n of them; the caller frees them) until one
   maps a segment while `before()` held just before it; that segment must be advised where smaps
   can say. Returns whether such a segment was mapped. */
static bool advised_segment_when(const char* what, size_t size, bool (*before)(void), void** keep, size_t keep_max, size_t* n) {
    bool mapped = false, fresh;
    *n = 0;
    while (*n < keep_max && !mapped) {
        bool held = before();
        keep[*n] = alloc_checked(what, size, true, &fresh);
        if (keep[(*n)++] == NULL) break;
        if (fresh && held) {
            mapped = true;
            if (BUILD_ASKS && kernel_has_thp() && advised(keep[*n - 1]) >= 0) CHECK(advised(keep[*n - 1]) == 1);
        }
    }
    return mapped;
}

static void test_advice(void) {
    harness_section("advice below and above the threshold");
    static void* keep[1024];
    bool fresh;
    size_t mapped, maps;
    stats(&mapped, &maps);
    /* below: only when this build's threshold is above what the process has mapped so far */
    if (mapped + 6 * MiB < from_bytes()) {
        void* below = alloc_checked("6 MiB huge block below the threshold", 6 * MiB, true, &fresh);   /* cached when freed */
        CHECK(fresh);
        check_new_segment("segment below the threshold", 512 * KiB, keep, 1024);
        fa_free(below);
    }
    /* below, the heap holding little, but the segment is mapped for a block of half a huge page or
       more (1.5 MiB, a page of the large tier): advised at once. fa_collect(true) first and after:
       the cached huge block and the spare segment go back, so the next case has room too. */
    fa_collect(true);
    stats(&mapped, &maps);
    if (BUILD_ASKS && FROM_MIB >= 16) {
        size_t held = heap_reserved(), n = 0;
        CHECKF(mapped + 2 * (size_t)FA__SEGMENT_SIZE < from_bytes() && held < from_bytes() / 4,
               "no room below the thresholds for the big-block case: %zu MiB mapped, %zu MiB held", mapped / MiB, held / MiB);
        bool big_mapped = advised_segment_when("segment for 1.5 MiB blocks", 1536 * KiB, heap_quiet, keep, 16, &n);
        CHECKF(big_mapped, "no segment mapped below the thresholds for 1.5 MiB blocks after %zu blocks", n);
        for (size_t i = 0; i < n; i++) fa_free(keep[i]);
        fa_collect(true);
    }
    /* below, but the heap fills segments: from the one it maps while holding a quarter of the
       threshold, its segments are advised (alloc_checked checks each fresh one either way) */
    stats(&mapped, &maps);
    if (BUILD_ASKS && FROM_MIB == 32)
        CHECKF(mapped + 3 * (size_t)FA__SEGMENT_SIZE < from_bytes(), "no room below the threshold for the heap case: %zu MiB mapped", mapped / MiB);
    if (mapped + 3 * (size_t)FA__SEGMENT_SIZE < from_bytes() && from_bytes() / 4 <= 2 * (size_t)FA__SEGMENT_SIZE) {
        size_t n = 0;
        bool busy_heap_mapped = advised_segment_when("segment of a heap that fills segments", 512 * KiB, heap_busy, keep, 1024, &n);
        CHECKF(busy_heap_mapped, "no segment mapped for a heap holding %zu KiB after %zu blocks", heap_reserved() / KiB, n);
        stats(&mapped, &maps);
        CHECKF(mapped < from_bytes(), "the global threshold was crossed (%zu MiB mapped): the case did not test the heap's", mapped / MiB);
        for (size_t i = 0; i < n; i++) fa_free(keep[i]);
    }
    /* cross it with blocks above the cap (never advised), kept while the rest is checked */
    void* giant[4] = { NULL, NULL, NULL, NULL };
    for (size_t i = 0; i < 4; i++) {
        giant[i] = alloc_checked("80 MiB huge block", 80 * MiB, false, &fresh);
        CHECK(fresh);
    }
    stats(&mapped, &maps);
    CHECK_GE_SZ(mapped, from_bytes());
    void* huge = alloc_checked("30 MiB huge block above the threshold", 30 * MiB, true, &fresh);   /* too big for the cached one */
    CHECK(fresh);
    check_new_segment("segment of 512 KiB blocks", 512 * KiB, keep, 1024);
    check_new_segment("segment of 20 KiB blocks", 20 * KiB, keep, 1024);
    fa_free(huge);
    for (size_t i = 0; i < 4; i++) fa_free(giant[i]);
}

/* Blocks of every tier filled with a pattern, checked after the others were written. */
static void test_contents(void) {
    harness_section("contents across segments and huge blocks");
    enum { N = 400 };
    static unsigned char* blocks[N];
    static size_t sizes[N];
    for (size_t i = 0; i < N; i++) {
        sizes[i] = i % 50 == 49 ? (3 + i % 5) * MiB : i % 7 == 0 ? 200 * KiB + i : 16 + (i * 37) % 3000;
        blocks[i] = (unsigned char*)fa_malloc(sizes[i]);
        CHECK(blocks[i] != NULL);
        if (blocks[i] != NULL) harness_fill_sparse(blocks[i], sizes[i], (uint32_t)i);
    }
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        if (blocks[i] != NULL && harness_verify_sparse(blocks[i], sizes[i], (uint32_t)i) != HARNESS_OK) bad++;
    CHECK_EQ_SZ(bad, 0);
    for (size_t i = 0; i < N; i++) fa_free(blocks[i]);
}

/* 96 MiB of small and medium blocks, every page written, then freed: fa_collect(true) must hand
   it back, also where the kernel backed it with huge pages (a purge of part of one splits it). */
static void test_memory_returns(void) {
    harness_section("freed memory returns to the OS");
    if (HARNESS_TOOLS || resident_bytes() == 0) return;   /* shadow memory hides the figure */
    enum { N = 96 * 1024 / 16 };
    static unsigned char* blocks[N];
    for (size_t i = 0; i < N; i++) {
        blocks[i] = (unsigned char*)fa_malloc(i % 2 ? 16 * KiB : 16 * KiB - 64);
        CHECK(blocks[i] != NULL);
        if (blocks[i] != NULL) FASTALLOC_MEMSET(blocks[i], (int)(i & 0xff), 16 * KiB - 64);
    }
    size_t peak = resident_bytes();
    for (size_t i = 0; i < N; i++) fa_free(blocks[i]);
    fa_collect(true);
    size_t after = resident_bytes();
    CHECKF(after + 64 * MiB <= peak, "resident %zu KiB at the peak, %zu KiB after fa_collect(true)", peak / KiB, after / KiB);
}

/* A huge block of 40 MiB (past the huge cache's 32 MiB, so its free unmaps it) leaves its range as
   the hint for the next mapping, so the next block of that size comes back at the same address
   (valgrind places mappings itself: compared only without it). When something else took the
   range meanwhile (a page the test maps in its middle), the next block goes elsewhere: aligned to
   the slice as every huge block is, not over that page (whose bytes stay), its own bytes kept. */
static void test_mapping_hint(void) {
    harness_section("a mapping given back is where the next one goes");
#if HAS_MMAP
    const size_t size = 40 * MiB;
    size_t mapped, maps_before, maps_after;
    stats(&mapped, &maps_before);
    unsigned char* first = (unsigned char*)fa_malloc(size);
    CHECK(first != NULL);
    stats(&mapped, &maps_after);
    if (first == NULL || maps_after == maps_before) { fa_free(first); return; }   /* not from the OS: a region build */
    harness_fill_sparse(first, size, 1);
    CHECK(harness_verify_sparse(first, size, 1) == HARNESS_OK);
    fa_free(first);
    unsigned char* again = (unsigned char*)fa_malloc(size);
    CHECK(again != NULL);
    if (again == NULL) return;
    if (!harness_under_valgrind()) CHECKF(again == first, "freed at %p, the next block at %p", (void*)first, (void*)again);
    harness_fill_sparse(again, size, 2);
    CHECK(harness_verify_sparse(again, size, 2) == HARNESS_OK);
    fa_free(again);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char* wanted = (unsigned char*)(((uintptr_t)again + size / 2) & ~(uintptr_t)(page - 1));
    void* got = mmap(wanted, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(got != MAP_FAILED);
    if (got == MAP_FAILED) return;
    unsigned char* taken = (unsigned char*)got;
    FASTALLOC_MEMSET(taken, 0x5a, page);
    unsigned char* moved = (unsigned char*)fa_malloc(size);
    CHECK(moved != NULL);
    if (moved != NULL) {
        CHECK_ALIGNED(moved, FA__SLICE_SIZE);
        CHECKF(moved + size <= taken || moved >= taken + page, "block %p..%p over the page at %p", (void*)moved, (void*)(moved + size), (void*)taken);
        harness_fill_sparse(moved, size, 3);
        CHECK(harness_verify_sparse(moved, size, 3) == HARNESS_OK);
    }
    size_t changed = 0;
    for (size_t i = 0; i < page; i++) changed += taken[i] != 0x5a;
    CHECK_EQ_SZ(changed, 0);
    fa_free(moved);
    munmap(got, page);
#endif
}

int main(void) {
    printf("test_hugepages: huge pages asked for from %zu MiB mapped (%s), kernel THP: %s\n", from_bytes() / MiB,
           BUILD_ASKS ? "this build asks" : "this build never asks", kernel_has_thp() ? "yes" : "no");
    test_advice();
    test_contents();
    test_memory_returns();
    test_mapping_hint();
    return harness_finish();
}
