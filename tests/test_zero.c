#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_zero.c — zeroed memory and realloc.
   - calloc/zalloc/zalloc_aligned read zero on dirty reused memory in every tier (small, medium,
     large, huge), and on fresh memory clear at most the free-list link word per block (stats);
     huge callocs (64 MiB, 1 GiB) clear nothing.
   - rezalloc/recalloc/rezalloc_aligned/realloc_aligned chains over thousands of random steps
     (grow, shrink, in place and moved, small through huge, alignments 16 B .. 4 MiB): the prefix
     keeps its pattern, everything past the old size reads zero, alignment holds at every step,
     and (stats) each step clears and copies only what it may.
   - the mimalloc #763 scenario: shrink in place, grow back, the given-up range reads zero.
   - NULL pointers, recalloc overflow and bad alignments, 0 included (failed calls leave the block
     untouched); resizing to 0 bytes under alignments of 128 KiB .. 4 MiB (in a child process, so
     a crash is a failed check); blocks moved to a bigger alignment.
   - in-place behaviour: steps within the usable size, a large block growing over free slices,
     large blocks packed several to a page (and moving out of it when they outgrow their block),
     a huge block grown by 4 KiB steps through mremap, a vector grown one int at a time,
     a huge block shrunk far in place.
   Assertions on [S] counters only run in the FASTALLOC_STATS build. */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if HARNESS_HAVE_THREADS
#include <pthread.h>
#endif
#if HARNESS_HAVE_FORK
#include <sys/wait.h>
#include <unistd.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define LARGE_MAX (2 * MiB) /* default config: blocks above this get a mapping of their own */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ZT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ZT_SANITIZED 1
#endif
#endif
#ifndef ZT_SANITIZED
#define ZT_SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define ZT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZT_TSAN 1
#endif
#endif
#ifndef ZT_TSAN
#define ZT_TSAN 0
#endif
#if ZT_SANITIZED || defined(FASTALLOC_DEBUG)
#define ZT_SLOW 1
#else
#define ZT_SLOW 0
#endif

/* Whether the OS layer resizes huge mappings without copying (mremap): Linux, unless the header is
   told to keep to portable POSIX calls. */
#if defined(__linux__) && !defined(FASTALLOC_PORTABLE_POSIX)
#define ZT_HAVE_MREMAP 1
#else
#define ZT_HAVE_MREMAP 0
#endif

/* volatile so the compiler neither folds nor warns about the absurd sizes */
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max = (size_t)PTRDIFF_MAX;

static fa_stats_t snap(void) {
    fa_stats_t s;
    fa_stats_get(&s);
    return s;
}

/* Step counts: ThreadSanitizer gets two thirds of the other slow builds' count. */
static size_t steps_scaled(size_t normal, size_t slow) {
    return harness_scale(ZT_TSAN ? slow * 2 / 3 : ZT_SLOW ? slow : normal, 4);
}

/* ---- failure aggregation: loops with thousands of steps CHECK once, with the first failure --- */

typedef struct {
    size_t fails;
    char first[400];
} agg_t;

HARNESS_PRINTF(3, 4)
static void agg_note(agg_t* a, bool ok, const char* fmt, ...) {
    if (ok) return;
    if (a->fails++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->first, sizeof a->first, fmt, ap);
        va_end(ap);
    }
}

#define AGG_CHECK(a, what) CHECKF((a).fails == 0, "%s: %zu failures, first: %s", (what), (a).fails, (a).first)

/* ---- position-based pattern, dense below DENSE_LIMIT, sampled above ------------------------
   Byte i of a block with seed s is harness_pat_byte(s, i). Past DENSE_LIMIT only the first and
   last 16 bytes of every STRIDE are written and checked, so multi-MiB blocks stay cheap. */
#define DENSE_LIMIT (256 * KiB)
#define STRIDE (16 * KiB)
#define FULL_ZERO_SCAN (LARGE_MAX + 64 * KiB)

static void pat_fill_dense(unsigned char* b, size_t from, size_t to, uint64_t seed) {
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++) b[i] = harness_pat_byte(seed, i);
    if (HARNESS_LE)
        for (; i + 8 <= to; i += 8) {
            uint64_t w = harness_pat_word(seed, i);
            memcpy(b + i, &w, 8);
        }
    for (; i < to; i++) b[i] = harness_pat_byte(seed, i);
}

static size_t pat_verify_dense(const unsigned char* b, size_t from, size_t to, uint64_t seed) {
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        if (b[i] != harness_pat_byte(seed, i)) return i;
    if (HARNESS_LE)
        for (; i + 8 <= to; i += 8) {
            uint64_t w = harness_pat_word(seed, i), got;
            memcpy(&got, b + i, 8);
            if (got != w) break;
        }
    for (; i < to; i++)
        if (b[i] != harness_pat_byte(seed, i)) return i;
    return HARNESS_OK;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Writes the pattern over the sampled positions of [from, to). */
static void pat_fill(void* p, size_t from, size_t to, uint64_t seed) {
    unsigned char* b = (unsigned char*)p;
    if (from < DENSE_LIMIT) pat_fill_dense(b, from, min_sz(to, DENSE_LIMIT), seed);
    for (size_t pg = max_sz(from, DENSE_LIMIT) & ~(STRIDE - 1); pg < to; pg += STRIDE) {
        pat_fill_dense(b, max_sz(from, pg), min_sz(to, pg + 16), seed);
        pat_fill_dense(b, max_sz(from, pg + STRIDE - 16), min_sz(to, pg + STRIDE), seed);
    }
}

/* First sampled index of [from, to) not holding the pattern, or HARNESS_OK. */
static size_t pat_verify(const void* p, size_t from, size_t to, uint64_t seed) {
    const unsigned char* b = (const unsigned char*)p;
    size_t bad;
    if (from < DENSE_LIMIT && (bad = pat_verify_dense(b, from, min_sz(to, DENSE_LIMIT), seed)) != HARNESS_OK)
        return bad;
    for (size_t pg = max_sz(from, DENSE_LIMIT) & ~(STRIDE - 1); pg < to; pg += STRIDE) {
        if ((bad = pat_verify_dense(b, max_sz(from, pg), min_sz(to, pg + 16), seed)) != HARNESS_OK) return bad;
        if ((bad = pat_verify_dense(b, max_sz(from, pg + STRIDE - 16), min_sz(to, pg + STRIDE), seed)) != HARNESS_OK)
            return bad;
    }
    return HARNESS_OK;
}

static size_t first_nonzero_in(const unsigned char* b, size_t from, size_t to) {
    if (to <= from) return HARNESS_OK;
    size_t bad = harness_first_nonzero(b + from, to - from);
    return bad == HARNESS_OK ? HARNESS_OK : from + bad;
}

/* First non-zero index of [from, to), or HARNESS_OK. A full scan over the first FULL_ZERO_SCAN
   bytes of the range (any page-tier block entirely) and its last 64 KiB; in between (huge blocks,
   which only ever held this test's sampled writes) the sampled positions. */
static size_t zero_verify(const void* p, size_t from, size_t to) {
    const unsigned char* b = (const unsigned char*)p;
    if (to <= from) return HARNESS_OK;
    if (to - from <= FULL_ZERO_SCAN + 64 * KiB) return first_nonzero_in(b, from, to);
    size_t mid = from + FULL_ZERO_SCAN, tail = to - 64 * KiB, bad;
    if ((bad = first_nonzero_in(b, from, mid)) != HARNESS_OK) return bad;
    for (size_t pg = mid & ~(STRIDE - 1); pg < tail; pg += STRIDE) {
        if ((bad = first_nonzero_in(b, max_sz(mid, pg), min_sz(tail, pg + 16))) != HARNESS_OK) return bad;
        if ((bad = first_nonzero_in(b, max_sz(mid, pg + STRIDE - 16), min_sz(tail, pg + STRIDE))) != HARNESS_OK)
            return bad;
    }
    return first_nonzero_in(b, tail, to);
}

/* ---- 1. fresh memory: zeroing clears at most the link word per block ------------------------ */

enum { FN_CALLOC, FN_ZALLOC, FN_ZALLOC_ALIGNED };

static void* zero_alloc(int fn, size_t size, size_t align) {
    switch (fn) {
    case FN_CALLOC: return fa_calloc(size, 1);
    case FN_ZALLOC: return fa_zalloc(size);
    default: return fa_zalloc_aligned(size, align);
    }
}

static const char* fn_name(int fn) {
    return fn == FN_CALLOC ? "calloc" : fn == FN_ZALLOC ? "zalloc" : "zalloc_aligned";
}

/* Allocates `count` zeroed blocks of `size` with fn; checks they read zero over their usable size
   and, in the stats build, that at most 8 bytes per block were cleared. Returns the blocks (the
   caller frees them with free_all) so later rounds cannot land on their slices. */
static void** fresh_round(const char* when, int fn, size_t size, size_t align, size_t count) {
    void** v = (void**)calloc(count, sizeof(void*));
    CHECK(v != NULL);
    if (!v) return NULL;
    fa_stats_t a = snap();
    for (size_t i = 0; i < count; i++) v[i] = zero_alloc(fn, size, align);
    fa_stats_t b = snap();
    size_t nulls = 0, nonzero = 0, misaligned = 0;
    for (size_t i = 0; i < count; i++) {
        if (!v[i]) { nulls++; continue; }
        if (zero_verify(v[i], 0, fa_usable_size(v[i])) != HARNESS_OK) nonzero++;
        if ((uintptr_t)v[i] % (fn == FN_ZALLOC_ALIGNED ? align : harness_min_align(size)) != 0) misaligned++;
    }
    CHECKF(nulls == 0 && nonzero == 0 && misaligned == 0,
           "%s %s(%zu) x%zu: %zu NULL, %zu not zero, %zu misaligned", when, fn_name(fn), size, count,
           nulls, nonzero, misaligned);
#ifdef FASTALLOC_STATS
    CHECKF(b.bytes_zeroed - a.bytes_zeroed <= 8 * count,
           "%s %s(%zu, align %zu) x%zu on fresh memory cleared %zu bytes (at most %zu: the link words)", when,
           fn_name(fn), size, align, count, b.bytes_zeroed - a.bytes_zeroed, 8 * count);
#else
    (void)a; (void)b;
#endif
    return v;
}

static void free_all(void** v, size_t count) {
    if (!v) return;
    for (size_t i = 0; i < count; i++) fa_free(v[i]);
    free(v);
}

static size_t fresh_count(size_t size) {
    size_t c = 2 * MiB / size;  /* several pages (and several lazy extensions) of every tier */
    if (c > 20000) c = 20000;
    if (c < 4) c = 4;
    return c;
}

/* Must run first: every size class below is used here for the first time in the process, and all
   blocks stay live until the pass ends, so each page sits on never-touched slices of fresh
   segments. Then each size again right after fa_collect(true), which purges every free slice and
   unmaps empty segments: fresh again. */
HARNESS_UNUSED static void test_fresh_zero(void) {
    harness_section("fresh zero");
    /* one size per bin, all different bins: 8, 32, 48, 112, 448, 1024, 2560, 8192, 10240, 32768,
       65536, 81920, 327680, 1 MiB, 2 MiB */
    static const size_t sizes[] = {8, 24, 48, 112, 400, 1000, 2500, 8192, 9000, 30000,
                                   65536, 80000, 300000, MiB, 2 * MiB};
    void** live[ARRAY_LEN(sizes)];
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
        live[i] = fresh_round("first use", (int)(i % 3), sizes[i], 16, fresh_count(sizes[i]));
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) free_all(live[i], fresh_count(sizes[i]));
    /* a live block (a 16-byte bin, not used above) keeps the first segment mapped through the
       collects: its free slices are purged rather than unmapped, and must count as fresh too */
    void* pin = fa_malloc(16);
    CHECK(pin != NULL);
    for (int fn = FN_CALLOC; fn <= FN_ZALLOC_ALIGNED; fn++) {
        size_t align = fn == FN_ZALLOC_ALIGNED ? 4096 : 16;
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            size_t count = fresh_count(max_sz(sizes[i], align));
            fa_collect(true);
            free_all(fresh_round("after collect", fn, sizes[i], align, count), count);
        }
    }
    fa_free(pin);

    /* huge: a fresh mapping is never cleared (fa_collect(true) empties the cache of freed huge
       mappings first: a recycled one is cleared, like any recycled memory) */
    static const size_t huge[] = {3 * MiB, 64 * MiB, GiB};
    for (size_t i = 0; i < ARRAY_LEN(huge); i++) {
        size_t n = huge[i];
        for (int fn = FN_CALLOC; fn <= FN_ZALLOC_ALIGNED; fn++) {
            if (n == GiB && fn != FN_CALLOC) continue;
            fa_collect(true);
            fa_stats_t a = snap();
            errno = 0;
            unsigned char* p = (unsigned char*)zero_alloc(fn, n, 4 * MiB);
            fa_stats_t b = snap();
            if (p == NULL && n == GiB && sizeof(void*) == 4 && errno == ENOMEM) {
                /* a 32-bit process may have no free GiB of address space in one piece (32-bit
                   Windows: 2 GiB, DLLs spread through it): out of memory is the right answer */
                harness_skip("huge calloc(1 GiB)", "ENOMEM: no free GiB of address space in one piece (32-bit)");
                continue;
            }
            CHECKF(p != NULL, "huge %s(%zu) failed", fn_name(fn), n);
            if (!p) continue;
            CHECK_GE_SZ(fa_usable_size(p), n);
            if (fn == FN_ZALLOC_ALIGNED) CHECK_ALIGNED(p, 4 * MiB);
#ifdef FASTALLOC_STATS
            CHECKF(b.bytes_zeroed == a.bytes_zeroed, "huge %s(%zu MiB) cleared %zu bytes (want 0)",
                   fn_name(fn), n / MiB, b.bytes_zeroed - a.bytes_zeroed);
#else
            (void)a; (void)b;
#endif
            if (n <= 64 * MiB) {
                CHECKF(zero_verify(p, 0, n) == HARNESS_OK, "huge %s(%zu MiB) not zero", fn_name(fn), n / MiB);
            } else {
                /* 1 GiB: sample one word per MiB, the first 64 KiB and the last 64 KiB */
                size_t bad = zero_verify(p, 0, 64 * KiB);
                for (size_t off = MiB - 8; off < n && bad == HARNESS_OK; off += MiB)
                    bad = zero_verify(p, off, off + 8);
                if (bad == HARNESS_OK) bad = zero_verify(p, n - 64 * KiB, n);
                CHECKF(bad == HARNESS_OK, "calloc(1 GiB) not zero at %zu", bad);
                p[n - 1] = 1;
                p[n / 2] = 2;
                CHECK(p[n - 1] == 1 && p[n / 2] == 2);
            }
            fa_free(p);
        }
    }
}

