/* bench/frame.c -- memory thrown away in bulk: per-frame allocations released at the end of each
 * frame (the engine pattern), and per-call memory released when a call returns (the interpreter
 * pattern). See bench/common.h for builds, usage and output. N counts objects; every object is
 * tagged when made and checked before it is released.
 *
 * Frames in three shapes: frame-* (2000 objects of 16..512 B skewed small, one in 50 of 4 KiB),
 * small-* (2000 objects of 16..128 B skewed small) and tiny-* (50 objects of 16..128 B: a request's
 * or a task's worth). How a frame ends:
 *   *-free      every object freed on its own (any allocator)
 *   *-reset     fastalloc: objects from one first-class heap, fa_heap_reset per frame
 *   *-arena     fastalloc: objects from a bump arena (fa_arena_new, 1 MiB chunks: one chunk holds a
 *               frame), fa_arena_reset per frame
 *   *-destroy   fastalloc: a new heap per frame, fa_heap_destroy at its end; built with
 *               -DBENCH_MIMALLOC_HEAP (and -lmimalloc), the same with mi_heap_new/mi_heap_destroy:
 *               the one peer with first-class heaps
 *   *-bump      no allocator: a pointer bumped through a static buffer, never checked for room. The
 *               harness's own cost (sizes, tags, checks), the baseline of instruction counts.
 *
 * Nested calls, the interpreter of examples/tiered_tasks.c as a workload. A call draws its
 * "bytecode size" (8..400, skewed small), makes its frame's objects (locals, an analysis table of 2
 * bytes per instruction, an operand stack, 2..9 scratch objects of 16..256 B, and in one call in 16
 * a data-dependent scratch of 1..48 KiB), makes 0..2 nested calls (depth at most 8), checks its
 * objects and releases them. Top-level calls repeat until N objects were made.
 *   calls-free   every object malloc'd and freed when its call returns (any allocator)
 *   calls-arena  fastalloc: the call's budget (4, 8, 16, 32 or 64 KiB, picked from the bytecode size)
 *                taken from a stack arena, a fixed arena (fa_arena_init) over it for the frame's
 *                objects, the stack rewound when the call returns; a frame whose arena runs out reruns
 *                one tier up (its allocations are redone, its nested calls have not run yet). Reruns
 *                go to stderr ("reruns: N").
 * Both make the same objects with the same contents: the checksum is the same.
 *
 *   pingpong    malloc/free of 16 B (bench/peers.sh checks a preload with it)
 */
#include "common.h"

#define FRAME 2000u

typedef struct {
    size_t lo, hi;        /* sizes skewed towards lo */
    unsigned big_every;   /* every big_every-th object is 4 KiB instead (0: never) */
    unsigned per_frame;   /* objects per frame, at most FRAME */
} shape_t;
/* by the workload's arg: frame-*, small-*, tiny-* */
static const shape_t SHAPE[] = { { 16, 512, 50, FRAME }, { 16, 128, 0, FRAME }, { 16, 128, 0, 50 } };

static size_t object_size(rng_t *r, const shape_t *s, unsigned i)
{
    return s->big_every && i % s->big_every == s->big_every - 1 ? 4096 : rng_size_skewed(r, s->lo, s->hi);
}

/* One frame: objects made through `make`, checked, then released through `drop` (may be NULL).
   Inlined into each workload, and with it `make`: fa_arena_alloc's bump path is inline by design,
   and through a function pointer every row would pay an indirect call instead. */
