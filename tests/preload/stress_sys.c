/* stress_sys.c — multi-threaded allocation stress through the standard C API only.
   Built against the system allocator; run.sh runs it with and without LD_PRELOAD and compares.

   Every thread runs the same deterministic sequence of requests (its own xorshift seed): malloc,
   calloc, realloc, posix_memalign, aligned_alloc, malloc_usable_size and free on a table of slots.
   Every block carries a byte pattern derived from a tag, checked before it is resized or freed.
   Blocks are handed to other threads (which check, sometimes realloc, and free them), and at the
   end half of every thread's blocks go to main, which frees them after the owners have exited.
   Because no decision depends on timing or on the allocator, every printed count is the same on
   every run and with every allocator; only the "allocator:" line differs. Exit 0 iff no error. */
#include "preload_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#define NTHREADS 4
#ifndef OPS                     /* -DOPS=...: tests/preload/tools.sh runs it smaller under valgrind */
#define OPS      250000        /* per thread */
#endif
#define SLOTS    1024

typedef struct {
    unsigned char* p;
    size_t size;               /* bytes that carry the pattern */
    size_t align;              /* requested alignment, 0 if none */
    uint64_t tag;
} block_t;

typedef struct {               /* a thread's inbox of blocks sent by other threads */
    pthread_mutex_t lock;
    block_t* items;
    size_t count, cap;
} mailbox_t;

typedef struct {
    int id;
    uint64_t allocs, frees, reallocs, sent, received, usable, bytes;
} worker_t;

static mailbox_t boxes[NTHREADS];
static block_t leftovers[NTHREADS][SLOTS];     /* handed to main at the end */
static atomic_ulong errors;
static pthread_barrier_t barrier;

static void error_at(const char* what, size_t size) {
    if (atomic_fetch_add(&errors, 1) < 10) fprintf(stderr, "stress_sys: ERROR %s (size %zu)\n", what, size);
}

/* Full check for blocks up to 64 KiB; bigger ones are checked at the ends and on a stride. */
static int check_block(const block_t* b) {
    if (b->align != 0 && ((uintptr_t)b->p & (b->align - 1)) != 0) return 0;
    if (b->size <= 65536) return pl_check(b->p, b->size, b->tag);
    if (!pl_check(b->p, 4096, b->tag)) return 0;
    for (size_t i = 4096; i < b->size; i += 4093)
        if (b->p[i] != pl_byte(b->tag, i)) return 0;
    for (size_t i = b->size - 4096; i < b->size; i++)
        if (b->p[i] != pl_byte(b->tag, i)) return 0;
    return 1;
}

static size_t pick_size(uint64_t* rng) {
    uint64_t r = pl_rand(rng);
    unsigned band = (unsigned)(r % 1000);
    r >>= 10;
    if (band < 700) return 1 + r % 256;
    if (band < 930) return 257 + r % (4096 - 256);
    if (band < 998) return 4097 + r % (65536 - 4096);
    return 65537 + r % (1u << 20);
}

static void release(worker_t* w, block_t* b, const char* where) {
    if (!check_block(b)) error_at(where, b->size);
    free(b->p);
    b->p = NULL;
    w->frees++;
}

static int new_block(worker_t* w, block_t* b, uint64_t* rng, uint64_t tag) {
    size_t size = pick_size(rng);
    unsigned kind = (unsigned)(pl_rand(rng) % 16);
    unsigned char* p = NULL;
    size_t align = 0, asked;
    int zeroed = 0;
    if (kind <= 8) {
        p = malloc(size);
    } else if (kind <= 10) {
        p = calloc(1 + size / 8, 8);
        size = 8 * (1 + size / 8);
        zeroed = 1;
    } else if (kind == 11) {
        align = (size_t)16 << (pl_rand(rng) % 9);                  /* 16 .. 4096 */
        void* q = NULL;
        int rc = posix_memalign(&q, align, size);
        if (rc != 0) { error_at("posix_memalign failed", size); return 0; }
        p = q;
    } else if (kind == 12) {
        align = (size_t)8 << (pl_rand(rng) % 14);                  /* 8 .. 64 KiB */
        size = (size + align - 1) / align * align;                  /* C11 asks for a multiple */
        p = aligned_alloc(align, size);
    } else if (kind == 13) {
        p = realloc(NULL, size);
    } else {
        p = malloc(size);
    }
    if (p == NULL) { error_at("allocation returned NULL", size); return 0; }
    asked = size;
    if (kind > 13) {                                               /* the whole usable size is ours */
        size_t us = malloc_usable_size(p);
        w->usable++;
        if (us < size) error_at("malloc_usable_size smaller than the request", size);
        else size = us;
    }
    if (zeroed) {
        for (size_t i = 0; i < size; i++)
            if (p[i] != 0) { error_at("calloc memory not zero", size); break; }
    }
    b->p = p; b->size = size; b->align = align; b->tag = tag;
    pl_fill(p, size, tag);
    w->allocs++;
    w->bytes += asked;                                              /* requested: allocator-independent */
    return 1;
}