/* ---- 2. zeroing allocations on dirty, reused memory ------------------------------------------ */

static int cmp_ptr(const void* a, const void* b) {
    uintptr_t x = (uintptr_t)*(void* const*)a, y = (uintptr_t)*(void* const*)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Fills K blocks with 0xA5, frees them, then asks fn for K zeroed blocks of the same size. K is
   more than two lazy free-list extensions (8 KiB of blocks each) and at least 3 blocks in the
   page tiers, so the new blocks must include freed ones. Returns how many of the new blocks sit where an old one was
   (the page tiers reuse them). */
static size_t dirty_round(int fn, size_t size, size_t align) {
    size_t eff = max_sz(max_sz(size, 8), fn == FN_ZALLOC_ALIGNED ? align : 8);
    /* large blocks have a page each (3 are plenty), huge ones are never reused (2) */
    size_t k = eff > LARGE_MAX ? 2 : eff > 64 * KiB ? 3 : 16 * KiB / eff + 8;
    void** old = (void**)calloc(k, sizeof(void*));
    void** v = (void**)calloc(k, sizeof(void*));
    CHECK(old != NULL && v != NULL);
    if (!old || !v) { free(old); free(v); return 0; }
    size_t old_nulls = 0;
    for (size_t i = 0; i < k; i++) {
        old[i] = fn == FN_ZALLOC_ALIGNED ? fa_malloc_aligned(size, align) : fa_malloc(size);
        if (old[i]) memset(old[i], 0xA5, fa_usable_size(old[i])); else old_nulls++;
    }
    CHECK_EQ_SZ(old_nulls, 0);
    for (size_t i = k; i-- > 0; ) fa_free(old[i]);
    qsort(old, k, sizeof(void*), cmp_ptr);
    size_t reused = 0, nonzero = 0, nulls = 0, misaligned = 0, short_usable = 0;
    for (size_t i = 0; i < k; i++) {
        v[i] = zero_alloc(fn, size, align);
        if (!v[i]) { nulls++; continue; }
        size_t u = fa_usable_size(v[i]);
        if (u < size) short_usable++;
        if (zero_verify(v[i], 0, u) != HARNESS_OK) nonzero++;
        if ((uintptr_t)v[i] % (fn == FN_ZALLOC_ALIGNED ? align : harness_min_align(size)) != 0) misaligned++;
        if (bsearch(&v[i], old, k, sizeof(void*), cmp_ptr) != NULL) reused++;
        memset(v[i], 0x3C, u); /* dirty again for the next function */
    }
    CHECKF(nulls == 0 && nonzero == 0 && misaligned == 0 && short_usable == 0,
           "%s(%zu, align %zu) x%zu after dirty reuse: %zu NULL, %zu not zero, %zu misaligned, %zu short",
           fn_name(fn), size, align, k, nulls, nonzero, misaligned, short_usable);
    for (size_t i = 0; i < k; i++) fa_free(v[i]);
    free(old);
    free(v);
    return reused;
}

static void test_dirty_reuse(void) {
    harness_section("dirty reuse");
    static const size_t sizes[] = {1, 8, 16, 40, 100, 500, 1024, 3000, 8192,   /* small  */
                                   8200, 20000, 50000, 65536,                  /* medium */
                                   70000, 200000, 900000, 2 * MiB,             /* large  */
                                   2 * MiB + 1, 3 * MiB, 6 * MiB + 123};        /* huge   */
    static const size_t aligns[] = {16, 64, 4096, 64 * KiB, 256 * KiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        size_t s = sizes[i];
        size_t r0 = dirty_round(FN_CALLOC, s, 0);
        size_t r1 = dirty_round(FN_ZALLOC, s, 0);
        for (size_t a = 0; a < ARRAY_LEN(aligns); a++) (void)dirty_round(FN_ZALLOC_ALIGNED, s, aligns[a]);
        /* the page tiers hand the freed (dirty) blocks out again: otherwise this test tests nothing */
        if (s <= LARGE_MAX) CHECKF(r0 > 0 && r1 > 0, "size %zu: no dirty block reused (%zu, %zu)", s, r0, r1);
    }
}

/* ---- 3. realloc chains ------------------------------------------------------------------------ */

enum { OP_REZALLOC, OP_RECALLOC, OP_REZALLOC_ALIGNED, OP_REALLOC_ALIGNED };

typedef struct {
    unsigned char* p;
    size_t n;       /* bytes asked for, and written with the pattern */
    size_t align;   /* aligned ops only */
    int op;
    uint64_t seed;
} chain_t;

typedef struct {
    agg_t agg;
    size_t steps, in_place, moved, grows, shrinks, huge_steps;
} chain_stats_t;

static bool op_zeroes(int op) { return op != OP_REALLOC_ALIGNED; }

static const char* op_name(int op) {
    switch (op) {
    case OP_REZALLOC: return "rezalloc";
    case OP_RECALLOC: return "recalloc";
    case OP_REZALLOC_ALIGNED: return "rezalloc_aligned";
    default: return "realloc_aligned";
    }
}

static size_t chain_min_align(const chain_t* c, size_t m) {
    return (c->op == OP_REZALLOC_ALIGNED || c->op == OP_REALLOC_ALIGNED) ? c->align : harness_min_align(m);
}

static void* chain_call(const chain_t* c, size_t m) {
    switch (c->op) {
    case OP_REZALLOC: return fa_rezalloc(c->p, m);
    case OP_RECALLOC:
        if (m % 8 == 0) return fa_recalloc(c->p, m / 8, 8);
        return (m & 1) ? fa_recalloc(c->p, m, 1) : fa_recalloc(c->p, 1, m);
    case OP_REZALLOC_ALIGNED: return fa_rezalloc_aligned(c->p, m, c->align);
    default: return fa_realloc_aligned(c->p, m, c->align);
    }
}

/* Starts a chain; alternates the first call between the allocation function and the NULL form
   of the resize function. */
static void chain_start(chain_t* c, int op, size_t align, size_t n, uint64_t seed, chain_stats_t* cs) {
    c->op = op;
    c->align = align;
    c->seed = seed;
    c->n = n;
    bool via_null = (seed & 1) != 0;
    switch (op) {
    case OP_REZALLOC: c->p = (unsigned char*)(via_null ? fa_rezalloc(NULL, n) : fa_zalloc(n)); break;
    case OP_RECALLOC: c->p = (unsigned char*)(via_null ? fa_recalloc(NULL, n, 1) : fa_calloc(1, n)); break;
    case OP_REZALLOC_ALIGNED:
        c->p = (unsigned char*)(via_null ? fa_rezalloc_aligned(NULL, n, align) : fa_zalloc_aligned(n, align));
        break;
    default:
        c->p = (unsigned char*)(via_null ? fa_realloc_aligned(NULL, n, align) : fa_malloc_aligned(n, align));
        break;
    }
    agg_note(&cs->agg, c->p != NULL, "%s start(%zu, align %zu) failed", op_name(op), n, align);
    if (!c->p) { c->n = 0; return; }
    size_t u = fa_usable_size(c->p);
    agg_note(&cs->agg, u >= n, "%s start(%zu): usable %zu", op_name(op), n, u);
    agg_note(&cs->agg, (uintptr_t)c->p % chain_min_align(c, n) == 0, "%s start(%zu, align %zu): %p misaligned",
             op_name(op), n, align, (void*)c->p);
    if (op_zeroes(op)) {
        size_t bad = zero_verify(c->p, 0, u);
        agg_note(&cs->agg, bad == HARNESS_OK, "%s start(%zu, align %zu): not zero at %zu (usable %zu)",
                 op_name(op), n, align, bad, u);
    }
    pat_fill(c->p, 0, n, seed);
}

/* One resize of a chain to m bytes, with every check on contents, alignment and counters. */
static void chain_step(chain_t* c, size_t m, chain_stats_t* cs) {
    if (!c->p) return;
    size_t n = c->n, u_old = fa_usable_size(c->p);
    unsigned char* old = c->p;
    fa_stats_t a = snap();
    unsigned char* q = (unsigned char*)chain_call(c, m);
    fa_stats_t b = snap();
    cs->steps++;
    agg_note(&cs->agg, q != NULL, "%s(%zu -> %zu, align %zu) returned NULL", op_name(c->op), n, m, c->align);
    if (!q) return;
    c->p = q;
    c->n = m;
    size_t u = fa_usable_size(q);
    bool same = q == old;
    if (same) cs->in_place++; else cs->moved++;
    if (m > n) cs->grows++;
    if (m < n) cs->shrinks++;
    if (u > LARGE_MAX || u_old > LARGE_MAX) cs->huge_steps++;

    agg_note(&cs->agg, u >= m, "%s(%zu -> %zu): usable %zu", op_name(c->op), n, m, u);
    agg_note(&cs->agg, (uintptr_t)q % chain_min_align(c, m) == 0, "%s(%zu -> %zu, align %zu): %p misaligned",
             op_name(c->op), n, m, c->align, (void*)q);
    size_t keep = min_sz(n, m);
    size_t bad = pat_verify(q, 0, keep, c->seed);
    agg_note(&cs->agg, bad == HARNESS_OK, "%s(%zu -> %zu, align %zu, %s): prefix lost at %zu", op_name(c->op), n, m,
             c->align, same ? "in place" : "moved", bad);
    if (op_zeroes(c->op)) {
        /* [old size, new size) must read zero; so must the rest of the usable size (the invariant
           every later in-place growth relies on) */
        bad = zero_verify(q, keep, u);
        agg_note(&cs->agg, bad == HARNESS_OK,
                 "%s(%zu -> %zu, align %zu, %s, usable %zu -> %zu): not zero at %zu", op_name(c->op), n, m,
                 c->align, same ? "in place" : "moved", u_old, u, bad);
    }
    size_t dz = b.bytes_zeroed - a.bytes_zeroed, dc = b.bytes_copied - a.bytes_copied;
#ifdef FASTALLOC_STATS
    const char* where = same ? "in place" : "moved";
    if (!op_zeroes(c->op)) {
        agg_note(&cs->agg, dz == 0, "realloc_aligned(%zu -> %zu, %s) cleared %zu bytes", n, m, where, dz);
    } else if (m > n) {
        size_t bound = (m - n) + (u - m) + (u_old - n);
        agg_note(&cs->agg, dz <= bound, "%s grow %zu -> %zu (%s, usable %zu -> %zu): cleared %zu > %zu",
                 op_name(c->op), n, m, where, u_old, u, dz, bound);
#if !HARNESS_IN_REGION   /* a fresh mapping reads zero; region memory is the caller's and may not */
        /* at most what the block gains: a zeroed block cut from a bigger cached mapping clears the
           part of the mapping's tail that may hold old bytes when it grows into it, nothing else */
        if (u > LARGE_MAX)
            agg_note(&cs->agg, dz <= 8 + (same && u > u_old ? u - u_old : 0),
                     "%s grow %zu -> %zu into a huge block (%s, usable %zu -> %zu): cleared %zu",
                     op_name(c->op), n, m, where, u_old, u, dz);
#endif
    } else if (m < n && same) {
        agg_note(&cs->agg, dz <= u - m, "%s shrink %zu -> %zu in place (usable %zu): cleared %zu", op_name(c->op),
                 n, m, u, dz);
    }
    agg_note(&cs->agg, dc <= u_old, "%s(%zu -> %zu, %s): copied %zu > old usable %zu", op_name(c->op), n, m, where,
             dc, u_old);
    if (same) agg_note(&cs->agg, dc == 0, "%s(%zu -> %zu) in place copied %zu", op_name(c->op), n, m, dc);
    if (m < n) agg_note(&cs->agg, dc <= m, "%s shrink %zu -> %zu copied %zu", op_name(c->op), n, m, dc);
    agg_note(&cs->agg, dz + dc <= u, "%s(%zu -> %zu, %s): cleared %zu + copied %zu > usable %zu", op_name(c->op), n,
             m, where, dz, dc, u);
#else
    (void)dz; (void)dc;
#endif
    if (m > n) pat_fill(q, n, m, c->seed);
}

static size_t huge_cap(void) { return ZT_SLOW ? 6 * MiB : 16 * MiB; }

/* A random target size: often near the current one (in-place steps), otherwise any tier. */
static size_t pick_size(uint64_t* rng, size_t cur) {
    uint64_t r = harness_rand(rng);
    unsigned pick = (unsigned)(r % 100);
    uint64_t x = harness_rand(rng);
    if (pick < 35 && cur > 16) {
        size_t d = (size_t)(x % (cur / 3 + 1));
        return (r >> 40) & 1 ? cur + d : cur - d;
    }
    if (pick < 37) return 0;
    if (pick < 65) return 1 + (size_t)(x % 8192);                           /* small  */
    if (pick < 80) return 8 * KiB + (size_t)(x % (56 * KiB));               /* medium */
    if (pick < 96) return 64 * KiB + (size_t)(x % (LARGE_MAX - 64 * KiB));  /* large  */
    return LARGE_MAX + 1 + (size_t)(x % (huge_cap() - LARGE_MAX));          /* huge   */
}

/* Blocks allocated, dirtied and freed between steps: neighbours for in-place growth to run into
   and dirty memory for moves to land on. */
enum { NBLOCKERS = 48 };
static void* blockers[NBLOCKERS];

static void churn_blockers(uint64_t* rng) {
    uint64_t r = harness_rand(rng);
    if (r % 100 >= 40) return;
    size_t i = (size_t)((r >> 8) % NBLOCKERS);
    if (blockers[i]) {
        fa_free(blockers[i]);
        blockers[i] = NULL;
    } else {
        uint64_t x = harness_rand(rng);
        size_t s = (x & 3) == 0 ? 64 * KiB + (size_t)((x >> 8) % (1536 * KiB)) : 1 + (size_t)((x >> 8) % 20000);
        blockers[i] = fa_malloc(s);
        if (blockers[i]) memset(blockers[i], 0x5A, fa_usable_size(blockers[i]));
    }
}

static void free_blockers(void) {
    for (size_t i = 0; i < NBLOCKERS; i++) { fa_free(blockers[i]); blockers[i] = NULL; }
}

static void report_chain(const char* what, const chain_stats_t* cs) {
    AGG_CHECK(cs->agg, what);
    /* the mix must really exercise both outcomes and both directions */
    CHECKF(cs->in_place > 0 && cs->moved > 0 && cs->grows > 0 && cs->shrinks > 0 && cs->huge_steps > 0,
           "%s: %zu steps, %zu in place, %zu moved, %zu grows, %zu shrinks, %zu huge", what, cs->steps,
           cs->in_place, cs->moved, cs->grows, cs->shrinks, cs->huge_steps);
}

/* Several chains at once (rezalloc and recalloc), random steps over every tier. */
static void test_zero_chains(void) {
    harness_section("rezalloc chains");
    enum { NCHAINS = 6 };
    chain_t ch[NCHAINS];
    chain_stats_t cs;
    memset(&cs, 0, sizeof cs);
    uint64_t rng = 0x243F6A8885A308D3ULL;
    for (size_t i = 0; i < NCHAINS; i++)
        chain_start(&ch[i], i % 2 ? OP_RECALLOC : OP_REZALLOC, 0, pick_size(&rng, 0), 0x100 + i, &cs);
    size_t steps = steps_scaled(6000, 1500);
    for (size_t s = 0; s < steps; s++) {
        chain_t* c = &ch[harness_rand(&rng) % NCHAINS];
        chain_step(c, pick_size(&rng, c->n), &cs);
        churn_blockers(&rng);
    }
    for (size_t i = 0; i < NCHAINS; i++) fa_free(ch[i].p);
    free_blockers();
    report_chain("rezalloc/recalloc chains", &cs);
}

/* One chain per alignment from 16 B to 4 MiB, for rezalloc_aligned and realloc_aligned. */
static void test_aligned_chains(void) {
    harness_section("aligned chains");
    uint64_t rng = 0x13198A2E03707344ULL;
    size_t per_align = steps_scaled(240, 70);
    for (int op = OP_REZALLOC_ALIGNED; op <= OP_REALLOC_ALIGNED; op++) {
        chain_stats_t cs;
        memset(&cs, 0, sizeof cs);
        for (size_t align = 16; align <= 4 * MiB; align *= 2) {
            chain_t c;
            chain_start(&c, op, align, pick_size(&rng, 0), align * 3 + (size_t)op, &cs);
            for (size_t s = 0; s < per_align; s++) {
                chain_step(&c, pick_size(&rng, c.n), &cs);
                churn_blockers(&rng);
            }
            fa_free(c.p);
        }
        free_blockers();
        report_chain(op_name(op), &cs);
    }
}

/* ---- 4. the mimalloc #763 scenario ----------------------------------------------------------
   zalloc(n), write n bytes, rezalloc shrinks in place, rezalloc back to n: [shrunk, n) must read
   zero (the bytes given up at the shrink must not come back). */
static void scenario_763(int op, size_t n, size_t align, bool far_shrink) {
    chain_stats_t cs;
    memset(&cs, 0, sizeof cs);
    chain_t c;
    chain_start(&c, op, align, n, 0x763 + n, &cs);
    if (!c.p) { AGG_CHECK(cs.agg, "763 start"); return; }
    unsigned char* p0 = c.p;
    size_t u = fa_usable_size(c.p);
    /* In place means at least half the usable size (for huge blocks: anything above the large
       tier); shrink to the middle between that and n. A block much bigger than asked for (a
       small size with a big alignment) cannot shrink in place: there only the zero rule is tested. */
    bool in_place = far_shrink || n > u / 2 + 1 || n > LARGE_MAX;   /* a huge block stays while huge */
    size_t m = far_shrink ? max_sz(n / 8, LARGE_MAX + 4096)
             : n > u / 2 + 1 ? u / 2 + (n - u / 2) / 2
             : n > LARGE_MAX ? max_sz(n / 2, LARGE_MAX + 4096) : n / 2;
    if (op != OP_REZALLOC_ALIGNED && n <= LARGE_MAX)
        CHECKF(in_place, "%s(%zu): usable %zu more than twice the size", op_name(op), n, u);
    fa_stats_t a = snap();
    chain_step(&c, m, &cs);
    fa_stats_t b = snap();
    if (in_place) {
        CHECKF(c.p == p0, "%s(%zu -> %zu, align %zu, usable %zu): moved, expected in place", op_name(op), n, m,
               align, u);
#ifdef FASTALLOC_STATS
        CHECKF(b.bytes_copied == a.bytes_copied, "763 shrink %zu -> %zu copied %zu", n, m,
               b.bytes_copied - a.bytes_copied);
#endif
    }
    (void)a; (void)b;
    chain_step(&c, n, &cs); /* checks [m, n) and the rest of the usable size read zero */
    chain_step(&c, m, &cs);
    chain_step(&c, n + n / 3, &cs);
    char what[96];
    snprintf(what, sizeof what, "763 %s n=%zu align=%zu%s", op_name(op), n, align, far_shrink ? " far" : "");
    AGG_CHECK(cs.agg, what);
    fa_free(c.p);
}

static void test_763(void) {
    harness_section("mimalloc #763");
    static const size_t sizes[] = {24, 100, 1000, 5000, 8192, 20000, 60000, 100000, 600000,
                                   2 * MiB, 3 * MiB, 9 * MiB, 40 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        scenario_763(OP_REZALLOC, sizes[i], 0, false);
        scenario_763(OP_RECALLOC, sizes[i], 0, false);
        scenario_763(OP_REZALLOC_ALIGNED, sizes[i], 64, false);
        scenario_763(OP_REZALLOC_ALIGNED, sizes[i], 4096, false);
        if (sizes[i] >= 9 * MiB) {
            scenario_763(OP_REZALLOC, sizes[i], 0, true);
            scenario_763(OP_REZALLOC_ALIGNED, sizes[i], 4 * MiB, true);
        }
    }
}

/* ---- 5. NULL pointers, overflow, bad alignment ----------------------------------------------- */

static void test_null_and_errors(void) {
    harness_section("null and errors");
    static const size_t sizes[] = {0, 1, 100, 5000, 40000, 300000, 3 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        /* dirty the size class first so a zero read means the call zeroed */
        void* d = fa_malloc(n);
        CHECK(d != NULL);
        if (d) memset(d, 0xEE, fa_usable_size(d));
        fa_free(d);
        void* r[4] = {fa_rezalloc(NULL, n), fa_recalloc(NULL, n, 1), fa_rezalloc_aligned(NULL, n, 4096),
                      fa_realloc_aligned(NULL, n, 256)};
        static const char* names[4] = {"rezalloc(NULL)", "recalloc(NULL)", "rezalloc_aligned(NULL)",
                                       "realloc_aligned(NULL)"};
        for (int k = 0; k < 4; k++) {
            CHECKF(r[k] != NULL, "%s, %zu) failed", names[k], n);
            if (!r[k]) continue;
            size_t u = fa_usable_size(r[k]);
            CHECK_GE_SZ(u, n);
            if (k == 2) CHECK_ALIGNED(r[k], 4096);
            if (k == 3) CHECK_ALIGNED(r[k], 256);
            if (k < 3) CHECKF(zero_verify(r[k], 0, u) == HARNESS_OK, "%s, %zu) not zero", names[k], n);
            memset(r[k], 0xEE, u);
        }
        for (int k = 0; k < 4; k++) fa_free(r[k]);
    }
    void* z;
    errno = 0;
    z = fa_recalloc(NULL, v_size_max / 2 + 1, 2);
    CHECK_NULL_ERRNO(z, ENOMEM);
    errno = 0;
    z = fa_realloc_aligned(NULL, 100, 48);
    CHECK_NULL_ERRNO(z, EINVAL);
    errno = 0;
    z = fa_rezalloc_aligned(NULL, 100, 3);
    CHECK_NULL_ERRNO(z, EINVAL);
    /* alignment 0 is not a power of two either (fa_malloc_aligned rejects it) */
    errno = 0;
    z = fa_rezalloc_aligned(NULL, 100, 0);
    CHECK_NULL_ERRNO(z, EINVAL);
    fa_free(z);

    /* failures leave the old block untouched, in every tier */
    static const size_t olds[] = {200, 20000, 200000, 5 * MiB};
    static const size_t bad_aligns[] = {0, 3, 24, 48, 100, 4097, (size_t)3 << 20};
    for (size_t i = 0; i < ARRAY_LEN(olds); i++) {
        size_t n = olds[i];
        unsigned char* p = (unsigned char*)fa_zalloc(n);
        CHECK(p != NULL);
        if (!p) continue;
        pat_fill(p, 0, n, 77 + i);
        size_t u = fa_usable_size(p);
        void* q;
        errno = 0;
        q = fa_recalloc(p, v_size_max / 2 + 1, 2);
        CHECK_NULL_ERRNO(q, ENOMEM);
        errno = 0;
        q = fa_recalloc(p, v_size_max, v_size_max);
        CHECK_NULL_ERRNO(q, ENOMEM);
        errno = 0;
        q = fa_recalloc(p, v_ptrdiff_max / 2 + 1, 2); /* no overflow, but above PTRDIFF_MAX */
        CHECK_NULL_ERRNO(q, ENOMEM);
        errno = 0;
        q = fa_rezalloc(p, v_ptrdiff_max + 1);
        CHECK_NULL_ERRNO(q, ENOMEM);
        for (size_t k = 0; k < ARRAY_LEN(bad_aligns); k++) {
            errno = 0;
            q = fa_realloc_aligned(p, n * 2, bad_aligns[k]);
            int e = errno;
            CHECKF(q == NULL && e == EINVAL, "realloc_aligned(%zu-byte block, %zu, align %zu) = %p, errno %d; want NULL, EINVAL",
                   n, n * 2, bad_aligns[k], q, e);
            if (q != NULL) { fa_free(q); p = NULL; break; } /* resized (p released or changed): stop */
            errno = 0;
            q = fa_rezalloc_aligned(p, n / 2, bad_aligns[k]);
            e = errno;
            CHECKF(q == NULL && e == EINVAL, "rezalloc_aligned(%zu-byte block, %zu, align %zu) = %p, errno %d; want NULL, EINVAL",
                   n, n / 2, bad_aligns[k], q, e);
            if (q != NULL) { fa_free(q); p = NULL; break; }
        }
        if (!p) continue;
        CHECK_EQ_SZ(fa_usable_size(p), u);
        size_t bad = pat_verify(p, 0, n, 77 + i);
        CHECKF(bad == HARNESS_OK, "block of %zu changed by failed calls at %zu", n, bad);
        CHECKF(zero_verify(p, n, u) == HARNESS_OK, "block of %zu: tail past the size changed by failed calls", n);
        /* and it still works afterwards */
        unsigned char* q2 = (unsigned char*)fa_recalloc(p, 2, n);
        CHECK(q2 != NULL);
        if (q2) {
            CHECK(pat_verify(q2, 0, n, 77 + i) == HARNESS_OK);
            CHECK(zero_verify(q2, n, 2 * n) == HARNESS_OK);
            p = q2;
        }
        fa_free(p);
    }
}

/* Resizing to 0 bytes under an alignment above the slice size (a huge mapping for a tiny
   block). Runs in a child process where there is fork(), so that a crash is a failed check, not
   the end of the run (elsewhere in this process: a crash still fails the suite). Returns 0, or
   the number of the step that went wrong. */
static int zero_size_big_align_steps(void) {
    for (size_t align = 128 * KiB; align <= 4 * MiB; align *= 2) {
        for (int zero = 0; zero <= 1; zero++) {
            unsigned char* p = (unsigned char*)(zero ? fa_zalloc_aligned(100, align) : fa_malloc_aligned(100, align));
            if (!p) return 2;
            memset(p, 0x77, 100);
            unsigned char* q = (unsigned char*)(zero ? fa_rezalloc_aligned(p, 0, align) : fa_realloc_aligned(p, 0, align));
            if (!q) return 3;
            if ((uintptr_t)q % align != 0) return 4;
            unsigned char* r = (unsigned char*)(zero ? fa_rezalloc_aligned(q, 5000, align) : fa_realloc_aligned(q, 5000, align));
            if (!r) return 5;
            if ((uintptr_t)r % align != 0) return 6;
            if (zero && harness_first_nonzero(r, 5000) != HARNESS_OK) return 7;
            fa_free(r);
        }
    }
    return 0;
}

static void test_zero_size_big_align(void) {
    harness_section("resize to 0, big alignment");
#if HARNESS_HAVE_FORK
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) _exit(zero_size_big_align_steps());
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "re(z)alloc_aligned(p, 0, align >= 128 KiB) then back to 5000 bytes: child %s %d",
           WIFSIGNALED(status) ? "killed by signal" : "exit status",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
#else
    int step = zero_size_big_align_steps();
    CHECKF(step == 0, "re(z)alloc_aligned(p, 0, align >= 128 KiB) then back to 5000 bytes: failed at step %d", step);
#endif
}

