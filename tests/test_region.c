#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE   /* readlink under -std=c11 (fastalloc.h defines it too, but not with FASTALLOC_NO_OS) */
#endif
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#define HARNESS_NO_REGION   /* this suite sets up its default region itself */
#include "harness.h"

/* test_region.c — fastalloc inside caller memory (fa_heap_new_in_region, fa_init_region).

   For regions of 64 KiB, 1 MiB and REGION_BIG bytes, placed at odd addresses: every byte handed out
   lies inside the region; filling it ends in NULL + ENOMEM; freeing makes room again (for the same
   sizes and, once pages empty, for any size); destroy gives the whole region back (a new heap in
   the same memory holds exactly as much as the first); reset keeps the pages; zeroing holds on
   memory the caller left dirty; aligned and realloc paths stay inside; not one OS call is made.
   Bad regions are refused with EINVAL. Runs in every build: with an OS (segments of 4 MiB at
   multiples of 4 MiB, so a region needs one such boundary) and with FASTALLOC_NO_OS (any
   placement works), on the host and on the Cortex-M board (tests/embedded). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if !defined(FASTALLOC_SINGLE_THREAD)
#include <pthread.h>
#endif
/* The fresh-process tests re-run this program: fork + exec of what /proc/self/exe names on Linux (under an
   emulator such as qemu-user, FA_TEST_EXEC_PREFIX names the command that runs a target binary,
   e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"), _spawnv of the module's own file on Windows. */
#if defined(__linux__) && !defined(FA_TEST_BARE_METAL)
#include <unistd.h>
#include <sys/wait.h>
#define HAVE_PROCESSES 1
#elif defined(_WIN32)
#include <process.h>
#include <windows.h>
#define HAVE_PROCESSES 1
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#ifndef REGION_BIG
#define REGION_BIG (64 * MiB)
#endif

/* Caller memory for the regions: a static array, so the region tests never touch fastalloc's own
   memory (and, on the board, the only memory there is). */
#define ARENA_BYTES (REGION_BIG + 2 * FA__SEGMENT_SIZE + 4 * KiB)
static unsigned char g_arena[ARENA_BYTES];

static unsigned char* arena_at_boundary(void) {
    uintptr_t a = ((uintptr_t)g_arena + FA__SEGMENT_MASK) & ~(uintptr_t)FA__SEGMENT_MASK;
    return (unsigned char*)a;
}

typedef struct {
    unsigned char* p;
    size_t size, usable;
    uint64_t seed;
} blk_t;

typedef struct {
    blk_t* v;
    size_t n, cap;
} blocks_t;

static void blocks_push(blocks_t* b, unsigned char* p, size_t size, size_t usable, uint64_t seed) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 1024;
        b->v = (blk_t*)realloc(b->v, b->cap * sizeof(blk_t));
        if (!b->v) abort();
    }
    blk_t* x = &b->v[b->n++];
    x->p = p; x->size = size; x->usable = usable; x->seed = seed;
}

static void fill_blk(const blk_t* b) { harness_fill_upto(b->p, b->usable, b->seed, 64 * KiB); }
static size_t verify_blk(const blk_t* b) { return harness_verify_upto(b->p, b->usable, b->usable, b->seed, 64 * KiB); }

typedef struct {
    unsigned char* lo;
    size_t size;
    size_t nulls_wrong_errno, outside, small_usable, misaligned;
} region_t;

/* Checks a block just handed out by a region heap and records it. */
static void take(region_t* r, blocks_t* b, void* vp, size_t size, uint64_t seed) {
    unsigned char* p = (unsigned char*)vp;
    size_t u = fa_usable_size(p);
    if (u < size) r->small_usable++;
    if (p < r->lo || u > r->size || (size_t)(p - r->lo) > r->size - u) r->outside++;
    if ((uintptr_t)p % harness_min_align(size) != 0) r->misaligned++;
    blocks_push(b, p, size, u, seed);
    fill_blk(&b->v[b->n - 1]);
}