static inline __attribute__((always_inline)) uint64_t
frames(uint64_t n, const shape_t *s, void *(*make)(void *ctx, size_t size),
                       void (*drop)(void *p), void (*end_frame)(void *ctx), void *ctx)
{
    void **obj = malloc(sizeof(void *) * FRAME);     /* harness memory: system malloc */
    size_t *len = malloc(sizeof(size_t) * FRAME);
    if (!obj || !len)
        die_oom(FRAME);
    rng_t r = rng_seed(7);
    uint64_t sum = 0, done = 0;
    while (done < n) {
        unsigned k = n - done < s->per_frame ? (unsigned)(n - done) : s->per_frame;
        for (unsigned i = 0; i < k; i++) {
            len[i] = object_size(&r, s, i);
            obj[i] = make(ctx, len[i]);
            if (!obj[i])
                die_oom(len[i]);
            tag_block(obj[i], len[i], done + i);
        }
        ESCAPE(obj);
        for (unsigned i = 0; i < k; i++) {
            check_block(obj[i], len[i], done + i, "frame", done + i);
            sum += ((unsigned char *)obj[i])[len[i] - 1];
            if (drop)
                drop(obj[i]);
        }
        if (end_frame)
            end_frame(ctx);
        done += k;
    }
    free(obj);
    free(len);
    return mix(sum, n);
}

static void *make_malloc(void *ctx, size_t size) { (void)ctx; return B_MALLOC(size); }
static void drop_free(void *p) { B_FREE(p); }
static uint64_t run_free(uint64_t n, long arg) { return frames(n, &SHAPE[arg], make_malloc, drop_free, NULL, NULL); }

/* The harness alone: room for the largest frame (2000 x 4 KiB), bumped, rewound per frame. */
static unsigned char bump_memory[FRAME * 4096];
static void *make_bump(void *ctx, size_t size)
{
    size_t *top = ctx, at = *top;
    *top = at + ((size + 15) & ~(size_t)15);
    return bump_memory + at;
}
static void rewind_bump(void *ctx) { *(size_t *)ctx = 0; }
static uint64_t run_bump(uint64_t n, long arg)
{
    size_t top = 0;
    return frames(n, &SHAPE[arg], make_bump, NULL, rewind_bump, &top);
}

static uint64_t run_pingpong(uint64_t n, long size)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = xmalloc((size_t)size);
        p[0] = (unsigned char)i;
        ESCAPE(p);
        sum += p[0];
        B_FREE(p);
    }
    return mix(sum, n);
}

#ifdef BENCH_FASTALLOC
static void *make_heap(void *ctx, size_t size) { return fa_heap_malloc(*(fa_heap_t **)ctx, size); }
static void reset_heap(void *ctx) { fa_heap_reset(*(fa_heap_t **)ctx); }
static void renew_heap(void *ctx)
{
    fa_heap_t **h = ctx;
    fa_heap_destroy(*h);
    *h = fa_heap_new();
    if (!*h)
        die_oom(0);
}

/* Frames from one heap (or, renewing it, from a heap per frame). */
static uint64_t heap_frames(uint64_t n, const shape_t *s, void (*end_frame)(void *ctx))
{
    fa_heap_t *h = fa_heap_new();
    if (!h)
        die_oom(0);
    uint64_t sum = frames(n, s, make_heap, NULL, end_frame, &h);
    fa_heap_destroy(h);
    return sum;
}
static uint64_t run_reset(uint64_t n, long arg) { return heap_frames(n, &SHAPE[arg], reset_heap); }
static uint64_t run_destroy(uint64_t n, long arg) { return heap_frames(n, &SHAPE[arg], renew_heap); }

static void *make_arena(void *ctx, size_t size) { return fa_arena_alloc(ctx, size); }
static void reset_arena(void *ctx) { fa_arena_reset(ctx); }
static uint64_t run_arena(uint64_t n, long arg)
{
    fa_arena_t *a = fa_arena_new(NULL, (size_t)1 << 20);
    if (!a)
        die_oom((size_t)1 << 20);
    uint64_t sum = frames(n, &SHAPE[arg], make_arena, NULL, reset_arena, a);
    fa_arena_delete(a);
    return sum;
}
#endif