/* A block that is not aligned enough moves to an aligned one (small, large and huge sources):
   contents and the zero tail follow, growing or shrinking. */
/* Tries enough blocks to pass a whole fresh stretch of 112-byte blocks (8 KiB: 73 of them): a
   secure build threads a stretch in a random stride, and a stride that is a multiple of 4 from a
   64-aligned block meets only 64-aligned blocks until it wraps around the stretch. */
#define UNALIGNED_TRIES 80
static unsigned char* unaligned_block(size_t n, size_t al, int zero) {
    void* hold[UNALIGNED_TRIES];
    size_t nh = 0;
    unsigned char* p = NULL;
    for (int t = 0; t < UNALIGNED_TRIES && !p; t++) {
        unsigned char* x = (unsigned char*)(zero ? fa_zalloc(n) : fa_malloc(n));
        if (x && (uintptr_t)x % al != 0) p = x; else hold[nh++] = x;
    }
    for (size_t k = 0; k < nh; k++) fa_free(hold[k]);
    return p;
}

static void test_realign(void) {
    harness_section("realign");
    static const size_t sizes[] = {100, 100000, 5 * MiB};
    static const size_t aligns[] = {64, 4096, 64 * KiB, 1 * MiB, 4 * MiB, 16 * MiB};
    size_t tested[ARRAY_LEN(sizes)] = {0};
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        for (size_t i = 0; i < ARRAY_LEN(aligns); i++) {
            size_t n = sizes[si], al = aligns[i];
            uint64_t seed = 5 + si * 16 + i;
            /* rezalloc_aligned, growing */
            unsigned char* p = unaligned_block(n, al, 1);
            if (n == 100) CHECKF(p != NULL, "no 112-byte block off a %zu alignment in %d tries", al, UNALIGNED_TRIES);
            if (p) {
                tested[si]++;
                pat_fill(p, 0, n, seed);
                size_t m = n + n / 2;
                unsigned char* q = (unsigned char*)fa_rezalloc_aligned(p, m, al);
                CHECKF(q != NULL, "rezalloc_aligned(%zu -> %zu, %zu) failed", n, m, al);
                if (!q) q = p;
                else {
                    CHECK_ALIGNED(q, al);
                    CHECKF(pat_verify(q, 0, n, seed) == HARNESS_OK, "realign %zu -> %zu (%zu): data lost", n, m, al);
                    CHECKF(zero_verify(q, n, fa_usable_size(q)) == HARNESS_OK, "realign %zu -> %zu (%zu): tail not zero",
                           n, m, al);
                }
                fa_free(q);
            }
            /* realloc_aligned, shrinking a little (in place but for the alignment) */
            unsigned char* r = unaligned_block(n, al, 0);
            if (n == 100) CHECKF(r != NULL, "no 112-byte block off a %zu alignment in %d tries", al, UNALIGNED_TRIES);
            if (r) {
                tested[si]++;
                pat_fill(r, 0, n, seed + 1);
                size_t m = n - n / 3;
                unsigned char* q = (unsigned char*)fa_realloc_aligned(r, m, al);
                CHECKF(q != NULL, "realloc_aligned(%zu -> %zu, %zu) failed", n, m, al);
                if (!q) q = r;
                else {
                    CHECK_ALIGNED(q, al);
                    CHECKF(pat_verify(q, 0, m, seed + 1) == HARNESS_OK, "realign %zu -> %zu (%zu): data lost", n, m, al);
                }
                fa_free(q);
            }
        }
    }
    /* every tier realigned: the small blocks at each alignment (checked above), the large and huge
       ones where their placement allowed: large blocks start on slices, and a huge block on huge
       pages on a 2 MiB boundary, which mappings placed one after another may make 4 MiB-aligned
       every time, but 16 MiB-aligned at most every other time */
    CHECK_EQ_SZ(tested[0], 2 * ARRAY_LEN(aligns));
    CHECK_GE_SZ(tested[1], 2);
    CHECK_GE_SZ(tested[2], 2);
}