static size_t random_size(uint64_t* rng, size_t region_size) {
    uint64_t x = harness_rand(rng), pick = x % 100;
    x >>= 8;
    if (pick < 60) return 1 + x % 256;
    if (pick < 85) return 257 + x % (4 * KiB);
    if (pick < 96) return 4 * KiB + x % (FA__LARGE_MAX - 4 * KiB);
    return FA__LARGE_MAX + 1 + x % (region_size / 6);   /* huge: a run of windows */
}

/* Allocates random sizes until 64 requests in a row fail, then the smallest size until that fails
   too: the region is full. Every failure must be NULL with ENOMEM. Returns bytes handed out. */
static size_t fill_region(fa_heap_t* h, region_t* r, blocks_t* b, uint64_t seed, size_t small_size) {
    uint64_t rng = seed;
    size_t misses = 0, bytes = 0;
    while (misses < 64) {
        size_t s = random_size(&rng, r->size);
        errno = 0;
        void* p = fa_heap_malloc(h, s);
        if (p == NULL) { misses++; if (errno != ENOMEM) r->nulls_wrong_errno++; continue; }
        misses = 0;
        take(r, b, p, s, harness_rand(&rng));
        bytes += b->v[b->n - 1].usable;
    }
    for (;;) {
        errno = 0;
        void* p = fa_heap_malloc(h, small_size);
        if (p == NULL) { if (errno != ENOMEM) r->nulls_wrong_errno++; break; }
        take(r, b, p, small_size, harness_rand(&rng));
        bytes += b->v[b->n - 1].usable;
    }
    return bytes;
}

static size_t verify_all(const blocks_t* b) {
    size_t bad = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i].p && verify_blk(&b->v[i]) != HARNESS_OK) bad++;
    return bad;
}

/* How many blocks of `size` a fresh heap in [mem, mem + bytes) holds (then destroys it). */
static size_t capacity(unsigned char* mem, size_t bytes, size_t size) {
    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    if (!h) return 0;
    size_t n = 0;
    while (fa_heap_malloc(h, size) != NULL) n++;
    fa_heap_destroy(h);
    return n;
}

static size_t os_calls(const fa_stats_t* s) {
    return s->os_map_calls + s->os_unmap_calls + s->os_purge_calls + s->os_remap_calls;
}

