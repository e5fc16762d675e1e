#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fork, waitpid, alarm, mmap for the test itself (also in FASTALLOC_NO_OS builds) */
#endif
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_fuzz.c — a differential fuzzer: seeded random operation sequences over the whole public API,
   checked against a shadow model after every operation.

   Operations: fa_malloc, fa_zalloc, fa_calloc (overflow too), fa_malloc_aligned, fa_zalloc_aligned,
   fa_realloc, fa_rezalloc, fa_recalloc, fa_realloc_aligned, fa_rezalloc_aligned, fa_free,
   fa_usable_size, fa_good_size, fa_strdup, fa_strndup, fa_collect(false/true), fa_thread_done,
   fa_heap_new, fa_heap_new_in_region (over static buffers the test owns), fa_heap_malloc/zalloc/
   calloc/realloc/malloc_aligned, fa_heap_usable_size, fa_heap_reset, fa_heap_destroy,
   fa_heap_delete, fa_heap_collect, writes into blocks (also into the slack past the size asked),
   and calls that must fail (bad alignments, NULL heaps, sizes above PTRDIFF_MAX, ...).

   The model knows, for every live block, the size asked, the usable size, the alignment asked, the
   heap it belongs to, and what every byte must read: written (a pattern of block id, write number
   and offset), zero, or unknown. After every operation: each live block's contents (fully for
   small blocks and for the block the operation touched, sparsely for big ones), fa_usable_size
   unchanged and >= the size asked, alignment, no two live blocks overlap, region heaps' blocks lie
   in their region (FASTALLOC_NO_OS: every block lies in a region), every failure is NULL with the
   right errno, a failed realloc leaves the block as it was.

   The zero promise as the project states it, for every tier: a block from a zeroing function
   reads zero wherever the caller has not written; rezalloc/recalloc keep every old byte up to
   min(old usable size, new size), and what lies past that reads zero, except bytes the caller
   wrote past the size it asked for (the slack below fa_usable_size): those are not promised zero.
   Shrinking gives up what lies past the new size. Only blocks whose whole history is zeroing
   functions are held to it (fa_realloc, fa_realloc_aligned, fa_heap_realloc void it).

   Every seed runs in a forked child, so a crash, an abort or a hang (alarm) is a failure like a
   failed check. A failing sequence is shrunk (delta debugging: drop halves, then single
   operations, replaying each candidate in a child) and printed to stderr with its seed.

   Usage: test_fuzz                 a bounded run (seeds 1 .. FZ_SEEDS; 2-6 s)
          test_fuzz --seconds N     random seeds for N seconds (also FA_FUZZ_SECONDS=N)
          test_fuzz --seed S        replay one seed (verbose)
          --ops N                   operations per seed
          --skip-known              steer clear of the defects tests/test_defects.c already reports
                                    (also FA_FUZZ_SKIP_KNOWN=1), to look for new ones
   Ends with "N passed, N failed": one check per seed (the model's own checks are counted on stderr). */

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FZ_SANITIZED 1
#endif
#endif
#ifndef FZ_SANITIZED
#define FZ_SANITIZED 0
#endif
#if FZ_SANITIZED || defined(FASTALLOC_DEBUG)
#define FZ_SLOW 1
#else
#define FZ_SLOW 0
#endif

/* The bounded run (make test): FZ_SEEDS seeds of FZ_OPS operations, about 2-6 s per build. */
#if defined(__SANITIZE_THREAD__)
#define FZ_SEEDS 8
#define FZ_OPS   1000
#else
#define FZ_SEEDS 24
#define FZ_OPS   2000
#endif

#define NSLOTS    40            /* live blocks at most */
#define NHEAPS    4             /* first-class heaps at most */
#define NBUFS     3             /* region buffers */
#define MAXIV     32            /* intervals per block in the model */
#define WMAX      (64 * KiB)    /* longest single write */
#define LIVE_CAP  (160 * MiB)   /* the executor skips allocations past this many live bytes */
#define BLOCK_CAP (48 * MiB)    /* and blocks bigger than this */
#define IMPOSSIBLE ((size_t)1 << 48)   /* sizes and alignments from here on must fail with ENOMEM */
#ifdef FASTALLOC_NO_OS
#define BUF_BYTES (3 * MiB)     /* any placement works without an OS */
#else
#define BUF_BYTES (12 * MiB)    /* holds a 4 MiB boundary and two segments after it */
#endif

static unsigned char g_bufmem[NBUFS][BUF_BYTES];
static const size_t g_buf_off[NBUFS] = {1, 4093, 200 * KiB + 17};

/* ---- operations ---------------------------------------------------------------------------- */

enum {
    OP_MALLOC, OP_ZALLOC, OP_CALLOC, OP_MALLOC_AL, OP_ZALLOC_AL,
    OP_REALLOC, OP_REZALLOC, OP_RECALLOC, OP_REALLOC_AL, OP_REZALLOC_AL,
    OP_FREE, OP_WRITE, OP_USABLE, OP_GOOD, OP_STRDUP, OP_STRNDUP, OP_COLLECT, OP_THREAD_DONE,
    OP_HEAP_NEW, OP_HEAP_NEW_REGION, OP_HEAP_MALLOC, OP_HEAP_ZALLOC, OP_HEAP_CALLOC, OP_HEAP_REALLOC,
    OP_HEAP_MALLOC_AL, OP_HEAP_RESET, OP_HEAP_DESTROY, OP_HEAP_DELETE, OP_HEAP_COLLECT, OP_BAD,
    OP_COUNT
};
static const char* const g_op_names[OP_COUNT] = {
    "fa_malloc", "fa_zalloc", "fa_calloc", "fa_malloc_aligned", "fa_zalloc_aligned",
    "fa_realloc", "fa_rezalloc", "fa_recalloc", "fa_realloc_aligned", "fa_rezalloc_aligned",
    "fa_free", "write", "fa_usable_size", "fa_good_size", "fa_strdup", "fa_strndup", "fa_collect", "fa_thread_done",
    "fa_heap_new", "fa_heap_new_in_region", "fa_heap_malloc", "fa_heap_zalloc", "fa_heap_calloc", "fa_heap_realloc",
    "fa_heap_malloc_aligned", "fa_heap_reset", "fa_heap_destroy", "fa_heap_delete", "fa_heap_collect", "bad-call",
};
/* weights of the generator, per mille-ish */
static const unsigned g_op_weight[OP_COUNT] = {
    80, 60, 40, 40, 30,
    70, 80, 30, 30, 30,
    100, 100, 20, 10, 10, 10, 10, 3,
    12, 10, 50, 30, 20, 40,
    20, 6, 6, 6, 5, 15,
};

typedef struct {
    uint8_t kind, slot, heap, rel;  /* rel: 0 absolute size, else a size relative to the block */
    uint32_t aux;                   /* random bits: write ranges, fill modes, collect mode, ... */
    size_t size, count, align;
} op_t;

/* ---- the child's side: model and checks ---------------------------------------------------- */

/* Shared with the parent (MAP_SHARED): how far the child got and why it stopped. */
typedef struct {
    volatile long op;
    volatile int line;
    volatile int done;
    volatile unsigned long checks;
    volatile unsigned long ran[OP_COUNT];   /* operations that did something (not skipped) */
    char msg[600];
} shared_t;
static shared_t* g_sh;
static unsigned long g_checks;
static int g_quiet;
static int g_skip_known;   /* --skip-known: do not run into the defects already reported */

static void fz_fail(int line, const char* fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fz_fail(int line, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_sh->msg, sizeof g_sh->msg, fmt, ap);
    va_end(ap);
    g_sh->line = line;
    if (!g_quiet) fprintf(stderr, "test_fuzz: op #%ld: %s (test_fuzz.c:%d)\n", g_sh->op, g_sh->msg, line);
    fflush(stderr);
    _exit(1);
}
#define FZ_CHECK(cond, ...) do { g_checks++; if (!(cond)) fz_fail(__LINE__, __VA_ARGS__); } while (0)

enum { ST_X = 0, ST_Z = 1, ST_W = 2 };   /* unknown, reads zero, written (pattern of gen) */
typedef struct { size_t lo, hi; uint32_t gen; uint8_t st; } iv_t;

#define HEAP_THREAD (-1)
#define HEAP_NONE   (-2)
typedef struct {
    unsigned char* p;
    size_t req, usable, align;
    uint64_t id;
    int heap, heap2;   /* heap slot or HEAP_THREAD; heap2: a second possible owner (HEAP_NONE) */
    bool zh;           /* whole history is zeroing functions */
    int niv;
    iv_t iv[MAXIV];    /* cover [0, usable) in order */
} blk_t;

typedef struct { fa_heap_t* h; int buf; } hslot_t;   /* buf: region buffer, -1: fa_heap_new */
enum { BUF_FREE = 0, BUF_BUSY = 1, BUF_GONE = 2 };  /* GONE: after fa_heap_delete, fastalloc's for good */

static blk_t g_b[NSLOTS];
static hslot_t g_h[NHEAPS];
static int g_buf_state[NBUFS];
static uint64_t g_next_id;
static uint32_t g_gen;
static size_t g_live;
static unsigned long g_ambiguous_dropped;
static bool g_ran;   /* the current operation did something (for the statistics of --seed) */

static size_t zmin(size_t a, size_t b) { return a < b ? a : b; }
static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

static uint64_t wseed(uint64_t id, uint32_t gen) { return harness_mix64(id * 0x9E3779B97F4A7C15ULL + ((uint64_t)gen << 20) + 7); }

static void fill_abs(unsigned char* p, size_t lo, size_t hi, uint64_t seed) {
    size_t i = lo;
    while (i < hi && (!HARNESS_LE || (i & 7) != 0)) { p[i] = harness_pat_byte(seed, i); i++; }
    if (HARNESS_LE)
        for (; i + 8 <= hi; i += 8) { uint64_t w = harness_pat_word(seed, i); memcpy(p + i, &w, 8); }
    for (; i < hi; i++) p[i] = harness_pat_byte(seed, i);
}

static size_t verify_abs(const unsigned char* p, size_t lo, size_t hi, uint64_t seed) {
    size_t i = lo;
    while (i < hi && (!HARNESS_LE || (i & 7) != 0)) { if (p[i] != harness_pat_byte(seed, i)) return i; i++; }
    if (HARNESS_LE)
        for (; i + 8 <= hi; i += 8) {
            uint64_t w = harness_pat_word(seed, i), got;
            memcpy(&got, p + i, 8);
            if (got != w) break;
        }
    for (; i < hi; i++) if (p[i] != harness_pat_byte(seed, i)) return i;
    return HARNESS_OK;
}

static size_t verify_zero(const unsigned char* p, size_t lo, size_t hi) {
    size_t r = harness_first_nonzero(p + lo, hi - lo);
    return r == HARNESS_OK ? r : lo + r;
}

/* Sparse checks of big intervals: 64 bytes at each end and 16 bytes every 4 KiB (or every 64 KiB
   for zero ranges, which can be tens of MiB). */
static size_t verify_sparse(const unsigned char* p, const iv_t* v, uint64_t seed, size_t stride) {
    size_t lo = v->lo, hi = v->hi, r;
    if (hi - lo <= 256) return v->st == ST_W ? verify_abs(p, lo, hi, seed) : verify_zero(p, lo, hi);
    size_t spans[3][2] = {{lo, lo + 64}, {hi - 64, hi}, {0, 0}};
    for (int k = 0; k < 2; k++) {
        r = v->st == ST_W ? verify_abs(p, spans[k][0], spans[k][1], seed) : verify_zero(p, spans[k][0], spans[k][1]);
        if (r != HARNESS_OK) return r;
    }
    for (size_t i = (lo + stride) & ~(stride - 1); i + 16 <= hi; i += stride) {
        r = v->st == ST_W ? verify_abs(p, i, i + 16, seed) : verify_zero(p, i, i + 16);
        if (r != HARNESS_OK) return r;
    }
    return HARNESS_OK;
}

static const char* st_name(int st) { return st == ST_W ? "written" : st == ST_Z ? "zero" : "unknown"; }

/* Checks a block's contents against the model. full: every byte of written intervals and of zero
   intervals up to 1 MiB (bigger zero intervals: head, tail and 64 bytes every 16 KiB). */
static void verify_block(int slot, bool full, const char* when) {
    blk_t* b = &g_b[slot];
    size_t u = fa_usable_size(b->p);
    FZ_CHECK(u == b->usable, "%s: s%d %p: fa_usable_size %zu, was %zu", when, slot, (void*)b->p, u, b->usable);
    FZ_CHECK(b->usable >= b->req, "s%d: usable %zu < size asked %zu", slot, b->usable, b->req);
    size_t al = zmax(b->align, harness_min_align(b->req));
    FZ_CHECK((uintptr_t)b->p % al == 0, "s%d %p: not aligned to %zu", slot, (void*)b->p, al);
    for (int i = 0; i < b->niv; i++) {
        const iv_t* v = &b->iv[i];
        if (v->st == ST_X) continue;
        size_t len = v->hi - v->lo, bad;
        uint64_t seed = wseed(b->id, v->gen);
        if (v->st == ST_W && (full || len <= 4 * KiB)) bad = verify_abs(b->p, v->lo, v->hi, seed);
        else if (v->st == ST_Z && ((full && len <= MiB) || len <= 4 * KiB)) bad = verify_zero(b->p, v->lo, v->hi);
        else if (v->st == ST_Z && full) {
            iv_t head = {v->lo, v->lo + 256 * KiB, 0, ST_Z}, tail = {v->hi - 256 * KiB, v->hi, 0, ST_Z};
            bad = verify_zero(b->p, head.lo, head.hi);
            if (bad == HARNESS_OK) bad = verify_zero(b->p, tail.lo, tail.hi);
            if (bad == HARNESS_OK) bad = verify_sparse(b->p, v, seed, 16 * KiB);
        } else bad = verify_sparse(b->p, v, seed, v->st == ST_W ? 4 * KiB : 64 * KiB);
        FZ_CHECK(bad == HARNESS_OK,
                 "%s: s%d %p (size %zu, usable %zu, %s%s): byte %zu reads 0x%02x, model says %s [%zu, %zu)%s",
                 when, slot, (void*)b->p, b->req, b->usable, b->zh ? "zeroing history" : "not zeroing",
                 b->heap >= 0 ? ", first-class heap" : "", bad, bad == HARNESS_OK ? 0 : b->p[bad], st_name(v->st),
                 v->lo, v->hi,
                 v->st == ST_W && bad != HARNESS_OK ? "" : (v->st == ST_Z ? " (zero promise)" : ""));
    }
}

typedef struct { uintptr_t lo, hi; int slot; } span_t;
static int span_cmp(const void* a, const void* b) {
    const span_t* x = (const span_t*)a;
    const span_t* y = (const span_t*)b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* After every operation: every live block against the model, and no two overlap. */
static void check_all(int touched, bool all_full) {
    span_t s[NSLOTS];
    int n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        if (g_b[i].p == NULL) continue;
        verify_block(i, all_full || i == touched || g_b[i].usable <= 4 * KiB, "check");
        s[n].lo = (uintptr_t)g_b[i].p;
        s[n].hi = s[n].lo + zmax(g_b[i].usable, 1);
        s[n].slot = i;
        n++;
    }
    qsort(s, (size_t)n, sizeof s[0], span_cmp);
    for (int i = 1; i < n; i++)
        FZ_CHECK(s[i - 1].hi <= s[i].lo, "s%d [%p, +%zu) overlaps s%d [%p, +%zu)", s[i - 1].slot, (void*)s[i - 1].lo,
                 (size_t)(s[i - 1].hi - s[i - 1].lo), s[i].slot, (void*)s[i].lo, (size_t)(s[i].hi - s[i].lo));
}

/* ---- the interval model -------------------------------------------------------------------- */

#define TMPIV (4 * MAXIV + 8)

/* Merges neighbours that read the same and drops empty intervals; a list that grew past MAXIV
   forgets (marks unknown) its smallest intervals until it fits: less checking, never wrong. */
static int iv_normalize(iv_t* v, int n) {
    for (;;) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (v[i].lo >= v[i].hi) continue;
            if (m > 0 && v[m - 1].st == v[i].st && v[m - 1].hi == v[i].lo
                && (v[i].st != ST_W || v[m - 1].gen == v[i].gen)) { v[m - 1].hi = v[i].hi; continue; }
            v[m++] = v[i];
        }
        n = m;
        if (n <= MAXIV) return n;
        int small = -1;
        for (int i = 0; i < n; i++)
            if (v[i].st != ST_X && (small < 0 || v[i].hi - v[i].lo < v[small].hi - v[small].lo)) small = i;
        v[small].st = ST_X;
    }
}

