/* bench/w_threads.c -- multi-threaded workloads, each at 2 and 4 threads (the work N is the same
 * total at both counts). See bench/common.h for builds, usage and output.
 *
 *   larson-T      larson-style server loop: each thread keeps 1000 live blocks (16..1024 B,
 *                 skewed small) and replaces a random one per step; every 64 steps it hands 16 of
 *                 its blocks to the next thread's mailbox and frees whatever its own mailbox
 *                 holds (blocks another thread allocated). N steps in total.
 *   prodcons-T    T/2 producer/consumer pairs over SPSC rings: producers allocate and tag blocks
 *                 (16..256 B), consumers check and free them. N blocks in total.
 *   falseshare-T  cache-scratch (Hoard's "passive false sharing" test): the main thread
 *                 allocates T 16-byte objects back to back and hands one to each thread, which
 *                 frees it, then N/T times allocates a 16-byte object, writes it 1000 times and
 *                 frees it. An allocator that gives a thread a block sharing a cache line with
 *                 another thread's (e.g. the one it just freed) makes the cores fight over it.
 */
#include "common.h"

/* Blocks carry their size and an id in the first 8 bytes and a check byte at the end. */
static inline void *alloc_tagged(size_t size, uint32_t id)
{
    void *p = xmalloc(size);
    tag_block(p, size, ((uint64_t)size << 32) | id);
    return p;
}

static inline size_t check_tagged(void *p, const char *what)
{
    uint64_t t;
    memcpy(&t, p, 8);
    size_t size = (size_t)(t >> 32);
    if (size < 16 || size > (1u << 20))
        die_corrupt(what, (uint32_t)t);
    check_block(p, size, t, what, (uint32_t)t);
    return size;
}

/* ---- larson ---- */
#define L_SLOTS  1000u
#define L_MAILCAP 4096u

typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    unsigned count;
    void *blk[L_MAILCAP];
} mailbox_t;

typedef struct {
    _Alignas(64) int id, nthreads;
    uint64_t steps;
    mailbox_t *boxes;
    uint64_t sum;
    uint64_t allocs, frees;
} larson_arg_t;

static void *larson_thread(void *v)
{
    larson_arg_t *a = v;
    void **slot = calloc(L_SLOTS, sizeof(void *));   /* harness memory */
    void *inbox[L_MAILCAP];
    rng_t r = rng_seed(100 + (uint64_t)a->id);
    mailbox_t *mine = &a->boxes[a->id], *next = &a->boxes[(a->id + 1) % a->nthreads];
    uint64_t sum = 0, allocs = 0, frees = 0;
    if (!slot)
        die_oom(L_SLOTS);
    for (uint64_t i = 0; i < a->steps; i++) {
        unsigned s = rng_below(&r, L_SLOTS);
        if (slot[s]) {
            check_tagged(slot[s], "larson");
            B_FREE(slot[s]);
            frees++;
        }
        size_t size = rng_size_skewed(&r, 16, 1024);
        slot[s] = alloc_tagged(size, (uint32_t)i);
        allocs++;
        sum += size;
        if ((i & 63) == 63) {
            unsigned first = rng_below(&r, L_SLOTS - 16);
            pthread_mutex_lock(&next->lock);
            for (unsigned k = first; k < first + 16 && next->count < L_MAILCAP; k++)
                if (slot[k]) {
                    next->blk[next->count++] = slot[k];
                    slot[k] = NULL;
                }
            pthread_mutex_unlock(&next->lock);
            pthread_mutex_lock(&mine->lock);
            unsigned got = mine->count;
            memcpy(inbox, mine->blk, got * sizeof(void *));
            mine->count = 0;
            pthread_mutex_unlock(&mine->lock);
            for (unsigned k = 0; k < got; k++) {
                check_tagged(inbox[k], "larson-remote");
                B_FREE(inbox[k]);
                frees++;
            }
        }
    }
    for (unsigned s = 0; s < L_SLOTS; s++)
        if (slot[s]) {
            check_tagged(slot[s], "larson");
            B_FREE(slot[s]);
            frees++;
        }
    free(slot);
    a->sum = sum;
    a->allocs = allocs;
    a->frees = frees;
    return NULL;
}

static uint64_t run_larson(uint64_t n, long nthreads)
{
    mailbox_t *boxes = aligned_alloc(64, sizeof(mailbox_t) * (size_t)nthreads);
    larson_arg_t arg[8];
    if (!boxes)
        die_oom(sizeof(mailbox_t));
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].count = 0;
        arg[i] = (larson_arg_t){ .id = i, .nthreads = (int)nthreads, .steps = n / (uint64_t)nthreads,
                                 .boxes = boxes };
    }
    run_threads((int)nthreads, larson_thread, arg, sizeof arg[0]);
    uint64_t sum = 0, allocs = 0, frees = 0;
    for (int i = 0; i < nthreads; i++) {
        for (unsigned k = 0; k < boxes[i].count; k++) {   /* left in mailboxes at the end */
            check_tagged(boxes[i].blk[k], "larson-left");
            B_FREE(boxes[i].blk[k]);
            frees++;
        }
        sum += arg[i].sum;
        allocs += arg[i].allocs;
        frees += arg[i].frees;
        pthread_mutex_destroy(&boxes[i].lock);
    }
    free(boxes);
    if (allocs != frees) {
        fprintf(stderr, "%s: larson: %" PRIu64 " allocations but %" PRIu64 " frees\n", bench_prog,
                allocs, frees);
        exit(3);
    }
    return mix(sum, n);
}