/* The whole life of one region heap. */
static void exercise(const char* name, unsigned char* mem, size_t bytes, uint64_t seed) {
    harness_section(name);
    size_t small_size = bytes >> 16 > 16 ? bytes >> 16 : 16;
    fa_stats_t s0, s1;
    fa_stats_get(&s0);
    size_t cap0 = capacity(mem, bytes, small_size);
    CHECKF(cap0 > 0, "%s: a fresh heap holds no %zu-byte block", name, small_size);
    CHECKF(cap0 * small_size >= bytes / 2, "%s: only %zu x %zu bytes fit in %zu", name, cap0, small_size, bytes);

    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    CHECK(h != NULL);
    if (!h) return;
    region_t r;
    memset(&r, 0, sizeof r);
    r.lo = mem;
    r.size = bytes;
    blocks_t b = {NULL, 0, 0};
    size_t filled = fill_region(h, &r, &b, seed, small_size);
    CHECKF(filled >= bytes / 2, "%s: full after %zu of %zu bytes", name, filled, bytes);
    CHECK_EQ_SZ(r.nulls_wrong_errno, 0);
    CHECK_EQ_SZ(r.outside, 0);
    CHECK_EQ_SZ(r.small_usable, 0);
    CHECK_EQ_SZ(r.misaligned, 0);
    CHECK_EQ_SZ(verify_all(&b), 0);

    /* free every other block: the same sizes fit again, in place of the freed ones */
    size_t freed = 0, refit = 0;
    for (size_t i = 0; i < b.n; i += 2) { fa_free(b.v[i].p); b.v[i].p = NULL; freed++; }
    CHECK_EQ_SZ(verify_all(&b), 0);
    for (size_t i = 0; i < b.n; i += 2) {
        void* p = fa_heap_malloc(h, b.v[i].size);
        if (!p) continue;
        refit++;
        size_t u = fa_usable_size(p);
        unsigned char* q = (unsigned char*)p;
        if (q < mem || (size_t)(q - mem) > bytes - u) r.outside++;
        b.v[i].p = q;
        b.v[i].usable = u;
        fill_blk(&b.v[i]);
    }
    CHECKF(refit * 100 >= freed * 95, "%s: %zu of %zu freed sizes fit again", name, refit, freed);
    CHECK_EQ_SZ(r.outside, 0);
    CHECK_EQ_SZ(verify_all(&b), 0);

    /* free everything: a fill with the first sequence gets as far as the first one did */
    for (size_t i = 0; i < b.n; i++) fa_free(b.v[i].p);
    b.n = 0;
    size_t again = fill_region(h, &r, &b, seed, small_size);
    CHECKF(again * 10 >= filled * 9, "%s: after freeing everything %zu bytes fit, first time %zu", name, again, filled);
    CHECK_EQ_SZ(r.outside, 0);
    CHECK_EQ_SZ(verify_all(&b), 0);

    /* reset: every block gone at once, the pages stay; the heap fills up again */
    fa_heap_reset(h);
    b.n = 0;
    size_t after_reset = fill_region(h, &r, &b, seed + 1, small_size);
    CHECKF(after_reset * 10 >= filled * 8, "%s: after reset %zu bytes fit, first time %zu", name, after_reset, filled);
    CHECK_EQ_SZ(r.outside, 0);
    CHECK_EQ_SZ(r.nulls_wrong_errno, 0);
    CHECK_EQ_SZ(verify_all(&b), 0);

    /* memory emptied in one size class serves another: after freeing every block, and after a
       reset (whose empty pages stay with the heap), a different size fills the region as far as
       it fills a fresh one */
    fa_heap_reset(h);
    free(b.v);
    b.v = NULL;
    b.n = b.cap = 0;
    size_t other = 3 * small_size + 40, cap_other = 0, n_small = 0, n_other = 0;
    while (fa_heap_malloc(h, small_size) != NULL) n_small++;
    fa_heap_reset(h);
    while (fa_heap_malloc(h, other) != NULL) n_other++;
    CHECKF(n_small * 10 >= cap0 * 9, "%s: %zu x %zu after reset, fresh %zu", name, n_small, small_size, cap0);
    void** keep = (void**)malloc((n_small + 1) * sizeof(void*));
    fa_heap_reset(h);
    size_t k = 0;
    while (k <= n_small && (keep[k] = fa_heap_malloc(h, small_size)) != NULL) k++;
    for (size_t i = 0; i < k; i++) fa_free(keep[i]);
    size_t n_other2 = 0;
    while (fa_heap_malloc(h, other) != NULL) n_other2++;
    free(keep);

    /* destroy with every block live: a new heap in the same memory is as good as the first */
    fa_heap_destroy(h);
    CHECK_EQ_SZ(capacity(mem, bytes, small_size), cap0);
    cap_other = capacity(mem, bytes, other);
    CHECKF(n_other * 100 >= cap_other * 95, "%s: %zu x %zu bytes after a reset of %zu-byte pages, fresh %zu",
           name, n_other, other, small_size, cap_other);
    CHECKF(n_other2 * 100 >= cap_other * 95, "%s: %zu x %zu bytes after freeing %zu-byte blocks, fresh %zu",
           name, n_other2, other, small_size, cap_other);

    fa_stats_get(&s1);
    CHECKF(os_calls(&s1) == os_calls(&s0) && s1.mapped_bytes == s0.mapped_bytes,
           "%s: OS calls %zu -> %zu, mapped %zu -> %zu", name, os_calls(&s0), os_calls(&s1), s0.mapped_bytes,
           s1.mapped_bytes);
}