/* out = in with [lo, hi) set to (st, gen); in covers [0, end). Returns the count. */
static int iv_set(const iv_t* in, int n, iv_t* out, size_t lo, size_t hi, uint8_t st, uint32_t gen) {
    int m = 0;
    bool placed = false;
    for (int i = 0; i < n; i++) {
        iv_t a = in[i];
        if (a.hi <= lo || a.lo >= hi) {
            if (!placed && a.lo >= hi) { out[m++] = (iv_t){lo, hi, gen, st}; placed = true; }
            out[m++] = a;
            continue;
        }
        if (a.lo < lo) out[m++] = (iv_t){a.lo, lo, a.gen, a.st};
        if (!placed) { out[m++] = (iv_t){lo, hi, gen, st}; placed = true; }
        if (a.hi > hi) out[m++] = (iv_t){hi, a.hi, a.gen, a.st};
    }
    if (!placed) out[m++] = (iv_t){lo, hi, gen, st};
    return m;
}

static void blk_set_model(blk_t* b, const iv_t* v, int n) {
    iv_t tmp[TMPIV];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    n = iv_normalize(tmp, n);
    memcpy(b->iv, tmp, (size_t)n * sizeof *tmp);
    b->niv = n;
}

/* The caller writes [lo, hi): skipped (returns false) when the model would need too many pieces. */
static bool blk_write(blk_t* b, size_t lo, size_t hi) {
    if (lo >= hi || hi > b->usable) return false;
    iv_t tmp[TMPIV];
    uint32_t gen = ++g_gen;
    int n = iv_set(b->iv, b->niv, tmp, lo, hi, ST_W, gen);
    n = iv_normalize(tmp, n);
    if (n > MAXIV - 2) return false;
    fill_abs(b->p, lo, hi, wseed(b->id, gen));
    g_ran = true;
    memcpy(b->iv, tmp, (size_t)n * sizeof *tmp);
    b->niv = n;
    return true;
}

