/* bench/w_churn.c -- alloc/free churn: the patterns that decide how an allocator recycles blocks
 * and pages. See bench/common.h for builds, usage and output. N counts allocations.
 *
 *   pingpong-S    malloc(S), write, free; N times
 *   lifo-S        batches of 1000 blocks, freed newest first
 *   fifo-S        batches of 1000 blocks, freed oldest first
 *   pool          4096 slots; each step frees a random slot and refills it (16..512 B, skewed)
 *   multisize     batches of 64 blocks cycling through 10 size classes 16..512 B, each batch
 *                 freed 8 batches later, so classes interleave their lifetimes
 *   multipage-S   batches of 6 x 64 KiB worth of S-byte blocks (several pages per size class),
 *                 all allocated then all freed oldest first: pages empty and refill every round
 *   prodcons-S    2 threads: one allocates and tags blocks, the other checks and frees them
 */
#include "common.h"

#define BATCH 1000u

static uint64_t run_pingpong(uint64_t n, long size)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = xmalloc((size_t)size);
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        ESCAPE(p);
        sum += p[0] + p[size - 1];
        B_FREE(p);
    }
    return mix(sum, n);
}

static uint64_t batch_run(uint64_t n, size_t size, unsigned batch, int fifo, const char *what)
{
    void **ptr = malloc(sizeof(void *) * batch);   /* harness memory: system malloc, outside the loop */
    if (!ptr)
        die_oom(batch);
    uint64_t sum = 0, done = 0;
    while (done < n) {
        unsigned k = n - done < batch ? (unsigned)(n - done) : batch;
        for (unsigned i = 0; i < k; i++) {
            void *p = xmalloc(size);
            tag_block(p, size, done + i);
            ptr[i] = p;
        }
        ESCAPE(ptr);
        for (unsigned j = 0; j < k; j++) {
            unsigned i = fifo ? j : k - 1 - j;
            check_block(ptr[i], size, done + i, what, done + i);
            B_FREE(ptr[i]);
        }
        sum = mix(sum, k ^ ((uint64_t)size << 32));
        done += k;
    }
    free(ptr);
    return sum;
}

static uint64_t run_lifo(uint64_t n, long size) { return batch_run(n, (size_t)size, BATCH, 0, "lifo"); }
static uint64_t run_fifo(uint64_t n, long size) { return batch_run(n, (size_t)size, BATCH, 1, "fifo"); }

static uint64_t run_multipage(uint64_t n, long size)
{
    unsigned per_batch = (unsigned)(6 * 65536 / size);
    return batch_run(n, (size_t)size, per_batch, 1, "multipage");
}

#define POOL 4096u
static uint64_t run_pool(uint64_t n, long max)
{
    static void *ptr[POOL];
    static uint32_t sz[POOL];
    static uint64_t tag[POOL];
    rng_t r = rng_seed(1);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = rng_below(&r, POOL);
        if (ptr[s]) {
            check_block(ptr[s], sz[s], tag[s], "pool", i);
            B_FREE(ptr[s]);
        }
        size_t size = rng_size_skewed(&r, 16, (size_t)max);
        ptr[s] = xmalloc(size);
        tag_block(ptr[s], size, i);
        sz[s] = (uint32_t)size;
        tag[s] = i;
        sum += size;
    }
    for (unsigned s = 0; s < POOL; s++)
        if (ptr[s]) {
            check_block(ptr[s], sz[s], tag[s], "pool", n);
            B_FREE(ptr[s]);
            ptr[s] = NULL;
        }
    return mix(sum, n);
}