/* Memory the caller left dirty still reads zero through every zeroing function, in every tier. */
static void test_zeroing(unsigned char* mem, size_t bytes) {
    harness_section("zeroing on dirty memory");
    memset(mem, 0xA5, bytes);
    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    CHECK(h != NULL);
    if (!h) return;
    static const size_t sizes[] = {1, 8, 24, 100, 1000, 5000, 20000, FA__LARGE_MAX - 16, FA__LARGE_MAX + 1,
                                   3 * FA__LARGE_MAX + 5};
    size_t bad = 0, nulls = 0;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            size_t s = sizes[i];
            if (s > bytes / 8) continue;
            unsigned char* p = (unsigned char*)(round == 0 ? fa_heap_zalloc(h, s)
                                              : round == 1 ? fa_heap_calloc(h, s, 1) : fa_heap_calloc(h, 1, s));
            if (!p) { nulls++; continue; }
            if (harness_first_nonzero(p, s) != HARNESS_OK) bad++;
            memset(p, 0x5A, fa_usable_size(p));
            fa_free(p);
        }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad, 0);

    /* rezalloc-style growth through fa_heap_realloc is not promised; fa_rezalloc on a zeroing
       block of the default heap is, and is tested by test_zero in region builds. Here: a zalloc'd
       huge block grown by the thread's realloc keeps its prefix. */
    unsigned char* z = (unsigned char*)fa_heap_zalloc(h, FA__LARGE_MAX + 100);
    CHECK(z != NULL);
    if (z) {
        CHECK(harness_first_nonzero(z, FA__LARGE_MAX + 100) == HARNESS_OK);
        harness_fill(z, FA__LARGE_MAX + 100, 9);
        unsigned char* q = (unsigned char*)fa_heap_realloc(h, z, 2 * FA__LARGE_MAX);
        CHECK(q != NULL);
        if (q) { CHECK(harness_verify(q, FA__LARGE_MAX + 100, 9) == HARNESS_OK); z = q; }
        fa_free(z);
    }
    fa_heap_destroy(h);
}

/* Aligned blocks: aligned, inside, or NULL + ENOMEM when no such address fits. */
static void test_aligned(unsigned char* mem, size_t bytes) {
    harness_section("aligned in a region");
    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    CHECK(h != NULL);
    if (!h) return;
    size_t bad = 0, outside = 0, wrong_errno = 0, got = 0;
    for (size_t al = 8; al <= 4 * FA__SEGMENT_SIZE; al <<= 1) {
        const size_t sizes[] = {1, 100, al, al + al / 2};
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            errno = 0;
            unsigned char* p = (unsigned char*)fa_heap_malloc_aligned(h, sizes[i], al);
            if (!p) { if (errno != ENOMEM) wrong_errno++; continue; }
            got++;
            size_t u = fa_usable_size(p);
            if ((uintptr_t)p % al != 0 || u < sizes[i]) bad++;
            if (p < mem || (size_t)(p - mem) > bytes - u) outside++;
            memset(p, 0x33, u);
            fa_free(p);
        }
    }
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(outside, 0);
    CHECK_EQ_SZ(wrong_errno, 0);
    CHECKF(got >= 4 * 10, "only %zu aligned blocks in %zu bytes", got, bytes);
    /* a block aligned to the segment size itself must be possible in any big enough region */
    void* seg_aligned = fa_heap_malloc_aligned(h, 100, FA__SEGMENT_SIZE);
    CHECKF(bytes < 4 * FA__SEGMENT_SIZE || seg_aligned != NULL, "malloc_aligned(100, segment size) failed");
    fa_free(seg_aligned);
    errno = 0;
    void* p = fa_heap_malloc_aligned(h, 100, 24);
    CHECK_NULL_ERRNO(p, EINVAL);
    fa_heap_destroy(h);
}