/* What a realloc to n bytes (usable u1 now) leaves: [0, min(u0, n)) as it was; past that, with the
   zero promise, zero, except that bytes written past the old size asked (slack) are unknown, and
   bytes written below it but past n were given up (zero); without the promise, unknown. */
static void blk_model_realloc(blk_t* b, size_t n, size_t u1, bool zero) {
    size_t r0 = b->req, u0 = b->usable, keep = zmin(u0, n);
    bool promise = zero && b->zh;
    iv_t tmp[TMPIV];
    int m = 0;
    for (int i = 0; i < b->niv; i++) {
        iv_t a = b->iv[i];
        if (a.lo < keep) tmp[m++] = (iv_t){a.lo, zmin(a.hi, keep), a.gen, a.st};
        size_t lo = zmax(a.lo, keep), hi = zmin(a.hi, u1);
        if (lo >= hi) continue;
        if (!promise) { tmp[m++] = (iv_t){lo, hi, 0, ST_X}; continue; }
        if (a.st != ST_W) { tmp[m++] = (iv_t){lo, hi, 0, a.st}; continue; }
        if (lo < r0) tmp[m++] = (iv_t){lo, zmin(hi, r0), 0, ST_Z};      /* given up: cleared */
        if (hi > r0) tmp[m++] = (iv_t){zmax(lo, r0), hi, 0, ST_X};      /* slack written earlier */
    }
    if (u1 > u0) tmp[m++] = (iv_t){u0, u1, 0, promise ? ST_Z : ST_X};
    b->req = n;
    b->usable = u1;
    b->zh = promise;
    if (!promise)
        for (int i = 0; i < m; i++) if (tmp[i].st == ST_Z) tmp[i].st = ST_X;
    blk_set_model(b, tmp, m);
}

/* ---- executor ------------------------------------------------------------------------------- */

static fa_stats_t stats(void) { fa_stats_t s; fa_stats_get(&s); return s; }