#define MS_BATCH 64u
#define MS_RING  8u
static uint64_t run_multisize(uint64_t n, long unused)
{
    static const uint32_t cls[10] = { 16, 32, 48, 64, 96, 128, 192, 256, 384, 512 };
    static void *ring[MS_RING][MS_BATCH];
    static uint32_t ring_size[MS_RING];
    static uint64_t ring_tag[MS_RING];
    (void)unused;
    uint64_t sum = 0, done = 0;
    for (uint64_t step = 0; done < n; step++) {
        unsigned slot = (unsigned)(step % MS_RING);
        if (ring_size[slot]) {
            for (unsigned i = 0; i < MS_BATCH; i++) {
                check_block(ring[slot][i], ring_size[slot], ring_tag[slot] + i, "multisize", step);
                B_FREE(ring[slot][i]);
            }
        }
        uint32_t size = cls[step % 10];
        for (unsigned i = 0; i < MS_BATCH; i++) {
            ring[slot][i] = xmalloc(size);
            tag_block(ring[slot][i], size, done + i);
        }
        ring_size[slot] = size;
        ring_tag[slot] = done;
        sum += size;
        done += MS_BATCH;
    }
    for (unsigned s = 0; s < MS_RING; s++)
        if (ring_size[s]) {
            for (unsigned i = 0; i < MS_BATCH; i++) {
                check_block(ring[s][i], ring_size[s], ring_tag[s] + i, "multisize", n);
                B_FREE(ring[s][i]);
            }
            ring_size[s] = 0;
        }
    return mix(sum, done);
}

/* ---- producer/consumer over an SPSC ring ---- */
typedef struct {
    ring_t *ring;
    uint64_t n;
    size_t size;
    uint64_t sum;
} pc_arg_t;

static void *pc_producer(void *v)
{
    pc_arg_t *a = v;
    uint64_t head = 0, tail_seen = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        void *p = xmalloc(a->size);
        tag_block(p, a->size, i);
        ring_push(a->ring, p, &head, &tail_seen);
    }
    return NULL;
}

static void *pc_consumer(void *v)
{
    pc_arg_t *a = v;
    uint64_t tail = 0, head_seen = 0, sum = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        void *p = ring_pop(a->ring, &tail, &head_seen);
        check_block(p, a->size, i, "prodcons", i);
        sum += ((unsigned char *)p)[a->size - 1];
        B_FREE(p);
    }
    a->sum = sum;
    return NULL;
}

static uint64_t run_prodcons(uint64_t n, long size)
{
    ring_t *ring = aligned_alloc(64, sizeof(ring_t));
    if (!ring)
        die_oom(sizeof(ring_t));
    memset(ring, 0, sizeof *ring);
    pc_arg_t a = { ring, n, (size_t)size, 0 };
    pthread_t prod, cons;
    if (pthread_create(&cons, NULL, pc_consumer, &a) || pthread_create(&prod, NULL, pc_producer, &a)) {
        fprintf(stderr, "%s: pthread_create failed\n", bench_prog);
        exit(1);
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    free(ring);
    return mix(a.sum, n);
}

static const workload_t W[] = {
    { "pingpong-16",  run_pingpong,  16,  20000000, "malloc/write/free, 16 B" },
    { "pingpong-256", run_pingpong,  256, 20000000, "malloc/write/free, 256 B" },
    { "lifo-64",      run_lifo,      64,  15000000, "batches of 1000, freed newest first" },
    { "lifo-256",     run_lifo,      256, 10000000, "batches of 1000, freed newest first" },
    { "fifo-16",      run_fifo,      16,  15000000, "batches of 1000, freed oldest first" },
    { "fifo-256",     run_fifo,      256, 6000000, "batches of 1000, freed oldest first" },
    { "pool",         run_pool,      512, 10000000, "4096 random slots, 16..512 B" },
    { "multisize",    run_multisize, 0,   15000000, "batches cycling 10 classes 16..512 B" },
    { "multipage-16", run_multipage, 16,  15000000, "6 x 64 KiB of 16 B blocks per round" },
    { "multipage-64", run_multipage, 64,  10000000, "6 x 64 KiB of 64 B blocks per round" },
    { "multipage-256",run_multipage, 256, 4000000,  "6 x 64 KiB of 256 B blocks per round" },
    { "prodcons-64",  run_prodcons,  64,  2000000,  "2 threads: producer allocates, consumer frees" },
};
BENCH_MAIN(W)