/* A block moved through every tier by fa_heap_realloc keeps its bytes and stays inside. */
static void test_realloc(unsigned char* mem, size_t bytes) {
    harness_section("realloc in a region");
    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    CHECK(h != NULL);
    if (!h) return;
    const size_t steps[] = {1, 30, 500, 3000, 20000, FA__LARGE_MAX, FA__LARGE_MAX + 1, bytes / 5, bytes / 3,
                            bytes / 9, 2000, 7};
    unsigned char* p = NULL;
    size_t cur = 0, bad = 0, outside = 0, nulls = 0;
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        size_t n = steps[i];
        unsigned char* q = (unsigned char*)fa_heap_realloc(h, p, n);
        if (!q) { nulls++; break; }
        size_t keep = cur < n ? cur : n;
        if (harness_verify(q, keep, 77) != HARNESS_OK) bad++;
        if (q < mem || (size_t)(q - mem) > bytes - fa_usable_size(q)) outside++;
        harness_fill(q, n, 77);
        p = q;
        cur = n;
    }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(outside, 0);
    /* a request bigger than the region fails cleanly and leaves the block alone */
    errno = 0;
    void* q = fa_heap_realloc(h, p, bytes + 1);
    CHECK_NULL_ERRNO(q, ENOMEM);
    CHECK(harness_verify(p, cur, 77) == HARNESS_OK);
    fa_free(p);
    fa_heap_destroy(h);
}

/* Bad regions get NULL + EINVAL, never a heap that corrupts memory later. */
static void test_refusals(void) {
    harness_section("refusals");
    fa_heap_t* h;
    errno = 0; h = fa_heap_new_in_region(NULL, MiB);                 CHECK_NULL_ERRNO(h, EINVAL);
    errno = 0; h = fa_heap_new_in_region(g_arena, 0);                CHECK_NULL_ERRNO(h, EINVAL);
    errno = 0; h = fa_heap_new_in_region(g_arena, 100);              CHECK_NULL_ERRNO(h, EINVAL);
    errno = 0; h = fa_heap_new_in_region(g_arena, 2 * KiB);          CHECK_NULL_ERRNO(h, EINVAL);
    errno = 0; h = fa_heap_new_in_region((void*)(UINTPTR_MAX - 4095), 64 * KiB); CHECK_NULL_ERRNO(h, EINVAL);
    errno = 0; h = fa_heap_new_in_region(g_arena, SIZE_MAX);         CHECK_NULL_ERRNO(h, EINVAL);
    /* 64 KiB anywhere is a usable region, with an OS too (it holds no segment boundary) */
    unsigned char* inside = arena_at_boundary() + 1000;
    h = fa_heap_new_in_region(inside, 64 * KiB);
    CHECK(h != NULL);
    if (h != NULL) {
        void* p = fa_heap_malloc(h, 100);
        CHECK(p != NULL && (unsigned char*)p >= inside && (unsigned char*)p < inside + 64 * KiB);
        fa_heap_destroy(h);
    }
    /* a second default region, or one after allocations, is refused */
    errno = 0;
    bool again = fa_init_region(g_arena, 4 * FA__SEGMENT_SIZE);
    CHECK(!again && errno == EBUSY);
}

#if !defined(FASTALLOC_SINGLE_THREAD)
typedef struct {
    void** blocks;
    size_t n;
} handoff_t;

static void* free_all_thread(void* arg) {
    handoff_t* h = (handoff_t*)arg;
    for (size_t i = 0; i < h->n; i++) fa_free(h->blocks[i]);
    return NULL;
}

/* Another thread frees a region heap's blocks (small ones through the page's thread_free, huge ones
   through the region's window bits) while the owner keeps allocating. */
static void test_cross_thread(unsigned char* mem, size_t bytes) {
    harness_section("cross-thread free");
    fa_heap_t* h = fa_heap_new_in_region(mem, bytes);
    CHECK(h != NULL);
    if (!h) return;
    enum { N = 4000 };
    void** v = (void**)malloc(N * sizeof(void*));
    size_t nulls = 0;
    for (size_t i = 0; i < N; i++) {
        size_t s = (i % 500 == 0) ? FA__LARGE_MAX + 1 + i : 16 + i % 2000;   /* 8 huge ones */
        v[i] = fa_heap_malloc(h, s);
        if (!v[i]) nulls++;
    }
    CHECK_EQ_SZ(nulls, 0);
    handoff_t ho = {v, nulls ? 0 : N};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_all_thread, &ho) == 0);
    size_t more = 0;
    for (size_t i = 0; i < 2000; i++) {
        void* p = fa_heap_malloc(h, 64);
        if (p) { memset(p, 1, 64); fa_free(p); more++; }
    }
    pthread_join(t, NULL);
    CHECK_EQ_SZ(more, 2000);
    /* everything came back: the region holds as much as a fresh one */
    fa_heap_collect(h);
    size_t n = 0;
    while (fa_heap_malloc(h, 4096) != NULL) n++;
    fa_heap_destroy(h);
    CHECK_EQ_SZ(n, capacity(mem, bytes, 4096));
    free(v);
}
#endif