/* ---- producer/consumer pairs ---- */
typedef struct {
    _Alignas(64) ring_t *ring;
    uint64_t n;
    int pair;
    uint64_t sum;
} pc_arg_t;

static void *pc_thread(void *v)
{
    pc_arg_t *a = v;
    uint64_t sum = 0;
    if (a->pair >= 0) {   /* producer */
        uint64_t head = 0, tail_seen = 0;
        rng_t r = rng_seed(200 + (uint64_t)a->pair);
        for (uint64_t i = 0; i < a->n; i++) {
            size_t size = rng_size_skewed(&r, 16, 256);
            ring_push(a->ring, alloc_tagged(size, (uint32_t)i), &head, &tail_seen);
            sum += size;
        }
    } else {
        uint64_t tail = 0, head_seen = 0;
        for (uint64_t i = 0; i < a->n; i++) {
            void *p = ring_pop(a->ring, &tail, &head_seen);
            uint64_t t;
            memcpy(&t, p, 8);
            if ((uint32_t)t != (uint32_t)i)
                die_corrupt("prodcons-order", i);
            sum += check_tagged(p, "prodcons");
            B_FREE(p);
        }
    }
    a->sum = sum;
    return NULL;
}

static uint64_t run_prodcons(uint64_t n, long nthreads)
{
    int pairs = (int)nthreads / 2;
    ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
    pc_arg_t arg[8];
    if (!rings)
        die_oom(sizeof(ring_t));
    memset(rings, 0, sizeof(ring_t) * (size_t)pairs);
    for (int i = 0; i < pairs; i++) {
        arg[2 * i] = (pc_arg_t){ .ring = &rings[i], .n = n / (uint64_t)pairs, .pair = -1 };
        arg[2 * i + 1] = (pc_arg_t){ .ring = &rings[i], .n = n / (uint64_t)pairs, .pair = i };
    }
    run_threads(2 * pairs, pc_thread, arg, sizeof arg[0]);
    uint64_t sum = 0;
    for (int i = 0; i < pairs; i++) {
        if (arg[2 * i].sum != arg[2 * i + 1].sum)
            die_corrupt("prodcons-sum", (uint64_t)i);
        sum = mix(sum, arg[2 * i].sum);
    }
    free(rings);
    return mix(sum, n);
}

/* ---- cache-scratch ---- */
#define FS_WRITES 1000u
typedef struct {
    _Alignas(64) unsigned char *given;
    uint64_t rounds;
    int id;
    uint64_t sum;
} fs_arg_t;

static void *fs_thread(void *v)
{
    fs_arg_t *a = v;
    uint64_t sum = 0;
    check_block(a->given, 16, (uint64_t)a->id, "falseshare-given", (uint64_t)a->id);
    B_FREE(a->given);
    for (uint64_t i = 0; i < a->rounds; i++) {
        volatile unsigned char *p = xmalloc(16);
        for (unsigned j = 0; j < 16; j++)
            p[j] = 0;
        for (unsigned w = 0; w < FS_WRITES; w++)
            p[w & 15]++;
        for (unsigned j = 0; j < 16; j++)
            sum += p[j];
        B_FREE((void *)p);
    }
    a->sum = sum;
    return NULL;
}

static uint64_t run_falseshare(uint64_t n, long nthreads)
{
    fs_arg_t arg[8];
    for (int i = 0; i < nthreads; i++) {
        arg[i] = (fs_arg_t){ .given = xmalloc(16), .rounds = n / (uint64_t)nthreads, .id = i };
        tag_block(arg[i].given, 16, (uint64_t)i);
    }
    run_threads((int)nthreads, fs_thread, arg, sizeof arg[0]);
    uint64_t sum = 0;
    for (int i = 0; i < nthreads; i++)
        sum += arg[i].sum;
    return mix(sum, n);
}

static const workload_t W[] = {
    { "larson-2",     run_larson,     2, 8000000, "server loop, blocks passed between 2 threads" },
    { "larson-4",     run_larson,     4, 8000000, "server loop, blocks passed between 4 threads" },
    { "prodcons-2",   run_prodcons,   2, 500000,  "1 producer/consumer pair, 16..256 B" },
    { "prodcons-4",   run_prodcons,   4, 1000000,  "2 producer/consumer pairs, 16..256 B" },
    { "falseshare-2", run_falseshare, 2, 1000000,  "cache-scratch, 2 threads" },
    { "falseshare-4", run_falseshare, 4, 1000000,  "cache-scratch, 4 threads" },
};
BENCH_MAIN(W)