#ifdef BENCH_MIMALLOC_HEAP
#include <mimalloc.h>
static void *make_mi(void *ctx, size_t size) { return mi_heap_malloc(*(mi_heap_t **)ctx, size); }
static void renew_mi(void *ctx)
{
    mi_heap_t **h = ctx;
    mi_heap_destroy(*h);
    *h = mi_heap_new();
    if (!*h)
        die_oom(0);
}
static uint64_t run_destroy(uint64_t n, long arg)
{
    mi_heap_t *h = mi_heap_new();
    if (!h)
        die_oom(0);
    uint64_t sum = frames(n, &SHAPE[arg], make_mi, NULL, renew_mi, &h);
    mi_heap_destroy(h);
    return sum;
}
#endif

/* ---- nested calls ---------------------------------------------------------------------------- */
#define CALL_OBJ   13u    /* locals, analysis, stack, up to 9 scratch objects, one big */
#define CALL_DEPTH 8
enum { CALL_OK, CALL_FULL };

typedef struct {
    void *arena;                       /* calls-arena: the frame's fa_arena_t; NULL: malloc each */
    void *obj[CALL_OBJ];
    size_t len[CALL_OBJ];
    unsigned n;
} cframe_t;

typedef struct calls_s {
    void (*call)(struct calls_s *c, uint64_t seed, int depth);
    void *stack;                       /* calls-arena: the stack arena the budgets come from */
    uint64_t sum, objects, reruns;
} calls_t;

static void *cframe_alloc(cframe_t *f, size_t size)
{
#ifdef BENCH_FASTALLOC
    if (f->arena)
        return fa_arena_alloc(f->arena, size);
#else
    (void)f;
#endif
    return xmalloc(size);
}

/* A call's work: its objects, its nested calls, the checks. CALL_FULL: the frame's arena ran out
   (before any nested call), the caller reruns it with a bigger budget. */
static int call_body(calls_t *c, cframe_t *f, uint64_t seed, int depth)
{
    rng_t r = rng_seed(seed);
    size_t code = rng_size_skewed(&r, 8, 400);
    size_t want[CALL_OBJ];
    unsigned k = 0;
    want[k++] = 8 * (1 + rng_below(&r, 8));            /* locals */
    want[k++] = 2 * code;                              /* analysis: a depth per instruction */
    want[k++] = 8 * (2 + code / 8);                    /* operand stack */
    for (unsigned s = 2 + rng_below(&r, 8); s > 0; s--)
        want[k++] = rng_size_skewed(&r, 16, 256);      /* scratch */
    if (rng_below(&r, 16) == 0)
        want[k++] = rng_size_skewed(&r, 1024, 48 * 1024);   /* scratch the data asks for */
    for (f->n = 0; f->n < k; f->n++) {
        void *p = cframe_alloc(f, want[f->n]);
        if (!p)
            return CALL_FULL;
        f->obj[f->n] = p;
        f->len[f->n] = want[f->n];
        tag_block(p, want[f->n], seed + f->n);
    }
    unsigned kids = depth < CALL_DEPTH ? rng_below(&r, 3) : 0;
    while (kids-- > 0)
        c->call(c, rng_next(&r), depth + 1);
    ESCAPE(f->obj);
    for (unsigned i = 0; i < f->n; i++) {
        check_block(f->obj[i], f->len[i], seed + i, "call", c->objects + i);
        c->sum += ((unsigned char *)f->obj[i])[f->len[i] - 1];
    }
    c->objects += f->n;
    return CALL_OK;
}

static void call_free(calls_t *c, uint64_t seed, int depth)
{
    cframe_t f;
    f.arena = NULL;
    call_body(c, &f, seed, depth);
    while (f.n > 0)
        B_FREE(f.obj[--f.n]);          /* in reverse, as a call stack unwinds */
}

static uint64_t calls(calls_t *c, uint64_t n)
{
    rng_t top = rng_seed(11);
    uint64_t made = 0;
    while (c->objects < n) {
        c->call(c, rng_next(&top), 0);
        made++;
    }
    return mix(mix(c->sum, c->objects), made);
}

static uint64_t run_calls_free(uint64_t n, long arg)
{
    (void)arg;
    calls_t c = { call_free, NULL, 0, 0, 0 };
    return calls(&c, n);
}