static void grow_or_shrink(worker_t* w, block_t* b, uint64_t* rng) {
    size_t nsize = pick_size(rng);
    if (!check_block(b)) error_at("block corrupted before realloc", b->size);
    unsigned char* q = realloc(b->p, nsize);
    if (q == NULL) { error_at("realloc returned NULL", nsize); return; }
    size_t keep = nsize < b->size ? nsize : b->size;
    if (!pl_check(q, keep, b->tag)) error_at("realloc lost contents", keep);
    for (size_t i = keep; i < nsize; i++) q[i] = pl_byte(b->tag, i);
    b->p = q; b->size = nsize; b->align = 0;
    w->reallocs++;
    w->bytes += nsize;
}

static void send_block(worker_t* w, const block_t* b, int to) {
    mailbox_t* m = &boxes[to];
    pthread_mutex_lock(&m->lock);
    if (m->count == m->cap) {
        size_t ncap = m->cap ? 2 * m->cap : 64;
        block_t* ni = realloc(m->items, ncap * sizeof *ni);
        if (ni == NULL) { pthread_mutex_unlock(&m->lock); error_at("mailbox realloc", ncap); return; }
        m->items = ni; m->cap = ncap;
    }
    m->items[m->count++] = *b;
    pthread_mutex_unlock(&m->lock);
    w->sent++;
}

/* Take everything out of this thread's inbox; check each block, realloc some (a block of another
   thread), and free them all. */
static void drain(worker_t* w) {
    mailbox_t* m = &boxes[w->id];
    pthread_mutex_lock(&m->lock);
    block_t* items = m->items;
    size_t n = m->count;
    m->items = NULL; m->count = 0; m->cap = 0;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        block_t* b = &items[i];
        w->received++;
        if (b->tag % 3 == 0) {
            if (!check_block(b)) error_at("received block corrupted", b->size);
            size_t nsize = b->size / 2 + 24;
            unsigned char* q = realloc(b->p, nsize);
            if (q == NULL) { error_at("realloc of a foreign block", nsize); continue; }
            size_t keep = nsize < b->size ? nsize : b->size;
            if (!pl_check(q, keep, b->tag)) error_at("foreign realloc lost contents", keep);
            for (size_t j = keep; j < nsize; j++) q[j] = pl_byte(b->tag, j);
            b->p = q; b->size = nsize; b->align = 0;
            w->reallocs++;
        }
        release(w, b, "received block corrupted");
    }
    free(items);
}

static void* worker(void* arg) {
    worker_t* w = arg;
    block_t slots[SLOTS];
    memset(slots, 0, sizeof slots);
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1);
    uint64_t next_tag = (uint64_t)w->id << 40;
    for (int op = 0; op < OPS; op++) {
        uint64_t r = pl_rand(&rng);
        block_t* b = &slots[r % SLOTS];
        unsigned action = (unsigned)((r >> 20) % 100);
        if (b->p == NULL) {
            new_block(w, b, &rng, ++next_tag);
        } else if (action < 45) {
            release(w, b, "block corrupted before free");
        } else if (action < 75) {
            grow_or_shrink(w, b, &rng);
        } else if (action < 90) {
            int to = (w->id + 1 + (int)((r >> 40) % (NTHREADS - 1))) % NTHREADS;
            send_block(w, b, to);
            b->p = NULL;
        } else {
            size_t us = malloc_usable_size(b->p);
            w->usable++;
            if (us < b->size) error_at("malloc_usable_size below the block size", b->size);
            if (!check_block(b)) error_at("block corrupted", b->size);
        }
        if ((op & 63) == 63) drain(w);
    }
    pthread_barrier_wait(&barrier);   /* nobody sends any more */
    drain(w);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p == NULL) continue;
        if (i % 2 == 0) release(w, &slots[i], "block corrupted at the end");
        else leftovers[w->id][i] = slots[i];   /* main frees it after this thread has exited */
    }
    return NULL;
}