/* ---- 6. in place --------------------------------------------------------------------------- */

/* Resizes within the usable size stay put and copy nothing, in every tier. */
static void test_within_usable(void) {
    harness_section("within usable");
    static const size_t sizes[] = {16, 100, 1000, 8192, 30000, 100000, 1500000, 3 * MiB, 20 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        for (int zero = 0; zero <= 1; zero++) {
            size_t n = sizes[i];
            unsigned char* p = (unsigned char*)(zero ? fa_zalloc(n) : fa_malloc(n));
            CHECK(p != NULL);
            if (!p) continue;
            size_t u = fa_usable_size(p);
            pat_fill(p, 0, n, 31 + i);
            size_t targets[3] = {u, u / 2 + 1, u};
            size_t cur = n;
            for (int k = 0; k < 3; k++) {
                size_t m = targets[k];
                fa_stats_t a = snap();
                unsigned char* q = (unsigned char*)(zero ? fa_rezalloc(p, m) : fa_realloc(p, m));
                fa_stats_t b = snap();
                CHECKF(q == p, "%s(%zu-byte block, usable %zu, -> %zu) moved", zero ? "rezalloc" : "realloc", n, u, m);
                if (!q) break;
                p = q;
                CHECK(pat_verify(p, 0, min_sz(cur, m), 31 + i) == HARNESS_OK);
                if (zero && m > cur) CHECK(zero_verify(p, cur, m) == HARNESS_OK);
#ifdef FASTALLOC_STATS
                CHECKF(b.bytes_copied == a.bytes_copied, "in-place resize %zu -> %zu copied %zu", cur, m,
                       b.bytes_copied - a.bytes_copied);
                if (!zero) CHECK_EQ_SZ(b.bytes_zeroed - a.bytes_zeroed, 0);
#else
                (void)a; (void)b;
#endif
                if (m > cur) pat_fill(p, cur, m, 31 + i);
                cur = m;
            }
            fa_free(p);
        }
    }
}

