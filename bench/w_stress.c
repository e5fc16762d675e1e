/* bench/w_stress.c -- multi-threaded stress shapes, more threads than the 2 reference cores.
 * See bench/common.h for builds, usage and output. N counts allocations in total.
 *
 *   mstress-T   the shape of mimalloc-bench's mstress (mimalloc's test-stress): 10 rounds, each
 *               starting T fresh threads (so threads keep exiting with blocks still live
 *               elsewhere). A thread keeps a working set of 500 slots and replaces a random one
 *               per step with a new block of a mixed size: 8 B..64 KiB skewed small (60 % <= 64 B,
 *               30 % <= 512 B, 9 % <= 8 KiB, 1 % <= 64 KiB), one in 2000 of 256 KiB..1 MiB. One step
 *               in 8 swaps the new block with a random slot of a shared 1000-slot transfer array
 *               (atomic exchange): it takes whatever another thread left there, which it frees later
 *               itself. A thread frees its whole working set when its round ends; what is left in
 *               the transfer array is freed at the end. T = 4 and 8.
 *   rptest-T    the shape of rpmalloc's rptest: T threads, each with a working set of 2000 blocks of
 *               uniform random sizes 16..8000 B, replacing a random one per step; every 4096 steps
 *               it frees half of its working set in random order and allocates it again (a phase
 *               change); every 256 steps it hands 32 of its blocks to the next thread and frees
 *               what the previous thread handed to it. T = 2 and 4.
 *   spawn-T     a thread per task: tasks of 4096 blocks of 16..512 B (made, checked, all freed), each
 *               in a thread of its own that exits when its task is done, T tasks at a time (a
 *               server spawning a thread per request, a pool that grows and shrinks). Memory an
 *               exited thread gave back is what the next one needs. T = 2.
 *
 * Every block carries a header word (size << 40 | id) and a check byte at its end, checked before
 * any thread frees it. The checksum is made only of what each thread's own random stream decides
 * (sizes and counts), never of which thread got which block, so it is the same for every
 * allocator and every thread interleaving; the sums of header words allocated and freed, and the
 * counts, must agree at the end (exit 3 otherwise).
 */
#include "common.h"

#define HDR_SIZE_SHIFT 40
#define HDR_ID_MASK    ((1ull << HDR_SIZE_SHIFT) - 1)

static _Atomic uint64_t g_alloc_words, g_free_words, g_allocs, g_frees;

static inline void *obj_new(size_t size, uint64_t id)
{
    unsigned char *p = xmalloc(size);
    uint64_t h = ((uint64_t)size << HDR_SIZE_SHIFT) | (id & HDR_ID_MASK);
    memcpy(p, &h, 8);
    if (size > 8)
        p[size - 1] = (unsigned char)(h ^ 0x5a);
    return p;
}

/* Checks the block, frees it, returns its header word. */
static inline uint64_t obj_free(void *vp, const char *what)
{
    unsigned char *p = vp;
    uint64_t h;
    memcpy(&h, p, 8);
    size_t size = (size_t)(h >> HDR_SIZE_SHIFT);
    if (size < 8 || size > (4u << 20) || (size > 8 && p[size - 1] != (unsigned char)(h ^ 0x5a)))
        die_corrupt(what, h & HDR_ID_MASK);
    B_FREE(p);
    return h;
}

/* A thread's (or the end's) counts and header sums, into the totals totals_check compares. */
static void totals_add(uint64_t allocs, uint64_t frees, uint64_t alloc_words, uint64_t free_words)
{
    atomic_fetch_add(&g_allocs, allocs);
    atomic_fetch_add(&g_frees, frees);
    atomic_fetch_add(&g_alloc_words, alloc_words);
    atomic_fetch_add(&g_free_words, free_words);
}

static void totals_check(const char *what)
{
    if (atomic_load(&g_allocs) != atomic_load(&g_frees) ||
        atomic_load(&g_alloc_words) != atomic_load(&g_free_words)) {
        fprintf(stderr, "%s: %s: %" PRIu64 " allocations but %" PRIu64 " frees (or header sums differ)\n",
                bench_prog, what, atomic_load(&g_allocs), atomic_load(&g_frees));
        exit(3);
    }
}