#ifdef HAVE_PROCESSES
/* Runs `child` in a fresh copy of this program (a re-exec, so no heap exists yet); returns its
   exit status, 128 + the signal that ended it, or 127 when it could not be started. */
#ifdef _WIN32
static int run_child(const char* mode, const char* arg) {
    char self[MAX_PATH + 1];
    DWORD n = GetModuleFileNameA(NULL, self, (DWORD)sizeof self);
    if (n == 0 || n >= sizeof self) return 127;
    fflush(stdout);
    fflush(stderr);
    const char* const child_argv[] = {"test_region", mode, arg, NULL};
    intptr_t rc = _spawnv(_P_WAIT, self, child_argv);
    return rc < 0 ? 127 : (int)rc;
}
#else
static int run_child(const char* mode, const char* arg) {
    enum { MAX_PREFIX_WORDS = 16 };
    /* FA_TEST_EXEC_PREFIX: words (split at spaces) put before the program, e.g. an emulator */
    const char* prefix = getenv("FA_TEST_EXEC_PREFIX");
    char self[4096], words[1024];
    char* child_argv[MAX_PREFIX_WORDS + 4];
    size_t n = 0;
    if (prefix != NULL && prefix[0] != '\0') {
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);   /* the emulated program */
        if (len <= 0 || strlen(prefix) >= sizeof words) return 127;
        self[len] = '\0';
        strcpy(words, prefix);
        for (char* w = strtok(words, " "); w != NULL && n < MAX_PREFIX_WORDS; w = strtok(NULL, " "))
            child_argv[n++] = w;
        child_argv[n++] = self;
    } else {
        /* the program's own path: under valgrind /proc/self/exe is valgrind's tool, while readlink
           of it (which valgrind answers) names the program, so that --trace-children=yes checks
           the child too */
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len > 0) self[len] = '\0';
        else strcpy(self, "/proc/self/exe");
        child_argv[n++] = (char*)"test_region";
    }
    child_argv[n++] = (char*)mode;
    child_argv[n++] = (char*)arg;
    child_argv[n] = NULL;
    const char* program = n == 3 ? self : child_argv[0];
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(program, child_argv);
        _exit(127);
    }
    if (pid < 0) return 127;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
#endif

/* Child: fa_init_region as the first call; then fa_malloc & co. serve from that region only. */
static int child_default_region(size_t offset) {
    unsigned char* mem = arena_at_boundary() + offset;
    size_t bytes = 8 * FA__SEGMENT_SIZE;
    if (!fa_init_region(mem, bytes)) return 10;
    if (fa_init_region(mem, bytes) || errno != EBUSY) return 11;
    int bad = 0;
    void* v[2000];
    for (size_t i = 0; i < 2000; i++) {
        size_t s = 1 + (i * 7919) % (FA__LARGE_MAX + FA__LARGE_MAX / 2);
        v[i] = fa_malloc(s);
        if (!v[i]) continue;
        unsigned char* p = (unsigned char*)v[i];
        if (p < mem || (size_t)(p - mem) > bytes - fa_usable_size(p)) bad |= 1;
    }
    for (size_t i = 0; i < 2000; i++) fa_free(v[i]);
    /* every alignment up to several segments works wherever the region starts */
    for (size_t al = 16; al <= 2 * FA__SEGMENT_SIZE; al <<= 1) {
        void* p = fa_malloc_aligned(100, al);
        if (!p || (uintptr_t)p % al != 0) bad |= 2;
        fa_free(p);
    }
    fa_stats_t st;
    fa_stats_get(&st);
    if (st.region_bytes == 0) bad |= 4;
#ifdef FASTALLOC_NO_OS
    if (os_calls(&st) != 0) bad |= 8;
#endif
    return bad;
}