typedef struct {
    size_t fails;
    char first[300];
} thread_result_t;

/* What a test thread hands back: its failures and the first one's text. */
static void* thread_result_set(thread_result_t* res, const agg_t* agg) {
    res->fails = agg->fails;
    memcpy(res->first, agg->first, sizeof res->first);
    res->first[sizeof res->first - 1] = '\0';
    return NULL;
}

/* A test section `what`: runs `body` in a new thread, whose heap maps a fresh segment (fa_collect(true) first: nothing
   abandoned to adopt), and checks what it hands back. Without threads: on this thread's heap,
   which that fa_collect emptied. */
static void run_in_fresh_heap(const char* what, void* (*body)(void*)) {
    harness_section(what);
    fa_collect(true);
    thread_result_t res;
    memset(&res, 0, sizeof res);
#if HARNESS_HAVE_THREADS
    pthread_t t;
    CHECK(pthread_create(&t, NULL, body, &res) == 0);
    pthread_join(t, NULL);
#else
    (void)body(&res);
#endif
    CHECKF(res.fails == 0, "%s: %zu failures, first: %s", what, res.fails, res.first);
}

/* In a fresh thread whose segment is empty past it, a large block on a page of its own (120 KiB: a
   block of 128 KiB, two slices) grows in place over the free slices after it; the grown part of a
   zeroed block lands on never-used slices and is not cleared. */