#ifdef BENCH_FASTALLOC
static const size_t TIER[] = { 4096, 8192, 16384, 32768, 65536 };
/* A call's "bytecode size": the first draw of its stream, known before it runs (the estimate). */
static size_t code_size(uint64_t seed) { rng_t r = rng_seed(seed); return rng_size_skewed(&r, 8, 400); }
static unsigned char call_stack_memory[(CALL_DEPTH + 2) * 65536];

static void call_arena(calls_t *c, uint64_t seed, int depth)
{
    fa_arena_t *stack = c->stack;
    size_t estimate = 1024 + 16 * code_size(seed), mark = fa_arena_mark(stack);
    unsigned t = 0;
    while (t < 4 && TIER[t] < estimate)
        t++;
    for (;; t++) {
        void *budget = fa_arena_alloc(stack, TIER[t]);
        cframe_t f;
        f.arena = budget ? fa_arena_init(budget, TIER[t]) : NULL;
        if (!f.arena)
            die_oom(TIER[t]);
        int r = call_body(c, &f, seed, depth);
        fa_arena_rewind(stack, mark);  /* the frame, its objects and its callees' frames: gone */
        if (r == CALL_OK)
            return;
        if (t == 4)
            die_oom(TIER[t]);
        c->reruns++;
    }
}

static uint64_t run_calls_arena(uint64_t n, long arg)
{
    (void)arg;
    calls_t c = { call_arena, fa_arena_init(call_stack_memory, sizeof call_stack_memory), 0, 0, 0 };
    if (!c.stack)
        die_oom(sizeof call_stack_memory);
    uint64_t sum = calls(&c, n);
    fprintf(stderr, "reruns: %" PRIu64 "\n", c.reruns);
    return sum;
}
#endif

static const workload_t W[] = {
    { "frame-free",    run_free,     0,  10000000, "2000 objects per frame, each freed" },
    { "frame-bump",    run_bump,     0,  10000000, "2000 objects per frame, no allocator (harness)" },
    { "small-free",    run_free,     1,  20000000, "2000 small objects per frame, each freed" },
    { "small-bump",    run_bump,     1,  20000000, "2000 small objects per frame, no allocator (harness)" },
    { "tiny-free",     run_free,     2,  10000000, "50 small objects per frame, each freed" },
    { "tiny-bump",     run_bump,     2,  10000000, "50 small objects per frame, no allocator (harness)" },
    { "calls-free",    run_calls_free, 0, 10000000, "nested calls, each frame's objects freed on return" },
#ifdef BENCH_FASTALLOC
    { "frame-reset",   run_reset,    0,  10000000, "2000 objects per frame, fa_heap_reset" },
    { "frame-arena",   run_arena,    0,  10000000, "2000 objects per frame, fa_arena_reset" },
    { "small-reset",   run_reset,    1,  20000000, "2000 small objects per frame, fa_heap_reset" },
    { "small-arena",   run_arena,    1,  20000000, "2000 small objects per frame, fa_arena_reset" },
    { "tiny-reset",    run_reset,    2,  10000000, "50 small objects per frame, fa_heap_reset" },
    { "tiny-arena",    run_arena,    2,  10000000, "50 small objects per frame, fa_arena_reset" },
    { "calls-arena",   run_calls_arena, 0, 10000000, "nested calls, a tiered arena per frame" },
#endif
#if defined(BENCH_FASTALLOC) || defined(BENCH_MIMALLOC_HEAP)
    { "frame-destroy", run_destroy,  0,  10000000, "a heap per frame, destroyed at its end" },
    { "small-destroy", run_destroy,  1,  20000000, "a heap per frame of small objects, destroyed" },
    { "tiny-destroy",  run_destroy,  2,  10000000, "a heap per frame of 50 small objects, destroyed" },
#endif
    { "pingpong",      run_pingpong, 16, 1000000,  "malloc/free 16 B (preload probe)" },
};
BENCH_MAIN(W)