/* Single-threaded edge cases with a known answer; returns the number of checks run. */
static int edge_cases(void) {
    int n = 0;
#define EDGE(cond) do { n++; if (!(cond)) error_at("edge case: " #cond, 0); } while (0)
    volatile size_t max = SIZE_MAX;            /* volatile: keep the compiler from judging the sizes */
    errno = 0;
    void* volatile huge = malloc(max);
    EDGE(huge == NULL && errno == ENOMEM);
    errno = 0;
    void* volatile over = calloc(max / 2, 4);
    EDGE(over == NULL && errno == ENOMEM);
    free(NULL);
    EDGE(malloc_usable_size(NULL) == 0);

    unsigned char* p = malloc(100);
    EDGE(p != NULL);
    pl_fill(p, 100, 7);
    unsigned char* q = realloc(p, max / 2);
    EDGE(q == NULL);
    if (q == NULL) {                                  /* a failed realloc keeps the block */
        unsigned char* volatile kept = p;             /* (hidden from -Wuse-after-free) */
        EDGE(pl_check(kept, 100, 7));
        free(kept);
    } else {
        free(q);
    }

    void* a = (void*)0x1;
    EDGE(posix_memalign(&a, 24, 64) == EINVAL && a == (void*)0x1);
    EDGE(posix_memalign(&a, 1 << 20, 100) == 0 && ((uintptr_t)a & ((1 << 20) - 1)) == 0);
    free(a);
    void* b = aligned_alloc(4096, 8192);
    EDGE(b != NULL && ((uintptr_t)b & 4095) == 0);
    free(b);

    int usable_ok = 1;
    for (size_t s = 0; s <= 70000; s += (s < 1100 ? 1 : 997)) {
        unsigned char* m = malloc(s);
        if (m == NULL || malloc_usable_size(m) < s) usable_ok = 0;
        if (m) memset(m, 0xAB, malloc_usable_size(m));
        free(m);
    }
    EDGE(usable_ok);

    /* Dirty memory that is freed and handed out again by calloc must read zero. */
    int zero_ok = 1;
    static const size_t sizes[] = { 24, 100, 1000, 5000, 70000, 300000, 3u << 20, 9u << 20 };
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            unsigned char* d[16];
            for (int j = 0; j < 16; j++) { d[j] = malloc(sizes[k]); if (d[j]) memset(d[j], 0xFF, sizes[k]); }
            for (int j = 0; j < 16; j++) free(d[j]);
            for (int j = 0; j < 16; j++) {
                d[j] = calloc(sizes[k], 1);
                if (d[j] == NULL) { zero_ok = 0; continue; }
                for (size_t i = 0; i < sizes[k]; i++) if (d[j][i]) { zero_ok = 0; break; }
                memset(d[j], 0xFF, sizes[k]);
            }
            for (int j = 0; j < 16; j++) free(d[j]);
        }
    }
    EDGE(zero_ok);

    /* A large block grown and shrunk through realloc keeps its contents. */
    size_t steps[] = { 1u << 20, 64u << 20, 2u << 20, 200000, 5000, 12u << 20 };
    size_t cur = 100;
    unsigned char* r = malloc(cur);
    pl_fill(r, cur, 99);
    int realloc_ok = r != NULL;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0] && realloc_ok; k++) {
        unsigned char* t = realloc(r, steps[k]);
        if (t == NULL) { realloc_ok = 0; break; }
        size_t keep = cur < steps[k] ? cur : steps[k];
        if (!pl_check(t, keep, 99)) realloc_ok = 0;
        pl_fill(t, steps[k], 99);
        r = t; cur = steps[k];
    }
    free(r);
    EDGE(realloc_ok);
#undef EDGE
    return n;
}

int main(void) {
    pl_report_allocator();
    int edges = edge_cases();
    printf("edge: %d checks, %lu errors\n", edges, (unsigned long)atomic_load(&errors));

    pthread_barrier_init(&barrier, NULL, NTHREADS);
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        w[i].id = i;
        if (pthread_create(&th[i], NULL, worker, &w[i]) != 0) { perror("pthread_create"); return 2; }
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);

    worker_t main_w = { .id = -1 };
    uint64_t left = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++)
            if (leftovers[t][i].p) { release(&main_w, &leftovers[t][i], "leftover block corrupted"); left++; }

    worker_t sum = { 0 };
    for (int i = 0; i < NTHREADS; i++) {
        sum.allocs += w[i].allocs; sum.frees += w[i].frees; sum.reallocs += w[i].reallocs;
        sum.sent += w[i].sent; sum.received += w[i].received; sum.usable += w[i].usable;
        sum.bytes += w[i].bytes;
    }
    if (sum.sent != sum.received) error_at("blocks sent and received differ", 0);
    if (sum.allocs != sum.frees + main_w.frees) error_at("allocations and frees differ", 0);
    unsigned long errs = (unsigned long)atomic_load(&errors);
    printf("stress_sys: threads=%d ops=%d allocs=%llu frees=%llu reallocs=%llu handoffs=%llu "
           "leftovers=%llu usable_checks=%llu bytes=%llu errors=%lu\n",
           NTHREADS, NTHREADS * OPS, (unsigned long long)sum.allocs,
           (unsigned long long)(sum.frees + main_w.frees), (unsigned long long)sum.reallocs,
           (unsigned long long)sum.sent, (unsigned long long)left, (unsigned long long)sum.usable,
           (unsigned long long)sum.bytes, errs);
    printf("stress_sys: %s\n", errs == 0 ? "PASS" : "FAIL");
    return errs == 0 ? 0 : 1;
}