/* Child: a region heap first (which, with threads, makes the thread heap too), then
   fa_init_region: still accepted, since no memory was taken from the OS for blocks yet. */
static int child_region_after_heap(void) {
    unsigned char* mem = arena_at_boundary();
    fa_heap_t* h = fa_heap_new_in_region(mem, 2 * FA__SEGMENT_SIZE);
    if (h == NULL) return 20;
    if (fa_heap_malloc(h, 100) == NULL) return 21;
    unsigned char* def = mem + 2 * FA__SEGMENT_SIZE;
    if (!fa_init_region(def, 4 * FA__SEGMENT_SIZE)) return 22;
    unsigned char* p = (unsigned char*)fa_malloc(1000);
    if (p == NULL || p < def || p >= def + 4 * FA__SEGMENT_SIZE) return 23;
    fa_heap_destroy(h);
    fa_free(p);
    return 0;
}

static void test_default_region_children(void) {
    harness_section("fa_init_region in a fresh process");
    /* offsets: aligned, odd, and (without an OS) just below a segment boundary */
    const size_t offsets[] = {0, 1, 4097, FA__SEGMENT_SIZE - 64, FA__SEGMENT_SIZE - 4096 - 3};
    for (size_t i = 0; i < ARRAY_LEN(offsets); i++) {
        char arg[32];
        snprintf(arg, sizeof arg, "%zu", offsets[i]);
        int rc = run_child("--default-region", arg);
        CHECKF(rc == 0, "fa_init_region at boundary + %zu: child exit %d", offsets[i], rc);
    }
    int rc = run_child("--region-after-heap", "0");
    CHECKF(rc == 0, "fa_init_region after a region heap: child exit %d", rc);
}
#endif

int main(int argc, char** argv) {
#ifdef HAVE_PROCESSES
    if (argc == 3 && strcmp(argv[1], "--default-region") == 0) return child_default_region((size_t)strtoull(argv[2], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "--region-after-heap") == 0) return child_region_after_heap();
#else
    (void)argc; (void)argv;
#endif
#ifdef FASTALLOC_NO_OS
    /* without an OS nothing works before a default region exists */
    static unsigned char default_region[4 * MiB];
    errno = 0;
    void* none = fa_malloc(1);
    CHECK_NULL_ERRNO(none, ENOMEM);
    CHECK(fa_init_region(default_region + 5, sizeof default_region - 5));
#endif
    fa_free(fa_malloc(1));   /* the thread heap exists: what follows is the region heaps' doing */
    test_refusals();

    unsigned char* base = arena_at_boundary();
#ifdef FASTALLOC_NO_OS
    /* no OS: any placement works, down to 64 KiB */
    exercise("64 KiB region", g_arena + 3, 64 * KiB, 1);
    exercise("1 MiB region", g_arena + 77, MiB, 2);
    exercise("big region", g_arena + 1001, REGION_BIG, 3);
#else
    /* with an OS: 1 MiB starting at a segment boundary, the big one anywhere (it loses what lies
       before its first boundary) */
    exercise("1 MiB region", base, MiB, 2);
    exercise("big region", g_arena + 1001, REGION_BIG, 3);
#endif
    test_zeroing(base + 5, REGION_BIG / 2);
    test_aligned(base + 9, REGION_BIG);
    test_realloc(base + 13, REGION_BIG / 4);
#if !defined(FASTALLOC_SINGLE_THREAD)
    test_cross_thread(base + 17, REGION_BIG);
#endif
#ifdef HAVE_PROCESSES
    test_default_region_children();
#else
    harness_skip("fa_init_region in a fresh process", "no processes to start on this platform");
#endif
    return harness_finish();
}