static bool is_pow2(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

static unsigned char* buf_base(int k) { return g_bufmem[k] + g_buf_off[k]; }
static size_t buf_size(int k) { return BUF_BYTES - g_buf_off[k]; }
static bool in_buf(int k, const void* p, size_t n) {
    const unsigned char* q = (const unsigned char*)p;
    return q >= buf_base(k) && n <= buf_size(k) && (size_t)(q - buf_base(k)) <= buf_size(k) - n;
}

/* Where a block of heap slot h (or the thread heap) must lie. */
static void check_placement(int slot) {
    blk_t* b = &g_b[slot];
    if (b->heap >= 0 && b->heap2 == HEAP_NONE && g_h[b->heap].buf >= 0) {
        FZ_CHECK(in_buf(g_h[b->heap].buf, b->p, b->usable), "s%d %p (+%zu) of region heap h%d lies outside its region",
                 slot, (void*)b->p, b->usable, b->heap);
    }
#if defined(FASTALLOC_NO_OS) && !defined(HARNESS_NO_REGION)
    bool inside = harness_in_region(b->p, b->usable);
    for (int k = 0; k < NBUFS; k++) inside = inside || in_buf(k, b->p, b->usable);
    FZ_CHECK(inside, "s%d %p (+%zu) lies in no region (FASTALLOC_NO_OS)", slot, (void*)b->p, b->usable);
#endif
}

/* Records a block fresh from an allocation function; zero: from a zeroing one. */
static void blk_new(int slot, void* p, size_t req, size_t align, int heap, bool zero, bool plain) {
    blk_t* b = &g_b[slot];
    memset(b, 0, sizeof *b);
    b->p = (unsigned char*)p;
    b->req = req;
    b->usable = fa_usable_size(p);
    b->align = align;
    b->id = ++g_next_id;
    b->heap = heap;
    b->heap2 = HEAP_NONE;
    b->zh = zero;
    b->niv = 1;
    b->iv[0] = (iv_t){0, b->usable, 0, zero ? ST_Z : ST_X};
    g_live += b->usable;
    FZ_CHECK(b->usable >= req, "s%d: usable %zu < size asked %zu", slot, b->usable, req);
    /* fa_good_size speaks for the thread heap's geometry: a region heap (with an OS) has its own */
    bool region_heap = heap >= 0 && g_h[heap].buf >= 0;
#ifdef FASTALLOC_NO_OS
    region_heap = false;
#endif
    if (plain && req <= PTRDIFF_MAX && !region_heap) {
        size_t g = fa_good_size(req);
        FZ_CHECK(b->usable >= g, "s%d: usable %zu < fa_good_size(%zu) = %zu", slot, b->usable, req, g);
    }
    check_placement(slot);
    verify_block(slot, true, "new block");   /* a zeroing function's block reads zero throughout */
}

static void blk_drop(int slot) {
    g_live -= g_b[slot].usable;
    g_b[slot].p = NULL;
}

static void blk_free(int slot) {
    verify_block(slot, true, "before fa_free");
    fa_free(g_b[slot].p);
    blk_drop(slot);
}

/* The first writes into a new block: all of a non-zeroing block's head and tail; a zeroing block
   gets nothing, its head, its slack, or a window, as aux says. */
static void blk_initial_fill(int slot, uint32_t aux, bool zero) {
    blk_t* b = &g_b[slot];
    size_t req = b->req, u = b->usable;
    unsigned mode = zero ? aux % 5 : 0;
    switch (mode) {
    case 0:
        blk_write(b, 0, zmin(req, WMAX));
        if (req > WMAX) blk_write(b, req - zmin(req - WMAX, 4 * KiB), req);
        if (!zero && (aux >> 4) % 4 == 0) blk_write(b, req, zmin(u, req + WMAX));   /* slack too */
        break;
    case 1: break;
    case 2: blk_write(b, req, zmin(u, req + WMAX)); break;
    case 3: blk_write(b, 0, zmin(u, WMAX)); break;
    default: {
        size_t at = (size_t)((uint64_t)(aux >> 8) * u >> 24);
        blk_write(b, at, zmin(u, at + 1 + (aux >> 3) % 3000));
    }
    }
}

static bool heap_live(int h) { return h >= 0 && h < NHEAPS && g_h[h].h != NULL; }

/* The size an operation asks for: absolute, or relative to the block it resizes. */
static size_t op_size(const op_t* o, const blk_t* b) {
    if (o->rel == 0 || b == NULL || b->p == NULL) return o->size;
    size_t r = b->req, u = b->usable;
    switch (o->rel % 12) {
    case 0: return u;
    case 1: return u + 1;
    case 2: return r + 1 + o->aux % 16;
    case 3: return r > 1 + o->aux % 16 ? r - 1 - o->aux % 16 : 0;
    case 4: return u / 2;
    case 5: return u / 2 > 0 ? u / 2 - 1 : 0;
    case 6: return r * 2 + 1;
    case 7: return r + r / 4 + 1;
    case 8: return 0;
    case 9: return fa_good_size(r + 1);
    case 10: return r / 3;
    default: return u + 1 + o->aux % 5000;
    }
}

/* May this allocation fail with ENOMEM although it is not impossible? Only a region heap runs
   out in this test (everything else is bounded by LIVE_CAP). */
static bool oom_allowed(int heap_slot) { return heap_slot >= 0 && g_h[heap_slot].buf >= 0; }

typedef enum { EXP_OK = 0, EXP_EINVAL = EINVAL, EXP_ENOMEM = ENOMEM } expect_t;

static void after_failure(const char* what, int err, expect_t exp, bool may_oom, size_t n) {
    if (exp != EXP_OK) {
        FZ_CHECK(err == (int)exp, "%s(%zu) failed with errno %d, want %d", what, n, err, (int)exp);
    } else {
        FZ_CHECK(err == ENOMEM, "%s(%zu) failed with errno %d (want ENOMEM if anything)", what, n, err);
        FZ_CHECK(may_oom, "%s(%zu) failed (ENOMEM) with %zu bytes live: nothing should run out here", what, n, g_live);
    }
}

static void op_alloc(const op_t* o) {
    int slot = o->slot % NSLOTS, h = o->heap % NHEAPS;
    bool heap_op = o->kind >= OP_HEAP_MALLOC;
    if (heap_op && !heap_live(h)) return;
    if (g_b[slot].p != NULL) blk_free(slot);
    size_t n = o->size, count = o->count, align = o->align;
    bool zero = o->kind == OP_ZALLOC || o->kind == OP_CALLOC || o->kind == OP_ZALLOC_AL || o->kind == OP_HEAP_ZALLOC
                || o->kind == OP_HEAP_CALLOC;
    bool aligned = o->kind == OP_MALLOC_AL || o->kind == OP_ZALLOC_AL || o->kind == OP_HEAP_MALLOC_AL;
    bool calloc_like = o->kind == OP_CALLOC || o->kind == OP_HEAP_CALLOC;
    size_t total = n;
    bool overflow = calloc_like && __builtin_mul_overflow(count, n, &total);
    expect_t exp = EXP_OK;
    if (aligned && !is_pow2(align)) exp = EXP_EINVAL;
    else if (overflow || total >= IMPOSSIBLE || (aligned && align >= IMPOSSIBLE)) exp = EXP_ENOMEM;
    if (exp == EXP_OK && (total > BLOCK_CAP || g_live + total > LIVE_CAP)) return;
    fa_heap_t* hp = heap_op ? g_h[h].h : NULL;
    void* p = NULL;
    errno = 0;
    switch (o->kind) {
    case OP_MALLOC: p = fa_malloc(n); break;
    case OP_ZALLOC: p = fa_zalloc(n); break;
    case OP_CALLOC: p = fa_calloc(count, n); break;
    case OP_MALLOC_AL: p = fa_malloc_aligned(n, align); break;
    case OP_ZALLOC_AL: p = fa_zalloc_aligned(n, align); break;
    case OP_HEAP_MALLOC: p = fa_heap_malloc(hp, n); break;
    case OP_HEAP_ZALLOC: p = fa_heap_zalloc(hp, n); break;
    case OP_HEAP_CALLOC: p = fa_heap_calloc(hp, count, n); break;
    case OP_HEAP_MALLOC_AL: p = fa_heap_malloc_aligned(hp, n, align); break;
    default: break;
    }
    int err = errno;
    if (p == NULL) { after_failure(g_op_names[o->kind], err, exp, heap_op && oom_allowed(h), total); return; }
    if (exp != EXP_OK) {
        fa_free(p);
        FZ_CHECK(0, "%s(size %zu, count %zu, align %zu) succeeded, want errno %d", g_op_names[o->kind], n, count, align,
                 (int)exp);
    }
    blk_new(slot, p, total, aligned ? align : 1, heap_op ? h : HEAP_THREAD, zero, !aligned);
    if (heap_op) {
        size_t hu = fa_heap_usable_size(hp, p);
        FZ_CHECK(hu == g_b[slot].usable, "fa_heap_usable_size(h%d, s%d) = %zu, fa_usable_size %zu", h, slot, hu,
                 g_b[slot].usable);
    }
    blk_initial_fill(slot, o->aux, zero);
}

static void op_strdup(const op_t* o) {
    int slot = o->slot % NSLOTS;
    if (g_b[slot].p != NULL) blk_free(slot);
    size_t len = o->size % (o->aux % 8 == 0 ? 70000 : 300);
    char* s = (char*)malloc(len + 1);
    if (s == NULL) return;
    for (size_t i = 0; i < len; i++) s[i] = (char)(harness_pat_byte(o->aux, i) | 1);
    s[len] = '\0';
    size_t want = len, limit = (size_t)-1;
    errno = 0;
    char* p;
    if (o->kind == OP_STRNDUP) {
        limit = o->count % 3 == 0 ? (size_t)-1 : o->count % (len + 2);
        want = zmin(len, limit);
        p = fa_strndup(s, limit);
    } else p = fa_strdup(s);
    int err = errno;
    if (p == NULL) { free(s); after_failure(g_op_names[o->kind], err, EXP_OK, false, len); return; }
    FZ_CHECK(memcmp(p, s, want) == 0 && p[want] == '\0', "%s of %zu chars (limit %zu): wrong copy", g_op_names[o->kind],
             len, limit);
    free(s);
    blk_new(slot, p, want + 1, 1, HEAP_THREAD, false, true);
    blk_write(&g_b[slot], 0, zmin(want + 1, WMAX));
}

static void op_realloc(const op_t* o) {
    int slot = o->slot % NSLOTS, h = o->heap % NHEAPS;
    bool heap_op = o->kind == OP_HEAP_REALLOC;
    if (heap_op && !heap_live(h)) return;
    blk_t* b = &g_b[slot];
    /* known defect (tests/test_defects.c, defect 2): fa_heap_realloc(h, p, n) of a huge block that
       is not h's resizes it through mremap and leaves it where it was, not in h. "Huge" is the
       allocator's notion (a segment of its own), which also covers small blocks aligned to more
       than a slice: this one test looks inside. */
    if (g_skip_known && heap_op && b->p != NULL && fa__ptr_segment(b->p)->kind == FA__SEGMENT_HUGE
        && (b->heap != h || b->heap2 != HEAP_NONE))
        return;
    bool zero = o->kind == OP_REZALLOC || o->kind == OP_RECALLOC || o->kind == OP_REZALLOC_AL;
    bool aligned = o->kind == OP_REALLOC_AL || o->kind == OP_REZALLOC_AL;
    size_t n = op_size(o, b), count = 1, align = o->align, total = n;
    bool overflow = false;
    if (o->kind == OP_RECALLOC && (o->rel == 0 || b->p == NULL)) {   /* count * n bytes */
        count = o->count;
        overflow = __builtin_mul_overflow(count, n, &total);
    }
    expect_t exp = EXP_OK;
    if (aligned && !is_pow2(align)) exp = EXP_EINVAL;
    else if (overflow || total >= IMPOSSIBLE || (aligned && align >= IMPOSSIBLE)) exp = EXP_ENOMEM;
    size_t old_usable = b->p != NULL ? b->usable : 0;
    if (exp == EXP_OK && (total > BLOCK_CAP || g_live - old_usable + total > LIVE_CAP)) return;
    if (b->p != NULL) verify_block(slot, true, "before realloc");
    void* p = b->p;
    fa_heap_t* hp = heap_op ? g_h[h].h : NULL;
    size_t remaps = stats().os_remap_calls;
    void* q = NULL;
    errno = 0;
    switch (o->kind) {
    case OP_REALLOC: q = fa_realloc(p, total); break;
    case OP_REZALLOC: q = fa_rezalloc(p, total); break;
    case OP_RECALLOC: q = fa_recalloc(p, count, n); break;
    case OP_REALLOC_AL: q = fa_realloc_aligned(p, total, align); break;
    case OP_REZALLOC_AL: q = fa_rezalloc_aligned(p, total, align); break;
    case OP_HEAP_REALLOC: q = fa_heap_realloc(hp, p, total); break;
    default: break;
    }
    int err = errno;
    bool remapped = stats().os_remap_calls != remaps;
    if (q == NULL) {
        after_failure(g_op_names[o->kind], err, exp, heap_op && oom_allowed(h), total);
        return;   /* the block must be untouched: check_all verifies it */
    }
    if (exp != EXP_OK) FZ_CHECK(0, "%s(s%d, %zu, align %zu) succeeded, want errno %d", g_op_names[o->kind], slot, total,
                                align, (int)exp);
    if (p == NULL) {   /* realloc(NULL, n) is malloc(n) */
        blk_new(slot, q, total, aligned ? align : 1, heap_op ? h : HEAP_THREAD, zero, !aligned);
        blk_initial_fill(slot, o->aux, zero);
        return;
    }
    size_t u1 = fa_usable_size(q);
    FZ_CHECK(u1 >= total, "%s(s%d, %zu): usable %zu", g_op_names[o->kind], slot, total, u1);
    g_live = g_live - b->usable + u1;
    int old_heap = b->heap;
    b->p = (unsigned char*)q;
    b->align = aligned ? align : 1;
    blk_model_realloc(b, total, u1, zero);
    /* Ownership. A moved block comes from the heap the call names (fa_heap_realloc: h, otherwise
       the thread heap); one left in place stays where it was. A huge block the OS moved (mremap)
       keeps its owner in fastalloc's books; for fa_heap_realloc the documentation says it is h's:
       the model then takes either heap's reset or destroy as its end, and never touches it after. */
    int target = heap_op ? h : HEAP_THREAD;
    if (q != p && !remapped) { b->heap = target; b->heap2 = HEAP_NONE; }
    else if (q != p && heap_op && old_heap != h) { b->heap = h; b->heap2 = old_heap; }
    if (heap_op && q != p && g_h[h].buf >= 0)
        FZ_CHECK(in_buf(g_h[h].buf, q, u1), "fa_heap_realloc(region heap h%d, s%d, %zu) moved the block to %p, outside "
                 "the region (%s): a moved block must come from h", h, slot, total, q,
                 remapped ? "an OS remap" : "an allocation elsewhere");
    check_placement(slot);
    verify_block(slot, true, "after realloc");
    if (o->aux % 3 == 0) {   /* write what grew, or the slack */
        size_t lo = o->aux % 2 ? b->req : zmin(b->req, old_usable);
        blk_write(b, lo, zmin(b->usable, lo + 1 + (o->aux >> 4) % WMAX));
    }
}

static void op_write(const op_t* o) {
    blk_t* b = &g_b[o->slot % NSLOTS];
    if (b->p == NULL) return;
    size_t r = b->req, u = b->usable, lo, hi;
    uint32_t a = o->aux;
    switch (a % 6) {
    case 0: lo = 0; hi = zmin(r, WMAX); break;
    case 1: lo = r; hi = zmin(u, r + WMAX); break;                                  /* the slack */
    case 2: lo = r > 0 ? r - 1 - (a >> 3) % zmin(r, 64) : 0; hi = zmin(u, r + 1 + (a >> 9) % 64); break;
    case 3: lo = r - zmin(r, 1 + (a >> 3) % 4096); hi = r; break;                 /* the tail */
    case 4: lo = (size_t)((uint64_t)(a >> 8) * u >> 24); hi = zmin(u, lo + 1 + (a >> 3) % 8192); break;
    default: lo = 0; hi = zmin(u, WMAX); break;
    }
    if (hi > lo + WMAX) hi = lo + WMAX;
    blk_write(b, lo, hi);
}

static void op_usable(const op_t* o) {
    int slot = o->slot % NSLOTS;
    blk_t* b = &g_b[slot];
    FZ_CHECK(fa_usable_size(NULL) == 0, "fa_usable_size(NULL) != 0");
    if (b->p == NULL) return;
    size_t u = fa_usable_size(b->p);
    FZ_CHECK(u == b->usable, "fa_usable_size(s%d) = %zu, was %zu", slot, u, b->usable);
    if (b->heap >= 0 && b->heap2 == HEAP_NONE && heap_live(b->heap)) {
        size_t hu = fa_heap_usable_size(g_h[b->heap].h, b->p);
        FZ_CHECK(hu == u, "fa_heap_usable_size(h%d, s%d) = %zu, fa_usable_size %zu", b->heap, slot, hu, u);
    }
}

static void op_good(const op_t* o) {
    size_t n = o->size, g = fa_good_size(n);
    if (n > PTRDIFF_MAX) { FZ_CHECK(g == 0, "fa_good_size(%zu) = %zu, want 0", n, g); return; }
    /* 0: no block that large can exist, which holds only within a huge block's rounding of PTRDIFF_MAX */
    if (g == 0) { FZ_CHECK(n > (size_t)PTRDIFF_MAX - MiB, "fa_good_size(%zu) = 0", n); return; }
    FZ_CHECK(g >= n && g <= (size_t)PTRDIFF_MAX, "fa_good_size(%zu) = %zu", n, g);
    FZ_CHECK(fa_good_size(g) == g, "fa_good_size(fa_good_size(%zu) = %zu) = %zu", n, g, fa_good_size(g));
    size_t next = n < PTRDIFF_MAX ? fa_good_size(n + 1) : 0;
    FZ_CHECK(next == 0 || next >= g, "fa_good_size(%zu) = %zu < fa_good_size(%zu) = %zu", n + 1, next, n, g);
    if (n > BLOCK_CAP || g_live + n > LIVE_CAP) return;
    void* p = fa_malloc(n);
    FZ_CHECK(p != NULL, "fa_malloc(%zu) failed", n);
    size_t u = fa_usable_size(p);
    fa_free(p);
    FZ_CHECK(u >= g, "fa_malloc(%zu): usable %zu < fa_good_size %zu", n, u, g);
}

static void drop_heap_blocks(int h) {
    for (int i = 0; i < NSLOTS; i++) {
        blk_t* b = &g_b[i];
        if (b->p == NULL || (b->heap != h && b->heap2 != h)) continue;
        if (b->heap2 != HEAP_NONE) g_ambiguous_dropped++;
        blk_drop(i);
    }
}

static void heap_gone(int h, bool blocks_stay) {
    for (int i = 0; i < NSLOTS; i++) {
        blk_t* b = &g_b[i];
        if (b->p == NULL) continue;
        if (!blocks_stay) continue;
        if (b->heap == h) {
            b->heap = b->heap2 != HEAP_NONE ? b->heap2 : HEAP_THREAD;
            b->heap2 = HEAP_NONE;
        } else if (b->heap2 == h) {
            b->heap2 = HEAP_NONE;
        }
    }
    g_h[h].h = NULL;
}

static void op_heap(const op_t* o) {
    int h = o->heap % NHEAPS;
    switch (o->kind) {
    case OP_HEAP_NEW: {
        if (g_h[h].h != NULL) return;
        errno = 0;
        fa_heap_t* hp = fa_heap_new();
        FZ_CHECK(hp != NULL, "fa_heap_new failed, errno %d", errno);
        g_h[h].h = hp;
        g_h[h].buf = -1;
        return;
    }
    case OP_HEAP_NEW_REGION: {
        int k = (int)(o->aux % NBUFS);
        if (g_h[h].h != NULL || g_buf_state[k] != BUF_FREE) return;
        errno = 0;
        fa_heap_t* hp = fa_heap_new_in_region(buf_base(k), buf_size(k));
        FZ_CHECK(hp != NULL, "fa_heap_new_in_region(%p, %zu) failed, errno %d", (void*)buf_base(k), buf_size(k), errno);
        g_h[h].h = hp;
        g_h[h].buf = k;
        g_buf_state[k] = BUF_BUSY;
        return;
    }
    default: break;
    }
    if (!heap_live(h)) return;
    fa_heap_t* hp = g_h[h].h;
    int k = g_h[h].buf;
    g_ran = true;
    switch (o->kind) {
    case OP_HEAP_RESET:
        fa_heap_reset(hp);
        drop_heap_blocks(h);
        break;
    case OP_HEAP_DESTROY:
        fa_heap_destroy(hp);
        drop_heap_blocks(h);
        heap_gone(h, false);
        if (k >= 0) {
            /* the region is the caller's again: no live block may lie in it, and scribbling over
               it must not disturb anything fastalloc still has */
            for (int i = 0; i < NSLOTS; i++)
                if (g_b[i].p != NULL)
                    FZ_CHECK(!in_buf(k, g_b[i].p, 1), "s%d %p lies in the region of destroyed heap h%d", i,
                             (void*)g_b[i].p, h);
            memset(buf_base(k), 0xA5 ^ (int)(o->aux & 0xff), buf_size(k));
            g_buf_state[k] = BUF_FREE;
        }
        break;
    case OP_HEAP_DELETE:
        fa_heap_delete(hp);
        heap_gone(h, true);
        if (k >= 0) g_buf_state[k] = BUF_GONE;
        break;
    case OP_HEAP_COLLECT:
        fa_heap_collect(hp);
        break;
    default: break;
    }
}

static void op_bad(const op_t* o) {
    void* p;
    int variant = (int)(o->aux % 10);
    unsigned char local[64];
#define EXPECT_FAIL(call, e) do { errno = 0; p = (call); int err_ = errno; \
        if (p != NULL) fa_free(p); \
        FZ_CHECK(p == NULL && err_ == (e), "%s = %p, errno %d, want NULL and %d", #call, p, err_, (int)(e)); } while (0)
    switch (variant) {
    case 0:
        EXPECT_FAIL(fa_calloc(SIZE_MAX / 2 + 1, 4), ENOMEM);
        EXPECT_FAIL(fa_calloc(3, SIZE_MAX / 3 + 1), ENOMEM);
        break;
    case 1:
        EXPECT_FAIL(fa_malloc((size_t)PTRDIFF_MAX + 1), ENOMEM);
        EXPECT_FAIL(fa_malloc(SIZE_MAX), ENOMEM);
        EXPECT_FAIL(fa_zalloc(SIZE_MAX - 4095), ENOMEM);
        break;
    case 2:
        EXPECT_FAIL(fa_malloc_aligned(16, 0), EINVAL);
        EXPECT_FAIL(fa_malloc_aligned(16, 3), EINVAL);
        EXPECT_FAIL(fa_zalloc_aligned(100, 24), EINVAL);
        EXPECT_FAIL(fa_malloc_aligned(1, SIZE_MAX), EINVAL);
        EXPECT_FAIL(fa_realloc_aligned(NULL, 16, 48), EINVAL);
        EXPECT_FAIL(fa_rezalloc_aligned(NULL, 16, 0), EINVAL);
        break;
    case 3:
        EXPECT_FAIL(fa_strdup(NULL), EINVAL);
        EXPECT_FAIL(fa_strndup(NULL, 5), EINVAL);
        break;
    case 4:
        EXPECT_FAIL(fa_heap_malloc(NULL, 8), EINVAL);
        EXPECT_FAIL(fa_heap_zalloc(NULL, 8), EINVAL);
        EXPECT_FAIL(fa_heap_calloc(NULL, 2, 8), EINVAL);
        EXPECT_FAIL(fa_heap_malloc_aligned(NULL, 8, 64), EINVAL);
        EXPECT_FAIL(fa_heap_realloc(NULL, NULL, 8), EINVAL);
        fa_heap_reset(NULL);
        fa_heap_destroy(NULL);
        fa_heap_delete(NULL);
        fa_heap_collect(NULL);
        FZ_CHECK(fa_heap_usable_size(NULL, NULL) == 0, "fa_heap_usable_size(NULL, NULL) != 0");
        break;
    case 5:
        fa_free(NULL);
        FZ_CHECK(fa_usable_size(NULL) == 0, "fa_usable_size(NULL) != 0");
        FZ_CHECK(fa_good_size(SIZE_MAX) == 0, "fa_good_size(SIZE_MAX) = %zu", fa_good_size(SIZE_MAX));
        FZ_CHECK(fa_good_size((size_t)PTRDIFF_MAX + 1) == 0, "fa_good_size(PTRDIFF_MAX + 1) != 0");
        break;
    case 6: {
        fa_heap_t* hp;
        errno = 0; hp = fa_heap_new_in_region(NULL, MiB);
        FZ_CHECK(hp == NULL && errno == EINVAL, "fa_heap_new_in_region(NULL, 1 MiB) = %p, errno %d", (void*)hp, errno);
        errno = 0; hp = fa_heap_new_in_region(local, sizeof local);
        FZ_CHECK(hp == NULL && errno == EINVAL, "fa_heap_new_in_region(64 bytes) = %p, errno %d", (void*)hp, errno);
        break;
    }
    case 7:
        EXPECT_FAIL(fa_malloc_aligned(8, (size_t)1 << 62), ENOMEM);
        EXPECT_FAIL(fa_zalloc_aligned(5 * MiB, (size_t)1 << 61), ENOMEM);
        break;
    case 8:
        EXPECT_FAIL(fa_realloc(NULL, SIZE_MAX), ENOMEM);
        EXPECT_FAIL(fa_rezalloc(NULL, (size_t)PTRDIFF_MAX + 1), ENOMEM);
        EXPECT_FAIL(fa_recalloc(NULL, SIZE_MAX, 2), ENOMEM);
        break;
    default: {
        int h = o->heap % NHEAPS;
        if (!heap_live(h)) break;
        EXPECT_FAIL(fa_heap_malloc(g_h[h].h, SIZE_MAX), ENOMEM);
        EXPECT_FAIL(fa_heap_calloc(g_h[h].h, SIZE_MAX / 2, 3), ENOMEM);
        EXPECT_FAIL(fa_heap_malloc_aligned(g_h[h].h, 8, 5), EINVAL);
        EXPECT_FAIL(fa_heap_realloc(g_h[h].h, NULL, (size_t)PTRDIFF_MAX + 1), ENOMEM);
        break;
    }
    }
#undef EXPECT_FAIL
}

static void exec_one(const op_t* o) {
    int touched = o->slot % NSLOTS;
    bool all_full = false;
    unsigned long checks_before = g_checks;
    g_ran = o->kind == OP_COLLECT || o->kind == OP_THREAD_DONE;
    switch (o->kind) {
    case OP_MALLOC: case OP_ZALLOC: case OP_CALLOC: case OP_MALLOC_AL: case OP_ZALLOC_AL:
    case OP_HEAP_MALLOC: case OP_HEAP_ZALLOC: case OP_HEAP_CALLOC: case OP_HEAP_MALLOC_AL:
        op_alloc(o);
        break;
    case OP_REALLOC: case OP_REZALLOC: case OP_RECALLOC: case OP_REALLOC_AL: case OP_REZALLOC_AL: case OP_HEAP_REALLOC:
        op_realloc(o);
        break;
    case OP_FREE:
        if (g_b[touched].p != NULL) blk_free(touched);
        else fa_free(NULL);
        break;
    case OP_WRITE: op_write(o); break;
    case OP_USABLE: op_usable(o); break;
    case OP_GOOD: op_good(o); break;
    case OP_STRDUP: case OP_STRNDUP: op_strdup(o); break;
    case OP_COLLECT:
        fa_collect(o->aux % 2 == 0);
        all_full = true;
        break;
    case OP_THREAD_DONE:
        fa_thread_done();
#ifndef FASTALLOC_SINGLE_THREAD
        /* the thread's heaps are deleted: their blocks stay, now the (new) thread heap's */
        for (int h = 0; h < NHEAPS; h++) {
            if (g_h[h].h == NULL) continue;
            if (g_h[h].buf >= 0) g_buf_state[g_h[h].buf] = BUF_GONE;
            heap_gone(h, true);
        }
#endif
        all_full = true;
        break;
    case OP_HEAP_NEW: case OP_HEAP_NEW_REGION: case OP_HEAP_RESET: case OP_HEAP_DESTROY: case OP_HEAP_DELETE:
    case OP_HEAP_COLLECT:
        op_heap(o);
        all_full = o->kind != OP_HEAP_NEW && o->kind != OP_HEAP_NEW_REGION;
        break;
    case OP_BAD: op_bad(o); break;
    default: break;
    }
    if (g_ran || g_checks != checks_before) g_sh->ran[o->kind]++;   /* it wrote or checked something: it ran */
    check_all(touched, all_full);
}

/* Runs a whole sequence, then frees everything, destroys the heaps and checks that the memory went
   back. */
static void exec_ops(const op_t* ops, size_t n) {
    memset(g_b, 0, sizeof g_b);
    memset(g_h, 0, sizeof g_h);
    for (int k = 0; k < NBUFS; k++) g_buf_state[k] = BUF_FREE;
    for (size_t i = 0; i < n; i++) {
        g_sh->op = (long)i;
        exec_one(&ops[i]);
    }
    g_sh->op = (long)n;   /* the end: everything goes back */
    for (int i = 0; i < NSLOTS; i++) if (g_b[i].p != NULL) blk_free(i);
    for (int h = 0; h < NHEAPS; h++) {
        if (g_h[h].h == NULL) continue;
        fa_heap_destroy(g_h[h].h);
        g_h[h].h = NULL;
    }
    fa_collect(true);
    fa_stats_t s = stats();
#ifndef FASTALLOC_NO_OS
    /* With every block freed, every heap destroyed and fa_collect(true), what stays mapped is the
       heap structs' chunk and little else. A block the model had to forget (a huge block that
       fa_heap_realloc(h, ...) moved through mremap, whose owner is then unclear) shows up here when
       fa_heap_reset/destroy(h) did not release it. */
    FZ_CHECK(s.mapped_bytes <= 2 * MiB,
             "after freeing everything, destroying every heap and fa_collect(true): %zu KiB still mapped "
             "(%zu segments live, %zu abandoned; %lu blocks of unclear owner dropped by heap resets/destroys)",
             s.mapped_bytes / KiB, s.segments_live, s.segments_abandoned, g_ambiguous_dropped);
#else
    FZ_CHECK(s.region_bytes <= 4 * FA__SEGMENT_SIZE,
             "after freeing everything, destroying every heap and fa_collect(true): %zu KiB of regions in use",
             s.region_bytes / KiB);
#endif
}

/* ---- generator ------------------------------------------------------------------------------ */

static size_t log_uniform(uint64_t* rng, size_t lo, size_t hi) {
    if (lo < 1) lo = 1;
    unsigned blo = 63u - (unsigned)__builtin_clzll(lo), bhi = 63u - (unsigned)__builtin_clzll(hi);
    unsigned b = blo + (unsigned)(harness_rand(rng) % (bhi - blo + 1));
    size_t base = (size_t)1 << b;
    size_t v = base + (size_t)(harness_rand(rng) % base);
    return v < lo ? lo : v > hi ? hi : v;
}

static size_t gen_size(uint64_t* rng) {
    uint64_t pick = harness_rand(rng) % 1000;
    static const size_t tiny[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 63, 64, 65};
    if (pick < 200) return tiny[harness_rand(rng) % (sizeof tiny / sizeof tiny[0])];
    if (pick < 400) {   /* size-class edges */
        size_t n = log_uniform(rng, 1, FA__LARGE_MAX), g = fa_good_size(n);
        switch (harness_rand(rng) % 4) {
        case 0: return n;
        case 1: return g;
        case 2: return g + 1;
        default: return g - 1;
        }
    }
    if (pick < 500) {   /* tier edges */
        static const size_t edges[] = {FA__DIRECT_MAX, 8 * KiB, FA__SMALL_MAX, FA__MEDIUM_MAX, 64 * KiB, FA__LARGE_MAX,
                                       FA__SEGMENT_SIZE, 4 * MiB};
        size_t e = edges[harness_rand(rng) % (sizeof edges / sizeof edges[0])];
        int d = (int)(harness_rand(rng) % 5) - 2;
        return d == 2 ? e + 4096 : e + (size_t)(ptrdiff_t)d;
    }
    if (pick < 800) return log_uniform(rng, 1, 64 * KiB);
    if (pick < 960) return log_uniform(rng, 1, FA__LARGE_MAX);
    if (pick < 992) return FA__LARGE_MAX + 1 + (size_t)(harness_rand(rng) % (6 * MiB));
    if (pick < 997) return log_uniform(rng, 8 * MiB, 40 * MiB);
    static const size_t impossible[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)1 << 50};
    return impossible[harness_rand(rng) % 4];
}

static size_t gen_align(uint64_t* rng, size_t size) {
    uint64_t pick = harness_rand(rng) % 100;
    if (pick < 50) return (size_t)1 << (harness_rand(rng) % 7);            /* 1 .. 64 */
    if (pick < 80) return (size_t)1 << (7 + harness_rand(rng) % 10);       /* 128 .. 64 KiB */
    if (pick < 92) return (size_t)1 << (17 + harness_rand(rng) % 6);       /* 128 KiB .. 4 MiB */
    if (pick < 96) return size <= 8 * MiB ? (size_t)1 << (23 + harness_rand(rng) % 4) : 64;   /* 8 .. 64 MiB */
    static const size_t bad[] = {0, 3, 24, 48, 100, 4097, (size_t)1 << 62};
    return bad[harness_rand(rng) % (sizeof bad / sizeof bad[0])];
}

static op_t* gen_ops(uint64_t seed, size_t n) {
    op_t* ops = (op_t*)calloc(n, sizeof *ops);
    if (ops == NULL) abort();
    uint64_t rng = harness_mix64(seed) | 1;
    unsigned total = 0;
    for (int k = 0; k < OP_COUNT; k++) total += g_op_weight[k];
    unsigned active = 8 + (unsigned)(harness_rand(&rng) % (NSLOTS - 8));   /* some seeds crowd fewer slots */
    for (size_t i = 0; i < n; i++) {
        op_t* o = &ops[i];
        unsigned w = (unsigned)(harness_rand(&rng) % total), k = 0;
        while (w >= g_op_weight[k]) w -= g_op_weight[k++];
        o->kind = (uint8_t)k;
        o->slot = (uint8_t)(harness_rand(&rng) % active);
        o->heap = (uint8_t)(harness_rand(&rng) % NHEAPS);
        o->aux = (uint32_t)harness_rand(&rng);
        o->size = gen_size(&rng);
        o->align = gen_align(&rng, o->size);
        o->count = 1 + harness_rand(&rng) % 16;
        if (harness_rand(&rng) % 64 == 0) o->count = SIZE_MAX / 2 + harness_rand(&rng) % 1000;   /* overflow */
        if (o->kind == OP_CALLOC || o->kind == OP_HEAP_CALLOC || o->kind == OP_RECALLOC)
            if (o->count < SIZE_MAX / 4 && o->size < IMPOSSIBLE) o->size = o->size / o->count + 1;
        bool resize = o->kind >= OP_REALLOC && o->kind <= OP_REZALLOC_AL;
        resize = resize || o->kind == OP_HEAP_REALLOC;
        o->rel = resize && harness_rand(&rng) % 2 ? (uint8_t)(1 + harness_rand(&rng) % 250) : 0;
    }
    return ops;
}

static void print_op(FILE* f, size_t i, const op_t* o) {
    fprintf(f, "  #%-5zu %-22s s%-2u h%u", i, g_op_names[o->kind], o->slot % NSLOTS, o->heap % NHEAPS);
    fprintf(f, " size=%zu", o->size);
    if (o->rel) fprintf(f, " (or relative #%u)", o->rel % 12);
    fprintf(f, " count=%zu align=%zu aux=0x%08x\n", o->count, o->align, (unsigned)o->aux);
}

/* ---- parent: runs children, shrinks ----------------------------------------------------------- */

typedef struct { bool failed; int sig; int status; int line; long op; unsigned long checks; char msg[600]; } result_t;

static unsigned g_child_timeout = FZ_SLOW ? 300 : 120;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static result_t run_child(const op_t* ops, size_t n, bool quiet) {
    result_t r;
    memset(&r, 0, sizeof r);
    memset(g_sh, 0, sizeof *g_sh);
    g_sh->op = -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { r.failed = true; r.sig = -1; snprintf(r.msg, sizeof r.msg, "fork failed"); return r; }
    if (pid == 0) {
        g_quiet = quiet;
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) dup2(fd, 2);
        }
        alarm(g_child_timeout);
        exec_ops(ops, n);
        g_sh->checks = g_checks;
        g_sh->done = 1;
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) { }
    r.line = g_sh->line;
    r.op = g_sh->op;
    r.checks = g_sh->checks;
    memcpy(r.msg, g_sh->msg, sizeof r.msg);
    r.msg[sizeof r.msg - 1] = '\0';
    if (WIFSIGNALED(status)) r.sig = WTERMSIG(status);
    if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
    r.failed = !(WIFEXITED(status) && r.status == 0 && g_sh->done);
    if (r.failed && r.line == 0) {
        if (r.sig == SIGALRM) snprintf(r.msg, sizeof r.msg, "hang: no progress for %u s", g_child_timeout);
        else if (r.sig != 0) snprintf(r.msg, sizeof r.msg, "child killed by signal %d (%s)", r.sig, strsignal(r.sig));
        else snprintf(r.msg, sizeof r.msg, "child exited with status %d (sanitizer report?)", r.status);
    }
    return r;
}