/* ---- mstress ---- */
#define MS_SLOTS     500u
#define MS_TRANSFER  1000u
#define MS_ROUNDS    10u

static _Atomic(void *) ms_transfer[MS_TRANSFER];

typedef struct {
    _Alignas(64) uint64_t steps;
    unsigned round, id;
    uint64_t sum;
} ms_arg_t;

static size_t ms_size(rng_t *r)
{
    uint64_t x = rng_next(r);
    unsigned c = (unsigned)(x % 2000);
    uint32_t u = (uint32_t)(x >> 32);
    if (c == 0)
        return (256u << 10) + u % (768u << 10);     /* 256 KiB .. 1 MiB */
    c %= 100;
    if (c < 60)
        return 8 + u % 57;                          /* 8 .. 64 B */
    if (c < 90)
        return 65 + u % 448;                        /* .. 512 B */
    if (c < 99)
        return 513 + u % 7680;                      /* .. 8 KiB */
    return 8193 + u % 57344;                        /* .. 64 KiB */
}

static void *ms_thread(void *v)
{
    ms_arg_t *a = v;
    void *slot[MS_SLOTS] = { 0 };
    rng_t r = rng_seed(1000 + 64 * (uint64_t)a->round + a->id);
    uint64_t sum = 0, allocs = 0, frees = 0, aw = 0, fw = 0;
    for (uint64_t i = 0; i < a->steps; i++) {
        unsigned s = rng_below(&r, MS_SLOTS);
        if (slot[s]) {
            fw += obj_free(slot[s], "mstress");
            frees++;
        }
        size_t size = ms_size(&r);
        uint64_t id = ((uint64_t)a->round << 32) ^ ((uint64_t)a->id << 28) ^ i;
        void *p = obj_new(size, id);
        aw += ((uint64_t)size << HDR_SIZE_SHIFT) | (id & HDR_ID_MASK);
        allocs++;
        sum += size;
        if ((rng_next(&r) & 7) == 0)   /* pass it on; keep what another thread left */
            p = atomic_exchange_explicit(&ms_transfer[rng_below(&r, MS_TRANSFER)], p, memory_order_acq_rel);
        slot[s] = p;
    }
    for (unsigned s = 0; s < MS_SLOTS; s++)
        if (slot[s]) {
            fw += obj_free(slot[s], "mstress-end");
            frees++;
        }
    totals_add(allocs, frees, aw, fw);
    a->sum = sum;
    return NULL;
}

static uint64_t run_mstress(uint64_t n, long nthreads)
{
    ms_arg_t arg[8];
    uint64_t sum = 0;
    for (unsigned round = 0; round < MS_ROUNDS; round++) {
        uint64_t per = n / MS_ROUNDS / (uint64_t)nthreads;
        for (int i = 0; i < nthreads; i++)
            arg[i] = (ms_arg_t){ .steps = per, .round = round, .id = (unsigned)i };
        if (round == MS_ROUNDS - 1)   /* the remainder, so that exactly N blocks are made */
            arg[0].steps += n - per * MS_ROUNDS * (uint64_t)nthreads;
        run_threads((int)nthreads, ms_thread, arg, sizeof arg[0]);
        for (int i = 0; i < nthreads; i++)
            sum = mix(sum, arg[i].sum);
    }
    uint64_t fw = 0, frees = 0;
    for (unsigned k = 0; k < MS_TRANSFER; k++) {
        void *p = atomic_exchange(&ms_transfer[k], NULL);
        if (p) {
            fw += obj_free(p, "mstress-transfer");
            frees++;
        }
    }
    totals_add(0, frees, 0, fw);
    totals_check("mstress");
    return mix(sum, n);
}