static void* large_grow_thread(void* arg) {
    thread_result_t* res = (thread_result_t*)arg;
    agg_t agg;
    memset(&agg, 0, sizeof agg);
    static const size_t steps[] = {120 * KiB, 200 * KiB, 500 * KiB, MiB, 2 * MiB};
    unsigned char* p = (unsigned char*)fa_malloc(steps[0]);
    agg_note(&agg, p != NULL, "malloc(120 KiB) failed");
    for (size_t i = 1; p && i < ARRAY_LEN(steps); i++) {
        pat_fill(p, steps[i - 1] - 1000, steps[i - 1], 3); /* the end of the old size */
        fa_stats_t a = snap();
        unsigned char* q = (unsigned char*)fa_realloc(p, steps[i]);
        fa_stats_t b = snap();
        agg_note(&agg, q == p, "realloc %zu -> %zu: %p -> %p, expected in place", steps[i - 1], steps[i],
                 (void*)p, (void*)q);
        if (!q) break;
        p = q;
        agg_note(&agg, pat_verify(p, steps[i - 1] - 1000, steps[i - 1], 3) == HARNESS_OK, "grow to %zu lost data",
                 steps[i]);
        agg_note(&agg, fa_usable_size(p) >= steps[i], "usable %zu < %zu", fa_usable_size(p), steps[i]);
#ifdef FASTALLOC_STATS
        agg_note(&agg, b.bytes_copied == a.bytes_copied, "grow %zu -> %zu copied %zu", steps[i - 1], steps[i],
                 b.bytes_copied - a.bytes_copied);
#else
        (void)a; (void)b;
#endif
    }
    /* a zeroed block after it: 120 KiB, grown to 1 MiB over slices no page ever used */
    unsigned char* z = (unsigned char*)fa_zalloc(120 * KiB);
    agg_note(&agg, z != NULL, "zalloc(120 KiB) failed");
    if (z) {
        pat_fill(z, 0, 120 * KiB, 4);
        fa_stats_t a = snap();
        unsigned char* q = (unsigned char*)fa_rezalloc(z, MiB);
        fa_stats_t b = snap();
        agg_note(&agg, q == z, "rezalloc 120 KiB -> 1 MiB moved (%p -> %p)", (void*)z, (void*)q);
        if (q) {
            z = q;
            agg_note(&agg, pat_verify(z, 0, 120 * KiB, 4) == HARNESS_OK, "rezalloc in place lost data");
            size_t bad = zero_verify(z, 120 * KiB, fa_usable_size(z));
            agg_note(&agg, bad == HARNESS_OK, "rezalloc 120 KiB -> 1 MiB: not zero at %zu", bad);
        }
#ifdef FASTALLOC_STATS
        agg_note(&agg, b.bytes_copied == a.bytes_copied, "rezalloc in place copied %zu", b.bytes_copied - a.bytes_copied);
#if HARNESS_IN_REGION   /* region memory is not fresh: each grown byte is cleared, once */
        agg_note(&agg, b.bytes_zeroed - a.bytes_zeroed <= fa_usable_size(z) - 120 * KiB,
                 "rezalloc over region windows cleared %zu", b.bytes_zeroed - a.bytes_zeroed);
#else
        agg_note(&agg, b.bytes_zeroed - a.bytes_zeroed <= 8, "rezalloc over fresh slices cleared %zu",
                 b.bytes_zeroed - a.bytes_zeroed);
#endif
#else
        (void)a; (void)b;
#endif
        fa_free(z);
    }
    fa_free(p);
    return thread_result_set(res, &agg);
}

static void test_large_grow_in_place(void) {
    run_in_fresh_heap("large grow in place", large_grow_thread);
}

/* A large block grows in place over the slices of an empty page its heap keeps (retire hysteresis)
   right after it, copying nothing; a page there with a live block makes it move, and that block
   keeps its bytes. In a fresh thread (see large_grow_thread) the two blocks lie side by side. */
static void* large_make_way_thread(void* arg) {
    thread_result_t* res = (thread_result_t*)arg;
    agg_t agg;
    memset(&agg, 0, sizeof agg);
    unsigned shift = HARNESS_IN_REGION ? FASTALLOC_REGION_SLICE_SHIFT : FASTALLOC_SLICE_SHIFT;
    size_t slice = (size_t)1 << shift, two = 2 * slice - 100;   /* a large block on two slices of its own */
    unsigned char* a = (unsigned char*)fa_malloc(two);
    unsigned char* b = (unsigned char*)fa_malloc(two);
    agg_note(&agg, a != NULL && b != NULL, "malloc(%zu) failed", two);
    if (a != NULL && b != NULL) {
        agg_note(&agg, b == a + 2 * slice, "a fresh segment put the second block at %+td bytes, not right after the first",
                 (ptrdiff_t)(b - a));
        pat_fill(a, 0, two, 5);
        pat_fill(b, 0, two, 6);
        unsigned char* c = (unsigned char*)fa_realloc(a, 3 * slice);   /* b is live: a moves */
        agg_note(&agg, c != NULL && c != a, "realloc over a live block's slices: %p -> %p", (void*)a, (void*)c);
        agg_note(&agg, pat_verify(b, 0, two, 6) == HARNESS_OK, "the block in the way lost its bytes");
        if (c != NULL) a = c;
        agg_note(&agg, pat_verify(a, 0, two, 5) == HARNESS_OK, "the moved block lost its bytes");
        fa_free(a);
        a = (unsigned char*)fa_malloc(two);   /* where the first one was, b still after it */
        agg_note(&agg, a != NULL && b == a + 2 * slice, "the freed slices before b were not taken again");
        if (a != NULL && b == a + 2 * slice) {
            pat_fill(a, 0, two, 7);
            fa_free(b);   /* its page stays, empty, for reuse */
            b = NULL;
            fa_stats_t s0 = snap();
            c = (unsigned char*)fa_realloc(a, 3 * slice);
            fa_stats_t s1 = snap();
            agg_note(&agg, c == a, "realloc over an empty kept page's slices moved: %p -> %p", (void*)a, (void*)c);
            if (c != NULL) a = c;
            agg_note(&agg, pat_verify(a, 0, two, 7) == HARNESS_OK, "grow over a kept page lost data");
            agg_note(&agg, fa_usable_size(a) >= 3 * slice, "usable %zu < %zu", fa_usable_size(a), 3 * slice);
#ifdef FASTALLOC_STATS
            agg_note(&agg, s1.bytes_copied == s0.bytes_copied, "grow over a kept page copied %zu", s1.bytes_copied - s0.bytes_copied);
#else
            (void)s0; (void)s1;
#endif
            /* the page that gave way is gone: a block of its size comes from elsewhere, whole */
            unsigned char* d = (unsigned char*)fa_malloc(two);
            agg_note(&agg, d != NULL && (d + two <= a || d >= a + fa_usable_size(a)), "a new block overlaps the grown one");
            if (d != NULL) {
                pat_fill(d, 0, two, 8);
                agg_note(&agg, pat_verify(a, 0, two, 7) == HARNESS_OK && pat_verify(d, 0, two, 8) == HARNESS_OK,
                         "the grown block and a new one overwrite each other");
            }
            fa_free(d);
        }
    }
    fa_free(a);
    fa_free(b);
    return thread_result_set(res, &agg);
}

static void test_large_make_way(void) {
    run_in_fresh_heap("large grow over a kept page", large_make_way_thread);
}

/* Blocks of 100 KiB (112 KiB each) are packed four to a page of seven slices where the geometry is
   the OS's (not a region's): in a fresh thread the first four fill one page, side by side (in any
   order: a secure build shuffles fresh blocks). A step within the usable size stays in place; one
   past it moves the block out of the page, and every block keeps its bytes. */
static void* large_packed_thread(void* arg) {
    thread_result_t* res = (thread_result_t*)arg;
    agg_t agg;
    memset(&agg, 0, sizeof agg);
    const size_t n = 100 * KiB;
    unsigned char* b[4];
    bool all = true;
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char*)fa_malloc(n);
        all = all && b[i] != NULL;
    }
    agg_note(&agg, all, "malloc(100 KiB) failed");
    if (all) {
        size_t usable = fa_usable_size(b[0]);
        agg_note(&agg, usable >= n, "usable size of a 100 KiB block: %zu", usable);
#if !HARNESS_IN_REGION
        agg_note(&agg, usable == 112 * KiB, "usable size of a 100 KiB block: %zu, expected 112 KiB", usable);
        unsigned char* first = b[0];
        for (int i = 1; i < 4; i++) first = b[i] < first ? b[i] : first;
        unsigned seen = 0;
        for (int i = 0; i < 4; i++) {
            size_t off = (size_t)(b[i] - first);
            if (off % usable == 0 && off / usable < 4) seen |= 1u << (off / usable);
        }
        agg_note(&agg, seen == 0xF, "four 100 KiB blocks of a fresh thread are not packed side by side (seen %x)", seen);
#endif
        for (int i = 0; i < 4; i++) pat_fill(b[i], 0, n, 10 + i);
        unsigned char* q = (unsigned char*)fa_realloc(b[1], 110 * KiB);
        agg_note(&agg, q == b[1], "realloc 100 -> 110 KiB within the usable size moved");
        if (q != NULL) b[1] = q;
        q = (unsigned char*)fa_realloc(b[1], 200 * KiB);
        agg_note(&agg, q != NULL && (HARNESS_IN_REGION || q != b[1]), "realloc 100 -> 200 KiB out of a packed page: %p -> %p",
                 (void*)b[1], (void*)q);
        if (q != NULL) b[1] = q;
        for (int i = 0; i < 4; i++) agg_note(&agg, pat_verify(b[i], 0, n, 10 + i) == HARNESS_OK, "block %d lost its bytes", i);
    }
    for (int i = 0; i < 4; i++) fa_free(b[i]);
    return thread_result_set(res, &agg);
}

static void test_large_packed(void) {
    run_in_fresh_heap("large blocks packed", large_packed_thread);
}

/* A large block that shrinks stays where it is and gives its slices past the new size back: its
   heap's page bytes fall by them and nothing is copied; under rezalloc what it gives up in the slices
   it keeps reads zero, and so does what it gave up when it grows again. One that shrinks into the
   medium or small tiers moves unless it fills half of the one slice it would keep. The shrunk page
   serves a smaller size class from then on: blocks of the old size and the new one allocated over
   it afterwards keep their bytes. */