/* Failures are "the same" when the same check fails, or the same signal / exit status ends it. */
static long signature(const result_t* r) { return r->line != 0 ? r->line : r->sig != 0 ? -r->sig : -1000 - r->status; }

/* Delta debugging over the operation list: drop chunks (halves, quarters, ...), then single
   operations, keeping any candidate that still fails the same way (cut after its failing op). */
static size_t shrink(op_t* ops, size_t n, long sig, double deadline, unsigned* runs) {
    op_t* cand = (op_t*)malloc((n + 1) * sizeof *cand);
    if (cand == NULL) return n;
    size_t chunks = 2;
    while (n >= 2 && now_s() < deadline) {
        size_t len = (n + chunks - 1) / chunks;
        bool reduced = false;
        for (size_t c = 0; c * len < n && !reduced && now_s() < deadline; c++) {
            size_t lo = c * len, hi = zmin(n, lo + len), m = 0;
            for (size_t i = 0; i < n; i++) if (i < lo || i >= hi) cand[m++] = ops[i];
            result_t r = run_child(cand, m, true);
            (*runs)++;
            if (r.failed && signature(&r) == sig) {
                if (r.op >= 0 && (size_t)r.op < m) m = (size_t)r.op + 1;
                memcpy(ops, cand, m * sizeof *ops);
                n = m;
                chunks = chunks > 2 ? chunks - 1 : 2;
                reduced = true;
            }
        }
        if (!reduced) {
            if (chunks >= n) break;
            chunks = zmin(n, chunks * 2);
        }
    }
    for (bool progress = true; progress && now_s() < deadline; ) {
        progress = false;
        for (size_t i = n; i-- > 0 && now_s() < deadline; ) {
            if (i >= n) continue;
            size_t m = 0;
            for (size_t j = 0; j < n; j++) if (j != i) cand[m++] = ops[j];
            result_t r = run_child(cand, m, true);
            (*runs)++;
            if (r.failed && signature(&r) == sig) {
                if (r.op >= 0 && (size_t)r.op < m) m = (size_t)r.op + 1;
                memcpy(ops, cand, m * sizeof *ops);
                n = m;
                progress = true;
            }
        }
    }
    free(cand);
    return n;
}