/* ---- rptest ---- */
#define RP_SLOTS   2000u
#define RP_PHASE   4096u
#define RP_HAND    256u
#define RP_BATCH   32u
#define RP_QUEUE   64u     /* batches a mailbox holds; a full one makes the sender free its batch */

typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    unsigned count;
    void *blk[RP_QUEUE * RP_BATCH];
} rp_box_t;

typedef struct {
    _Alignas(64) uint64_t steps;
    int id, nthreads;
    rp_box_t *boxes;
    uint64_t sum;
} rp_arg_t;

static void *rp_thread(void *v)
{
    rp_arg_t *a = v;
    void **slot = calloc(RP_SLOTS, sizeof(void *));            /* harness memory */
    void **inbox = malloc(sizeof(void *) * RP_QUEUE * RP_BATCH);
    uint32_t *order = malloc(sizeof(uint32_t) * RP_SLOTS);
    if (!slot || !inbox || !order)
        die_oom(RP_SLOTS);
    rng_t r = rng_seed(2000 + (uint64_t)a->id);
    rp_box_t *mine = &a->boxes[a->id], *next = &a->boxes[(a->id + 1) % a->nthreads];
    uint64_t sum = 0, allocs = 0, frees = 0, aw = 0, fw = 0, id = (uint64_t)a->id << 36;
#define RP_NEW(s)                                                                   \
    do {                                                                            \
        size_t size_ = 16 + rng_below(&r, 7985);                                    \
        slot[s] = obj_new(size_, id);                                               \
        aw += ((uint64_t)size_ << HDR_SIZE_SHIFT) | (id & HDR_ID_MASK);             \
        id++; allocs++; sum += size_;                                               \
    } while (0)
    for (uint64_t i = 0; i < a->steps; i++) {
        unsigned s = rng_below(&r, RP_SLOTS);
        if (slot[s]) {
            fw += obj_free(slot[s], "rptest");
            frees++;
        }
        RP_NEW(s);
        if ((i + 1) % RP_PHASE == 0) {   /* free half the working set in random order, refill */
            for (unsigned k = 0; k < RP_SLOTS; k++)
                order[k] = k;
            for (unsigned k = RP_SLOTS - 1; k > 0; k--) {
                unsigned j = rng_below(&r, k + 1), t = order[k];
                order[k] = order[j];
                order[j] = t;
            }
            for (unsigned k = 0; k < RP_SLOTS / 2; k++)
                if (slot[order[k]]) {
                    fw += obj_free(slot[order[k]], "rptest-phase");
                    frees++;
                    slot[order[k]] = NULL;
                }
            for (unsigned k = 0; k < RP_SLOTS / 2; k++)
                RP_NEW(order[k]);
        }
        if ((i + 1) % RP_HAND == 0) {    /* hand 32 blocks on, free what was handed to us */
            unsigned first = rng_below(&r, RP_SLOTS - RP_BATCH);
            void *batch[RP_BATCH];
            unsigned nb = 0;
            for (unsigned k = first; k < first + RP_BATCH; k++)
                if (slot[k]) {
                    batch[nb++] = slot[k];
                    slot[k] = NULL;
                }
            pthread_mutex_lock(&next->lock);
            unsigned room = RP_QUEUE * RP_BATCH - next->count, put = nb < room ? nb : room;
            memcpy(&next->blk[next->count], batch, put * sizeof(void *));
            next->count += put;
            pthread_mutex_unlock(&next->lock);
            for (unsigned k = put; k < nb; k++) {   /* the mailbox was full: free them here */
                fw += obj_free(batch[k], "rptest-full");
                frees++;
            }
            pthread_mutex_lock(&mine->lock);
            unsigned got = mine->count;
            memcpy(inbox, mine->blk, got * sizeof(void *));
            mine->count = 0;
            pthread_mutex_unlock(&mine->lock);
            for (unsigned k = 0; k < got; k++) {
                fw += obj_free(inbox[k], "rptest-remote");
                frees++;
            }
        }
    }
#undef RP_NEW
    for (unsigned s = 0; s < RP_SLOTS; s++)
        if (slot[s]) {
            fw += obj_free(slot[s], "rptest-end");
            frees++;
        }
    free(slot);
    free(inbox);
    free(order);
    totals_add(allocs, frees, aw, fw);
    a->sum = mix(sum, allocs);
    return NULL;
}