static void test_large_shrink_in_place(void) {
    harness_section("large shrink in place");
    unsigned shift = HARNESS_IN_REGION ? FASTALLOC_REGION_SLICE_SHIFT : FASTALLOC_SLICE_SHIFT;
    size_t slice = (size_t)1 << shift, big = 16 * slice, kept = 4 * slice - 100;
    unsigned char* p = (unsigned char*)fa_zalloc(big);
    CHECK(p != NULL);
    if (!p) return;
    harness_fill(p, big, 21);
    fa_heap_stats_t h0, h1;
    CHECK(fa_heap_stats(NULL, &h0));
    fa_stats_t a = snap();
    unsigned char* q = (unsigned char*)fa_rezalloc(p, kept);
    fa_stats_t b = snap();
    CHECK(fa_heap_stats(NULL, &h1));
    CHECKF(q == p, "rezalloc from %zu to %zu bytes moved the block", big, kept);
    if (!q) { fa_free(p); return; }
    CHECK_EQ_SZ(fa_usable_size(q), 4 * slice);
    CHECK(harness_verify(q, kept, 21) == HARNESS_OK);
    CHECK(harness_first_nonzero(q + kept, 100) == HARNESS_OK);
    CHECKF(h0.page_bytes - h1.page_bytes == 12 * slice, "page bytes %zu before the shrink, %zu after", h0.page_bytes, h1.page_bytes);
#ifdef FASTALLOC_STATS
    CHECK_EQ_SZ(b.bytes_copied - a.bytes_copied, 0);
#else
    (void)a; (void)b;
#endif
    unsigned char* g = (unsigned char*)fa_rezalloc(q, big - slice);
    CHECK(g != NULL);
    if (!g) { fa_free(q); return; }
    CHECK(harness_verify(g, kept, 21) == HARNESS_OK);
    CHECK(harness_first_nonzero(g + kept, big - slice - kept) == HARNESS_OK);
    /* into the medium tier: it stays on one slice while it fills half of it (cleared past the new
       size under rezalloc), and moves below that */
    unsigned char* h = (unsigned char*)fa_rezalloc(g, slice / 2);
    CHECK(h != NULL);
    if (!h) { fa_free(g); return; }
    CHECKF(h == g && fa_usable_size(h) == slice, "a block shrunk to %zu bytes: %s, usable %zu", slice / 2,
           h == g ? "in place" : "moved", fa_usable_size(h));
    CHECK(harness_verify(h, slice / 2, 21) == HARNESS_OK);
    CHECK(harness_first_nonzero(h + slice / 2, fa_usable_size(h) - slice / 2) == HARNESS_OK);
    unsigned char* m = (unsigned char*)fa_rezalloc(h, slice / 2 - 1);
    CHECK(m != NULL);
    if (!m) { fa_free(h); return; }
    CHECKF(fa_usable_size(m) < slice, "a block shrunk to %zu bytes kept %zu", slice / 2 - 1, fa_usable_size(m));
    CHECK(harness_verify(m, slice / 2 - 1, 21) == HARNESS_OK);
    fa_free(m);
    /* a shrunk page, emptied, serves the sizes it fits */
    p = (unsigned char*)fa_malloc(big);
    q = p != NULL ? (unsigned char*)fa_realloc(p, kept) : NULL;
    CHECK(q != NULL);
    fa_free(q);
    for (unsigned i = 0; i < 8; i++) {
        unsigned char* x = (unsigned char*)fa_malloc(big);
        unsigned char* y = (unsigned char*)fa_malloc(kept);
        CHECK(x != NULL && y != NULL);
        if (x) harness_fill(x, big, 30 + i);
        if (y) harness_fill(y, kept, 40 + i);
        if (x) CHECK(harness_verify(x, big, 30 + i) == HARNESS_OK);
        if (y) CHECK(harness_verify(y, kept, 40 + i) == HARNESS_OK);
        fa_free(x);
        fa_free(y);
    }
}

/* A huge block grown from 4 MiB to 64 MiB in 4 KiB steps: mremap with headroom, so (amortised)
   almost nothing is copied; with rezalloc nothing is cleared. */
static void test_huge_small_steps(void) {
    harness_section("huge small steps");
    for (int zero = 0; zero <= 1; zero++) {
        size_t n = 4 * MiB, final = 64 * MiB, step = 4 * KiB;
        unsigned char* p = (unsigned char*)(zero ? fa_zalloc(n) : fa_malloc(n));
        CHECK(p != NULL);
        if (!p) continue;
        pat_fill(p, 0, n, 61);
        fa_stats_t a = snap();
        agg_t agg;
        memset(&agg, 0, sizeof agg);
        size_t moves = 0;
        for (size_t m = n + step; m <= final; m += step) {
            unsigned char* q = (unsigned char*)(zero ? fa_rezalloc(p, m) : fa_realloc(p, m));
            agg_note(&agg, q != NULL, "grow to %zu failed", m);
            if (!q) break;
            if (q != p) moves++;
            p = q;
            if (zero) {
                size_t bad = zero_verify(p, m - step, m);
                agg_note(&agg, bad == HARNESS_OK, "rezalloc to %zu: new part not zero at %zu", m, bad);
            }
            pat_fill(p, m - step, m, 61);
            n = m;
        }
        fa_stats_t b = snap();
        AGG_CHECK(agg, zero ? "huge rezalloc steps" : "huge realloc steps");
        CHECK_EQ_SZ(n, final);
        size_t bad = pat_verify(p, 0, n, 61);
        CHECKF(bad == HARNESS_OK, "huge block grown in steps: pattern lost at %zu (%zu moves)", bad, moves);
#if HARNESS_IN_REGION   /* in a region the block grows over the windows after it: no OS, few moves */
        CHECKF(moves < 100, "%zu moves for 15360 steps (want few, amortised)", moves);
        CHECK_EQ_SZ(b.os_remap_calls - a.os_remap_calls, 0);
#elif ZT_HAVE_MREMAP
        size_t remaps = b.os_remap_calls - a.os_remap_calls;
        CHECKF(remaps > 0 && remaps < 100, "%zu mremap calls for 15360 steps (want some, amortised)", remaps);
#else   /* no mremap (Windows, FASTALLOC_PORTABLE_POSIX, wasm): growth in place only where the range
           after the block is free, else a move by copying, amortised by the headroom */
        CHECKF(moves < 100, "%zu moves for 15360 steps (want few, amortised)", moves);
        (void)a; (void)b;
#endif
#ifdef FASTALLOC_STATS
        CHECKF(b.bytes_copied - a.bytes_copied < 2 * final, "growth by 4 KiB steps copied %zu bytes (final %zu)",
               b.bytes_copied - a.bytes_copied, final);
#if HARNESS_IN_REGION   /* region memory is not fresh: each grown byte is cleared, once */
        if (zero)
            CHECKF(b.bytes_zeroed - a.bytes_zeroed <= fa_usable_size(p) - 4 * MiB,
                   "rezalloc growth over region windows cleared %zu bytes", b.bytes_zeroed - a.bytes_zeroed);
#else
        if (zero)
            CHECKF(b.bytes_zeroed - a.bytes_zeroed <= 8 * (final / step),
                   "rezalloc growth over OS-zeroed pages cleared %zu bytes", b.bytes_zeroed - a.bytes_zeroed);
#endif
#endif
        fa_free(p);
    }
}

/* A vector grown by one int at a time from empty to 300000 ints (small through large tiers). */
static void test_vector_growth(void) {
    harness_section("vector growth");
    size_t count = harness_scale(300000, 4);
    int* v = NULL;
    fa_stats_t a = snap();
    size_t nulls = 0, moves = 0;
    for (size_t i = 1; i <= count; i++) {
        int* w = (int*)fa_realloc(v, i * sizeof(int));
        if (!w) { nulls++; break; }
        if (w != v) moves++;
        v = w;
        v[i - 1] = (int)(i * 2654435761u);
    }
    fa_stats_t b = snap();
    CHECK_EQ_SZ(nulls, 0);
    size_t bad = 0;
    if (v)
        for (size_t i = 1; i <= count; i++)
            if (v[i - 1] != (int)(i * 2654435761u)) bad++;
    CHECKF(bad == 0, "vector lost %zu elements (%zu moves)", bad, moves);
#ifdef FASTALLOC_STATS
    size_t final = count * sizeof(int);
    CHECKF(b.bytes_copied - a.bytes_copied < 8 * final, "growth by one int copied %zu bytes for a %zu-byte vector (%zu moves)",
           b.bytes_copied - a.bytes_copied, final, moves);
#else
    (void)a; (void)b;
#endif
    fa_free(v);
}

#if !HARNESS_IN_REGION
/* Leaves a freed huge mapping of `size` in the cache, every byte of it written (old bytes a
   zeroing request that takes it must not see). */
static bool cache_dirty_mapping(size_t size) {
    unsigned char* p = (unsigned char*)fa_malloc(size);
    CHECK(p != NULL);
    if (!p) return false;
    memset(p, 0xAB, fa_usable_size(p));
    fa_free(p);
    return true;
}

/* A smaller block taken from a bigger cached mapping is cut to the size asked (page-rounded; in
   FASTALLOC_SECURE it keeps the mapping, its guard page right after): calloc clears only that, and
   growth into the rest of the mapping (its tail, old bytes) reads zero after a zeroing resize,
   also the page slack of a plain growth into it, which a zeroing growth then takes; a resize that
   fails leaves it as it was, its usable size included. */