static unsigned g_failures;
static unsigned long long g_model_checks;

/* One seed: run it; on failure shrink, print the minimal sequence, count the failure. */
static void run_seed(uint64_t seed, size_t nops, bool verbose, double shrink_seconds) {
    op_t* ops = gen_ops(seed, nops);
    result_t r = run_child(ops, nops, false);
    if (!r.failed) {
        harness_pass();   /* one per seed; the model's checks are counted on stderr */
        g_model_checks += r.checks;
        if (verbose) {
            fprintf(stderr, "seed %llu: %zu ops, %lu checks, ok; operations that ran:\n", (unsigned long long)seed, nops,
                    r.checks);
            for (int k = 0; k < OP_COUNT; k++) fprintf(stderr, "  %-24s %lu\n", g_op_names[k], g_sh->ran[k]);
        }
        free(ops);
        return;
    }
    g_failures++;
    size_t n = r.op >= 0 && (size_t)r.op < nops ? (size_t)r.op + 1 : nops;
    long sig = signature(&r);
    fprintf(stderr, "test_fuzz: seed %llu FAILED at op #%ld of %zu: %s\n", (unsigned long long)seed, r.op, nops, r.msg);
    size_t shrunk = n;
    unsigned runs = 0;
    if (shrink_seconds > 0) {
        double t0 = now_s();
        shrunk = shrink(ops, n, sig, t0 + shrink_seconds, &runs);
        fprintf(stderr, "test_fuzz: shrunk to %zu ops (%u replays, %.1f s)%s\n", shrunk, runs, now_s() - t0,
                now_s() - t0 >= shrink_seconds ? " (time limit: may not be minimal)" : "");
    }
    if (shrink_seconds > 0) {
        result_t again = run_child(ops, shrunk, true);
        fprintf(stderr, "test_fuzz: minimal failing sequence for seed %llu (%zu ops), replays as: %s\n",
                (unsigned long long)seed, shrunk, again.failed ? again.msg : "(passes when replayed alone: flaky)");
        for (size_t i = 0; i < shrunk; i++) print_op(stderr, i, &ops[i]);
    } else {
        fprintf(stderr, "test_fuzz: not shrunk (an earlier seed was)\n");
    }
    fprintf(stderr, "test_fuzz: replay the whole seed with: test_fuzz --seed %llu --ops %zu%s\n", (unsigned long long)seed,
            nops, g_skip_known ? " --skip-known" : "");
    CHECKF(0, "seed %llu: %s", (unsigned long long)seed, r.msg);
    free(ops);
}

