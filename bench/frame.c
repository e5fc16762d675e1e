/* bench/frame.c -- the engine pattern: per-frame allocations thrown away at the end of each frame.
 * See bench/common.h for builds, usage and output. N counts objects; a frame has 2000 of them
 * (16..512 B skewed small, one in 50 of 4 KiB), each tagged when made and checked at the frame's end.
 *
 *   frame-free     every object freed on its own at the end of the frame (any allocator)
 *   frame-reset    fastalloc only: objects from one first-class heap, fa_heap_reset per frame
 *   frame-destroy  fastalloc: a new heap per frame, fa_heap_destroy at its end; built with
 *                  -DBENCH_MIMALLOC_HEAP (and -lmimalloc), the same with mi_heap_new/mi_heap_destroy:
 *                  the one peer with first-class heaps
 *   pingpong       malloc/free of 16 B (bench/peers.sh checks a preload with it)
 */
#include "common.h"

#define FRAME 2000u

static size_t object_size(rng_t *r, unsigned i)
{
    return i % 50 == 49 ? 4096 : rng_size_skewed(r, 16, 512);
}

/* One frame: objects made through `make`, checked, then released through `drop` (may be NULL). */
static uint64_t frames(uint64_t n, void *(*make)(void *ctx, size_t size), void (*drop)(void *p),
                       void (*end_frame)(void *ctx), void *ctx)
{
    void **obj = malloc(sizeof(void *) * FRAME);     /* harness memory: system malloc */
    size_t *len = malloc(sizeof(size_t) * FRAME);
    if (!obj || !len)
        die_oom(FRAME);
    rng_t r = rng_seed(7);
    uint64_t sum = 0, done = 0;
    while (done < n) {
        unsigned k = n - done < FRAME ? (unsigned)(n - done) : FRAME;
        for (unsigned i = 0; i < k; i++) {
            len[i] = object_size(&r, i);
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

static uint64_t run_free(uint64_t n, long arg)
{
    (void)arg;
    return frames(n, make_malloc, drop_free, NULL, NULL);
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
static uint64_t heap_frames(uint64_t n, void (*end_frame)(void *ctx))
{
    fa_heap_t *h = fa_heap_new();
    if (!h)
        die_oom(0);
    uint64_t sum = frames(n, make_heap, NULL, end_frame, &h);
    fa_heap_destroy(h);
    return sum;
}
static uint64_t run_reset(uint64_t n, long arg) { (void)arg; return heap_frames(n, reset_heap); }
static uint64_t run_destroy(uint64_t n, long arg) { (void)arg; return heap_frames(n, renew_heap); }
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
    (void)arg;
    mi_heap_t *h = mi_heap_new();
    if (!h)
        die_oom(0);
    uint64_t sum = frames(n, make_mi, NULL, renew_mi, &h);
    mi_heap_destroy(h);
    return sum;
}
#endif

static const workload_t W[] = {
    { "frame-free",    run_free,     0,  10000000, "2000 objects per frame, each freed" },
#ifdef BENCH_FASTALLOC
    { "frame-reset",   run_reset,    0,  10000000, "2000 objects per frame, fa_heap_reset" },
#endif
#if defined(BENCH_FASTALLOC) || defined(BENCH_MIMALLOC_HEAP)
    { "frame-destroy", run_destroy,  0,  10000000, "a heap per frame, destroyed at its end" },
#endif
    { "pingpong",      run_pingpong, 16, 1000000,  "malloc/free 16 B (preload probe)" },
};
BENCH_MAIN(W)