static void test_huge_cut(void) {
    harness_section("huge block cut from a cached mapping");
    fa_collect(true);
    if (!cache_dirty_mapping(8 * MiB)) return;
    fa_stats_t a = snap();
    unsigned char* z = (unsigned char*)fa_calloc(1, 3 * MiB);
    fa_stats_t b = snap();
    CHECK(z != NULL);
    if (!z) return;
    CHECKF(b.os_map_calls == a.os_map_calls, "calloc(3 MiB) after free(8 MiB) mapped %zu times", b.os_map_calls - a.os_map_calls);
#ifndef FASTALLOC_SECURE
    CHECK_EQ_SZ(fa_usable_size(z), 3 * MiB);
#endif
    CHECK(harness_first_nonzero(z, fa_usable_size(z)) == HARNESS_OK);
#ifdef FASTALLOC_STATS
    CHECKF(b.bytes_zeroed - a.bytes_zeroed <= fa_usable_size(z), "calloc(3 MiB) from an 8 MiB mapping cleared %zu bytes",
           b.bytes_zeroed - a.bytes_zeroed);
#endif
    /* a resize that fails (no memory for it) leaves the cut block as it was, its size included */
    harness_fill(z, 3 * MiB, 11);
    size_t cut = fa_usable_size(z), too_big = sizeof(size_t) > 4 ? (size_t)1 << 50 : (size_t)PTRDIFF_MAX - 65536;
    errno = 0;
    CHECK(fa_realloc(z, too_big) == NULL && errno == ENOMEM);
    CHECK(fa_rezalloc_aligned(z, too_big, 512 * 1024) == NULL);
    CHECKF(fa_usable_size(z) == cut, "a failed resize changed the usable size from %zu to %zu", cut, fa_usable_size(z));
    CHECK(harness_verify(z, 3 * MiB, 11) == HARNESS_OK);
    /* a zeroing growth into the tail */
    unsigned char* g = (unsigned char*)fa_rezalloc(z, 6 * MiB);
    CHECK(g != NULL);
    if (!g) { fa_free(z); return; }
    CHECK(harness_verify(g, 3 * MiB, 11) == HARNESS_OK);
    CHECK(harness_first_nonzero(g + 3 * MiB, fa_usable_size(g) - 3 * MiB) == HARNESS_OK);
    memset(g, 0xCD, fa_usable_size(g));
    fa_free(g);
    /* a plain growth of a block cut from a mapping whose tail holds old bytes: the page slack past
       the new size must not hold them, so a zeroing growth into it reads zero */
    unsigned char* q = (unsigned char*)fa_calloc(1, 2 * MiB + 100);
    CHECK(q != NULL);
    if (!q) return;
    harness_fill(q, 2 * MiB, 12);
    unsigned char* r = (unsigned char*)fa_realloc(q, 5 * MiB + 100);
    CHECK(r != NULL);
    if (!r) { fa_free(q); return; }
    CHECK(harness_verify(r, 2 * MiB, 12) == HARNESS_OK);
    unsigned char* t = (unsigned char*)fa_rezalloc(r, 5 * MiB + 4000);
    CHECK(t != NULL);
    if (!t) { fa_free(r); return; }
    CHECK(harness_verify(t, 2 * MiB, 12) == HARNESS_OK);
    size_t bad = harness_first_nonzero(t + 5 * MiB + 100, 3900);
    CHECKF(bad == HARNESS_OK, "rezalloc growth after a plain growth into a cached mapping's tail: byte %zu not zero", bad);
    fa_free(t);
    fa_collect(true);
}

/* Freed huge mappings are kept a little for the next big block: it maps nothing new; a zeroing
   request that takes one gets it cleared (recycled memory); fa_collect(true) unmaps them. */
static void test_huge_reuse(void) {
    harness_section("huge mapping reuse");
    fa_collect(true);
    fa_stats_t a = snap();
    if (!cache_dirty_mapping(6 * MiB)) return;
    fa_stats_t b = snap();
    unsigned char* q = (unsigned char*)fa_malloc(5 * MiB);
    fa_stats_t c = snap();
    CHECK(q != NULL);
    if (!q) return;
    CHECKF(c.os_map_calls == b.os_map_calls, "malloc(5 MiB) after free(6 MiB) mapped %zu times", c.os_map_calls - b.os_map_calls);
    CHECK_GE_SZ(fa_usable_size(q), 5 * MiB);
    memset(q, 0xCD, fa_usable_size(q));
    fa_free(q);
    unsigned char* z = (unsigned char*)fa_calloc(1, 3 * MiB);
    fa_stats_t d = snap();
    CHECK(z != NULL);
    if (!z) return;
    CHECKF(d.os_map_calls == c.os_map_calls, "calloc(3 MiB) after free(5 MiB) mapped %zu times", d.os_map_calls - c.os_map_calls);
    size_t bad = harness_first_nonzero(z, fa_usable_size(z));
    CHECKF(bad == HARNESS_OK, "calloc on a recycled mapping: byte %zu of %zu not zero", bad, fa_usable_size(z));
#ifdef FASTALLOC_STATS
    CHECK_GE_SZ(d.bytes_zeroed - c.bytes_zeroed, 3 * MiB);
#endif
    /* a rezalloc of it that moves gets a fresh mapping, whose growth is free */
    harness_fill(z, 3 * MiB, 5);
    unsigned char* g = (unsigned char*)fa_rezalloc(z, 40 * MiB);
    CHECK(g != NULL);
    if (g) {
        CHECK(harness_verify(g, 3 * MiB, 5) == HARNESS_OK);
        CHECK(harness_first_nonzero(g + 3 * MiB, 37 * MiB) == HARNESS_OK);
        z = g;
    }
    fa_free(z);
    fa_collect(true);
    fa_stats_t e = snap();
    CHECKF(e.mapped_bytes <= a.mapped_bytes, "after fa_collect(true): %zu bytes mapped, %zu before", e.mapped_bytes,
           a.mapped_bytes);
}
#endif

/* A huge block shrunk far stays where it is and gives the memory back. */
static void test_huge_shrink_far(void) {
    harness_section("huge shrink far");
    for (int zero = 0; zero <= 1; zero++) {
        size_t n = 64 * MiB, m = 3 * MiB;
        unsigned char* p = (unsigned char*)(zero ? fa_zalloc(n) : fa_malloc(n));
        CHECK(p != NULL);
        if (!p) continue;
        pat_fill(p, 0, n, 71);
        fa_stats_t a = snap();
        unsigned char* q = (unsigned char*)(zero ? fa_rezalloc(p, m) : fa_realloc(p, m));
        fa_stats_t b = snap();
        CHECKF(q == p, "shrink 64 MiB -> 3 MiB moved (%p -> %p)", (void*)p, (void*)q);
        if (!q) { fa_free(p); continue; }
#if HARNESS_IN_REGION
        CHECKF(b.region_bytes + 60 * MiB <= a.region_bytes, "region bytes %zu -> %zu after shrinking 64 -> 3 MiB",
               a.region_bytes, b.region_bytes);
#else
        CHECKF(b.mapped_bytes + 60 * MiB <= a.mapped_bytes, "mapped bytes %zu -> %zu after shrinking 64 -> 3 MiB",
               a.mapped_bytes, b.mapped_bytes);
#endif
        CHECK_LE_SZ(fa_usable_size(q), 4 * MiB);
        CHECK(pat_verify(q, 0, m, 71) == HARNESS_OK);
#ifdef FASTALLOC_STATS
        CHECK_EQ_SZ(b.bytes_copied - a.bytes_copied, 0);
#endif
        if (zero) {
            /* and back: what was given up reads zero */
            unsigned char* r = (unsigned char*)fa_rezalloc(q, n);
            CHECK(r != NULL);
            if (r) {
                q = r;
                CHECK(pat_verify(q, 0, m, 71) == HARNESS_OK);
                CHECKF(zero_verify(q, m, n) == HARNESS_OK, "rezalloc 3 -> 64 MiB after the shrink: not zero");
            }
        }
        fa_free(q);
    }
}

/* A zeroed huge block whose caller wrote its whole usable size (the slack past the size asked
   included), shrunk in place by rezalloc and grown back within its mapping: what the shrink gave up
   reads zero again (the shrink once cleared only up to the size last asked for). */
static void test_huge_slack_shrink(void) {
    harness_section("huge slack, shrink and regrow");
    static const size_t sizes[] = {5 * MiB + 100, 3 * MiB + 5000, 9 * MiB + 1};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i], m = n - 100 - 4096 * i;
        unsigned char* p = (unsigned char*)fa_zalloc(n);
        CHECK(p != NULL);
        if (!p) continue;
        size_t u = fa_usable_size(p);
        memset(p, 0xA5, u);                                  /* the whole usable size may be written */
        unsigned char* q = (unsigned char*)fa_rezalloc(p, m);
        CHECK(q != NULL);
        if (!q) { fa_free(p); continue; }
        size_t back = m + 3000 < fa_usable_size(q) ? m + 3000 : fa_usable_size(q);
        unsigned char* r = (unsigned char*)fa_rezalloc(q, back);
        CHECK(r != NULL);
        if (!r) { fa_free(q); continue; }
        CHECK(harness_first_not(r, m, 0xA5) == HARNESS_OK);
        CHECKF(zero_verify(r, m, back) == HARNESS_OK, "%zu -> %zu -> %zu bytes (usable %zu): given up, not zero",
               n, m, back, u);
        fa_free(r);
    }
}

int main(void) {
#if !HARNESS_IN_REGION   /* regions have no fresh memory: tests/test_region.c covers their zeroing */
    test_fresh_zero(); /* first: relies on size classes never used before */
#endif
    test_dirty_reuse();
    test_null_and_errors();
    test_zero_size_big_align();
    test_realign();
    test_763();
    test_within_usable();
    test_large_grow_in_place();
    test_large_make_way();
    test_large_packed();
    test_large_shrink_in_place();
    test_huge_small_steps();
    test_vector_growth();
    test_huge_shrink_far();
    test_huge_slack_shrink();
#if !HARNESS_IN_REGION
    test_huge_reuse();
    test_huge_cut();
#endif
    test_zero_chains();
    test_aligned_chains();
    return harness_finish();
}