static uint64_t run_rptest(uint64_t n, long nthreads)
{
    rp_box_t *boxes = aligned_alloc(64, sizeof(rp_box_t) * (size_t)nthreads);
    rp_arg_t arg[8];
    if (!boxes)
        die_oom(sizeof(rp_box_t));
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].count = 0;
        arg[i] = (rp_arg_t){ .steps = n / (uint64_t)nthreads, .id = i, .nthreads = (int)nthreads,
                             .boxes = boxes };
    }
    run_threads((int)nthreads, rp_thread, arg, sizeof arg[0]);
    uint64_t sum = 0, fw = 0, frees = 0;
    for (int i = 0; i < nthreads; i++) {
        for (unsigned k = 0; k < boxes[i].count; k++) {   /* left in mailboxes at the end */
            fw += obj_free(boxes[i].blk[k], "rptest-left");
            frees++;
        }
        sum = mix(sum, arg[i].sum);
        pthread_mutex_destroy(&boxes[i].lock);
    }
    free(boxes);
    totals_add(0, frees, 0, fw);
    totals_check("rptest");
    return mix(sum, n);
}

/* ---- spawn ---- */
#define SP_TASK 4096u

typedef struct {
    _Alignas(64) uint64_t seed;
    uint64_t sum;
} sp_arg_t;

static void *sp_task(void *v)
{
    sp_arg_t *a = v;
    void **blk = malloc(sizeof(void *) * SP_TASK);   /* harness memory */
    rng_t r = rng_seed(a->seed);
    uint64_t sum = 0, aw = 0, fw = 0;
    if (!blk)
        die_oom(SP_TASK);
    for (unsigned i = 0; i < SP_TASK; i++) {
        size_t size = 16 + rng_below(&r, 497);
        uint64_t id = (a->seed << 16) ^ i;
        blk[i] = obj_new(size, id);
        aw += ((uint64_t)size << HDR_SIZE_SHIFT) | (id & HDR_ID_MASK);
        sum += size;
    }
    for (unsigned i = 0; i < SP_TASK; i++)
        fw += obj_free(blk[i], "spawn");
    free(blk);
    totals_add(SP_TASK, SP_TASK, aw, fw);
    a->sum = sum;
    return NULL;
}

static uint64_t run_spawn(uint64_t n, long nthreads)
{
    sp_arg_t arg[8];
    uint64_t sum = 0, tasks = (n + SP_TASK - 1) / SP_TASK, next = 0;
    while (next < tasks) {
        int k = tasks - next < (uint64_t)nthreads ? (int)(tasks - next) : (int)nthreads;
        for (int i = 0; i < k; i++)
            arg[i] = (sp_arg_t){ .seed = 7 + next + (uint64_t)i };
        run_threads(k, sp_task, arg, sizeof arg[0]);
        for (int i = 0; i < k; i++)
            sum = mix(sum, arg[i].sum);
        next += (uint64_t)k;
    }
    totals_check("spawn");
    return mix(sum, tasks);
}

static const workload_t W[] = {
    { "mstress-4", run_mstress, 4, 5000000, "mstress shape: 4 threads x 10 rounds, mixed sizes, transfers" },
    { "mstress-8", run_mstress, 8, 5000000, "mstress shape: 8 threads x 10 rounds, mixed sizes, transfers" },
    { "rptest-2",  run_rptest,  2, 2000000, "rptest shape: 2 threads, 16..8000 B, cross-thread frees" },
    { "rptest-4",  run_rptest,  4, 2000000, "rptest shape: 4 threads, 16..8000 B, cross-thread frees" },
    { "spawn-2",   run_spawn,   2, 4096000, "a thread per task of 4096 blocks, 2 at a time" },
};
BENCH_MAIN(W)