int main(int argc, char** argv) {
    double seconds = 0;
    bool have_seed = false;
    uint64_t seed = 0;
    size_t nops = FZ_OPS;
    const char* env = getenv("FA_FUZZ_SECONDS");
    if (env != NULL && *env != '\0') seconds = atof(env);
    env = getenv("FA_FUZZ_SKIP_KNOWN");
    if (env != NULL && *env != '\0' && strcmp(env, "0") != 0) g_skip_known = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) { seed = strtoull(argv[++i], NULL, 0); have_seed = true; }
        else if (strcmp(argv[i], "--skip-known") == 0) g_skip_known = 1;
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) nops = (size_t)strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: %s [--seconds N] [--seed S] [--ops N] [--skip-known]\n", argv[0]);
            return 2;
        }
    }
    if (nops == 0) nops = 1;
    g_sh = (shared_t*)mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_sh == MAP_FAILED) { perror("mmap"); return 1; }
    harness_section("fuzz");
    double shrink_seconds = seconds > 0 || have_seed ? 60 : 10;
    if (getenv("FA_FUZZ_SHRINK_SECONDS") != NULL) shrink_seconds = atof(getenv("FA_FUZZ_SHRINK_SECONDS"));
    double t0 = now_s();
    unsigned seeds = 0;
    if (have_seed) {
        run_seed(seed, nops, true, shrink_seconds);
        seeds = 1;
    } else if (seconds > 0) {
        uint64_t base = harness_mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
        fprintf(stderr, "test_fuzz: random seeds for %.0f s (%zu ops each)\n", seconds, nops);
        while (now_s() - t0 < seconds && g_failures < 10) {
            run_seed(base + seeds, nops, false, shrink_seconds);
            seeds++;
        }
    } else {
        /* bounded: a fixed list of seeds (1, 2, ...), so that every run of a build checks the same
           sequences; a time cap guards against a very slow machine */
        unsigned count = FZ_SEEDS;
        for (; seeds < count && g_failures < 3; seeds++) {
            if (now_s() - t0 > 25) {
                fprintf(stderr, "test_fuzz: time cap: stopped after %u of %u seeds\n", seeds, count);
                break;
            }
            run_seed((uint64_t)seeds + 1, nops, false, g_failures == 0 ? shrink_seconds : 0);
        }
    }
    fprintf(stderr, "test_fuzz: %u seeds x %zu ops in %.1f s, %u failed (%llu model checks in the seeds that passed)%s\n",
            seeds, nops, now_s() - t0, g_failures, g_model_checks, g_skip_known ? " [--skip-known]" : "");
    return harness_finish();
}
