#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_fuzz_mt.c — multi-threaded random operations with hand-offs between threads.

   Four worker slots run random operations; a worker ends after a random number of them (with live
   blocks and, often, live first-class heaps: a thread that ends deletes its heaps) and the main
   thread starts a new one in its slot. Blocks travel between threads through a locked exchange;
   whoever takes one checks its contents, then frees it, keeps it, passes it on, or resizes it.

   The rules followed (and so exercised): any thread frees any block; fa_realloc & co. from any
   thread for thread-heap blocks (including blocks of deleted heaps); a first-class heap is used
   (allocate, fa_heap_realloc, reset, destroy, delete, collect) only by the thread that made it;
   a heap is reset or destroyed only when none of its blocks is out of its maker's hands (a count
   of blocks given away, decremented after the receiver's fa_free has returned). Heaps are made with
   fa_heap_new and fa_heap_new_in_region (static buffers), ended by reset, destroy, delete,
   fa_thread_done or thread exit.

   Checks: every block's pattern (and, for blocks from zeroing functions, the bytes still promised
   zero) when it is received, resized and freed; usable size >= the size asked and unchanged;
   alignment; region heaps' blocks inside their region; errno on failures; at the end, with every
   block freed and fa_collect(true), little memory still mapped. Clean under ThreadSanitizer and
   AddressSanitizer.

   Ends with "N passed, N failed": one check per worker thread, one for the end.

   Usage: test_fuzz_mt [--seconds N] [--seed S]   (also FA_FUZZ_SECONDS=N); bounded by default. */

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MT_SANITIZED 1
#endif
#endif
#ifndef MT_SANITIZED
#define MT_SANITIZED 0
#endif

#define WORKERS      4
#define MY_BLOCKS    48             /* blocks a worker holds at most */
#define MY_HEAPS     3              /* live heaps a worker holds at most */
#define XCHG_CAP     512            /* blocks in the exchange at most */
#define XCHG_BYTES   (64 * MiB)     /* bytes in the exchange at most */
#define MY_BYTES     (24 * MiB)     /* bytes a worker holds at most */
#define DENSE        (64 * KiB)     /* patterns are dense up to here, sparse above */
#define HEAPRECS     4096
#define NBUFS        4
#define BUF_BYTES    (12 * MiB)

/* ---- failures ---------------------------------------------------------------------------------- */

static unsigned long g_bad;
static unsigned long g_checks;
static __thread unsigned long t_bad;   /* this thread's failures */
static void bad(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char* fmt, ...) {
    t_bad++;
    unsigned long n = __atomic_add_fetch(&g_bad, 1UL, __ATOMIC_RELAXED);
    if (n > 20) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test_fuzz_mt: %s\n", buf);
}
#define MT_CHECK(cond, ...) do { if (!(cond)) bad(__VA_ARGS__); } while (0)

/* ---- heaps and blocks -------------------------------------------------------------------------- */

enum { HS_LIVE = 0, HS_DELETED = 1, HS_DESTROYED = 2 };
typedef struct {
    fa_heap_t* h;
    int buf;             /* region buffer, -1: fa_heap_new */
    int state;           /* atomic HS_*: DELETED means its blocks are thread-heap blocks now */
    long outstanding;    /* atomic: its blocks out of the maker's hands */
    int maker;           /* worker serial */
} heaprec_t;
/* Heap records live until the end (blocks of deleted heaps point at theirs): chunks of HEAPRECS,
   freed by the main thread after the run. */
typedef struct recchunk_s { struct recchunk_s* next; heaprec_t recs[HEAPRECS]; } recchunk_t;
static recchunk_t* g_recchunks;
static unsigned g_rec_used = HEAPRECS, g_heaps_made;

static unsigned char g_bufmem[NBUFS][BUF_BYTES];
static int g_buf_state[NBUFS];   /* 0 free, 1 busy, 2 fastalloc's for good (after delete); g_lock */

typedef struct {
    unsigned char* p;
    size_t req, usable, align;
    uint64_t seed;
    size_t filled;       /* the pattern was written over [0, filled) (dense, or sparse above DENSE) */
    size_t valid;        /* [0, valid) of it still holds; [valid, req) reads zero when zh */
    bool zh;             /* whole history is zeroing functions, no write past valid */
    heaprec_t* hr;       /* first-class heap (live or deleted), NULL: a thread heap */
} mblk_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static mblk_t g_xchg[XCHG_CAP];
static size_t g_xchg_n, g_xchg_bytes;

static int hr_state(const heaprec_t* hr) { return hr == NULL ? HS_DELETED : __atomic_load_n(&hr->state, __ATOMIC_ACQUIRE); }


static void verify(const mblk_t* b, const char* when) {
    __atomic_fetch_add(&g_checks, 1UL, __ATOMIC_RELAXED);
    size_t u = fa_usable_size(b->p);
    MT_CHECK(u == b->usable, "%s: %p usable %zu, was %zu", when, (void*)b->p, u, b->usable);
    MT_CHECK(u >= b->req, "%s: %p usable %zu < size %zu", when, (void*)b->p, u, b->req);
    size_t al = b->align > harness_min_align(b->req) ? b->align : harness_min_align(b->req);
    MT_CHECK((uintptr_t)b->p % al == 0, "%s: %p not aligned to %zu", when, (void*)b->p, al);
    size_t at = harness_verify_upto(b->p, b->filled, b->valid, b->seed, DENSE);
    MT_CHECK(at == HARNESS_OK, "%s: %p (size %zu, usable %zu): pattern broken at byte %zu of %zu", when, (void*)b->p,
             b->req, b->usable, at, b->valid);
    if (b->zh && b->req > b->valid) {
        size_t n = b->req - b->valid, z;
        if (n <= 256 * KiB) z = harness_first_nonzero(b->p + b->valid, n);
        else {
            z = harness_first_nonzero(b->p + b->valid, 64 * KiB);
            if (z == HARNESS_OK) {
                z = harness_first_nonzero(b->p + b->req - 64 * KiB, 64 * KiB);
                if (z != HARNESS_OK) z += n - 64 * KiB;
            }
            for (size_t i = 64 * KiB; z == HARNESS_OK && i + 64 <= n; i += 64 * KiB) {
                z = harness_first_nonzero(b->p + b->valid + i, 64);
                if (z != HARNESS_OK) z += i;
            }
        }
        MT_CHECK(z == HARNESS_OK, "%s: %p (size %zu): zeroing block reads non-zero at byte %zu", when, (void*)b->p,
                 b->req, z == HARNESS_OK ? 0 : b->valid + z);
    }
    if (b->hr != NULL && b->hr->buf >= 0) {
        const unsigned char* lo = g_bufmem[b->hr->buf];
        MT_CHECK(b->p >= lo && b->p + b->usable <= lo + BUF_BYTES, "%s: %p of a region heap lies outside its region",
                 when, (void*)b->p);
    }
}

static void fill(mblk_t* b, uint64_t seed, size_t n) {
    b->seed = seed;
    b->filled = b->valid = n;
    harness_fill_upto(b->p, n, seed, DENSE);
}

/* ---- a worker ---------------------------------------------------------------------------------- */

typedef struct {
    int serial;
    uint64_t rng;
    long ops;
    int finished;            /* atomic: the main thread joins it */
    unsigned long bad;       /* its failed checks, read after the join */
    bool not_started;        /* pthread_create failed */
    pthread_t thread;
    mblk_t mine[MY_BLOCKS];
    int n;
    size_t bytes;
    heaprec_t* heaps[MY_HEAPS];
} worker_t;

static int g_stop;   /* atomic: wind down */
static unsigned long g_ops_done;

static uint64_t rnd(worker_t* w) { return harness_rand(&w->rng); }

static size_t pick_size(worker_t* w) {
    uint64_t r = rnd(w) % 1000;
    if (r < 550) return rnd(w) % 300;
    if (r < 850) return 300 + rnd(w) % (16 * KiB);
    if (r < 960) return 16 * KiB + rnd(w) % (256 * KiB);
    if (r < 994) return 256 * KiB + rnd(w) % (FA__LARGE_MAX + 64 * KiB);
    return FA__LARGE_MAX + 1 + rnd(w) % (6 * MiB);
}

static size_t pick_align(worker_t* w) {
    uint64_t r = rnd(w) % 100;
    if (r < 60) return (size_t)8 << (rnd(w) % 4);
    if (r < 95) return (size_t)128 << (rnd(w) % 9);   /* 128 .. 32 KiB */
    return (size_t)64 * KiB << (rnd(w) % 6);          /* 64 KiB .. 2 MiB */
}

static heaprec_t* my_live_heap(worker_t* w) {
    int k = (int)(rnd(w) % MY_HEAPS);
    heaprec_t* hr = w->heaps[k];
    return hr != NULL && hr_state(hr) == HS_LIVE ? hr : NULL;
}

/* The maker holds a block of its heap again, or a holder frees one: one fewer out of its hands. */
static void returned_to_maker(worker_t* w, const mblk_t* b) {
    if (b->hr != NULL && b->hr->maker == w->serial && hr_state(b->hr) == HS_LIVE)
        __atomic_fetch_sub(&b->hr->outstanding, 1L, __ATOMIC_ACQ_REL);
}

static void add_mine(worker_t* w, const mblk_t* b) {
    w->mine[w->n++] = *b;
    w->bytes += b->usable;
}

static void remove_mine(worker_t* w, int i) {
    w->bytes -= w->mine[i].usable;
    w->mine[i] = w->mine[--w->n];
}

/* Frees a block this thread holds; a block of a live heap made by another thread counts as back
   once fa_free has returned. */
static void free_block(worker_t* w, const mblk_t* b, const char* when) {
    verify(b, when);
    fa_free(b->p);
    if (b->hr != NULL && b->hr->maker != w->serial) {
        /* release: the maker's reset/destroy must see the free as done */
        __atomic_fetch_sub(&b->hr->outstanding, 1L, __ATOMIC_RELEASE);
    }
}

static void do_alloc(worker_t* w) {
    if (w->n >= MY_BLOCKS || w->bytes > MY_BYTES) return;
    heaprec_t* hr = rnd(w) % 3 == 0 ? my_live_heap(w) : NULL;
    size_t size = pick_size(w), align = 0;
    int kind = (int)(rnd(w) % 5);   /* malloc, zalloc, calloc, aligned, zalloc aligned */
    if (hr != NULL && kind == 4) kind = 3;
    if (kind >= 3) align = pick_align(w);
    void* p = NULL;
    errno = 0;
    switch (kind) {
    case 0: p = hr ? fa_heap_malloc(hr->h, size) : fa_malloc(size); break;
    case 1: p = hr ? fa_heap_zalloc(hr->h, size) : fa_zalloc(size); break;
    case 2: p = hr ? fa_heap_calloc(hr->h, size / 8 + 1, 8) : fa_calloc(size / 8 + 1, 8); size = (size / 8 + 1) * 8; break;
    case 3: p = hr ? fa_heap_malloc_aligned(hr->h, size, align) : fa_malloc_aligned(size, align); break;
    default: p = fa_zalloc_aligned(size, align); break;
    }
    if (p == NULL) {
        int e = errno;
        MT_CHECK(e == ENOMEM, "allocation of %zu failed with errno %d", size, e);
        MT_CHECK(hr != NULL && hr->buf >= 0, "allocation of %zu (align %zu) failed (ENOMEM) outside a region", size, align);
        return;
    }
    mblk_t b;
    memset(&b, 0, sizeof b);
    b.p = (unsigned char*)p;
    b.req = size;
    b.usable = fa_usable_size(p);
    b.align = align;
    b.hr = hr;
    b.zh = kind == 1 || kind == 2 || kind == 4;
    b.seed = rnd(w);
    if (b.zh) {
        verify(&b, "new zeroing block");   /* valid = 0: all of it reads zero */
        if (rnd(w) % 2) fill(&b, rnd(w), rnd(w) % (size + 1));
    } else {
        fill(&b, rnd(w), size);
    }
    verify(&b, "new block");
    add_mine(w, &b);
}

static void do_realloc(worker_t* w, int i) {
    mblk_t* b = &w->mine[i];
    int st = hr_state(b->hr);
    bool by_heap = b->hr != NULL && st == HS_LIVE;
    if (by_heap && b->hr->maker != w->serial) return;   /* another thread's live heap: only free it */
    size_t n;
    uint64_t r = rnd(w) % 6;
    if (r == 0) n = b->req / 2;
    else if (r == 1) n = b->usable + 1;
    else if (r == 2) n = b->req + b->req / 4 + 1;
    else n = pick_size(w);
    if (w->bytes - b->usable + n > MY_BYTES + 8 * MiB) return;
    bool zero = false;
    size_t align = 0;
    void* q;
    const unsigned char* old = b->p;
    errno = 0;
    if (by_heap) q = fa_heap_realloc(b->hr->h, b->p, n);
    else if (b->zh && rnd(w) % 4 != 0) {
        zero = true;
        if (b->align > 16) { align = b->align; q = fa_rezalloc_aligned(b->p, n, align); }
        else q = rnd(w) % 2 ? fa_rezalloc(b->p, n) : fa_recalloc(b->p, 1, n);
    } else if (rnd(w) % 3 == 0) {
        align = pick_align(w);
        q = fa_realloc_aligned(b->p, n, align);
    } else {
        q = fa_realloc(b->p, n);
    }
    if (q == NULL) {
        int e = errno;
        MT_CHECK(e == ENOMEM, "realloc to %zu failed with errno %d", n, e);
        MT_CHECK(by_heap && b->hr->buf >= 0, "realloc to %zu failed (ENOMEM) outside a region", n);
        verify(b, "after failed realloc");
        return;
    }
    w->bytes -= b->usable;
    b->p = (unsigned char*)q;
    b->usable = fa_usable_size(q);
    w->bytes += b->usable;
    if (n < b->valid) b->valid = n;
    b->req = n;
    b->zh = b->zh && zero;
    b->align = align;
    /* moved by fa_realloc & co.: now a block of this thread's heap (fa_heap_realloc: still h's) */
    if (!by_heap && q != (void*)old) b->hr = NULL;
    verify(b, "after realloc");
    if (rnd(w) % 3 == 0) { b->zh = false; fill(b, rnd(w), n); }
}

static void do_give(worker_t* w, int i) {
    mblk_t b = w->mine[i];
    verify(&b, "before giving");
    bool counted = b.hr != NULL && b.hr->maker == w->serial && hr_state(b.hr) == HS_LIVE;
    if (counted) __atomic_fetch_add(&b.hr->outstanding, 1L, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&g_lock);
    bool room = g_xchg_n < XCHG_CAP && g_xchg_bytes + b.usable <= XCHG_BYTES;
    if (room) { g_xchg[g_xchg_n++] = b; g_xchg_bytes += b.usable; }
    pthread_mutex_unlock(&g_lock);
    if (!room) {
        if (counted) __atomic_fetch_sub(&b.hr->outstanding, 1L, __ATOMIC_ACQ_REL);
        verify(&b, "freeing (exchange full)");
        fa_free(b.p);
    }
    remove_mine(w, i);
}

static void do_take(worker_t* w) {
    if (w->n >= MY_BLOCKS) return;
    mblk_t b;
    bool got = false;
    pthread_mutex_lock(&g_lock);
    if (g_xchg_n > 0) {
        size_t k = (size_t)(rnd(w) % g_xchg_n);
        b = g_xchg[k];
        g_xchg[k] = g_xchg[--g_xchg_n];
        g_xchg_bytes -= b.usable;
        got = true;
    }
    pthread_mutex_unlock(&g_lock);
    if (!got) return;
    verify(&b, "received");
    returned_to_maker(w, &b);
    uint64_t r = rnd(w) % 4;
    if (r == 0) {
        /* free it here: a block of another thread's live heap counts as back after the free */
        if (b.hr != NULL && b.hr->maker != w->serial && hr_state(b.hr) == HS_LIVE) free_block(w, &b, "freeing received");
        else { verify(&b, "freeing received"); fa_free(b.p); }
        return;
    }
    add_mine(w, &b);
    if (r == 1) do_realloc(w, w->n - 1);
}

/* Drops (from this thread's list) every block of a heap just reset or destroyed. */
static void drop_heap_blocks(worker_t* w, const heaprec_t* hr) {
    for (int i = w->n; i-- > 0; )
        if (w->mine[i].hr == hr) remove_mine(w, i);
}

static void mark_deleted(heaprec_t* hr) { __atomic_store_n(&hr->state, HS_DELETED, __ATOMIC_RELEASE); }

static void do_heap(worker_t* w) {
    int k = (int)(rnd(w) % MY_HEAPS);
    heaprec_t* hr = w->heaps[k];
    if (hr != NULL && hr_state(hr) != HS_LIVE) { w->heaps[k] = NULL; hr = NULL; }
    if (hr == NULL) {
        pthread_mutex_lock(&g_lock);
        if (g_rec_used == HEAPRECS) {
            recchunk_t* c = (recchunk_t*)calloc(1, sizeof *c);
            if (c != NULL) { c->next = g_recchunks; g_recchunks = c; g_rec_used = 0; }
        }
        hr = g_rec_used < HEAPRECS ? &g_recchunks->recs[g_rec_used++] : NULL;
        g_heaps_made++;
        pthread_mutex_unlock(&g_lock);
        if (hr == NULL) return;
        hr->maker = w->serial;
        hr->buf = -1;
        if (rnd(w) % 3 == 0) {
            pthread_mutex_lock(&g_lock);
            for (int j = 0; j < NBUFS; j++)
                if (g_buf_state[j] == 0) { g_buf_state[j] = 1; hr->buf = j; break; }
            pthread_mutex_unlock(&g_lock);
        }
        errno = 0;
        if (hr->buf >= 0) {
            size_t off = 1 + rnd(w) % 4000;
            hr->h = fa_heap_new_in_region(g_bufmem[hr->buf] + off, BUF_BYTES - off);
        } else {
            hr->h = fa_heap_new();
        }
        MT_CHECK(hr->h != NULL, "fa_heap_new%s failed, errno %d", hr->buf >= 0 ? "_in_region" : "", errno);
        if (hr->h == NULL) return;
        __atomic_store_n(&hr->state, HS_LIVE, __ATOMIC_RELEASE);
        w->heaps[k] = hr;
        return;
    }
    uint64_t r = rnd(w) % 8;
    bool quiet = __atomic_load_n(&hr->outstanding, __ATOMIC_ACQUIRE) == 0;
    if (r <= 1 && quiet) {
        fa_heap_reset(hr->h);
        drop_heap_blocks(w, hr);
    } else if (r <= 3 && quiet) {
        fa_heap_destroy(hr->h);
        drop_heap_blocks(w, hr);
        __atomic_store_n(&hr->state, HS_DESTROYED, __ATOMIC_RELEASE);
        if (hr->buf >= 0) {
            pthread_mutex_lock(&g_lock);
            g_buf_state[hr->buf] = 0;
            pthread_mutex_unlock(&g_lock);
        }
        w->heaps[k] = NULL;
    } else if (r == 4) {
        fa_heap_delete(hr->h);
        mark_deleted(hr);
        if (hr->buf >= 0) {
            pthread_mutex_lock(&g_lock);
            g_buf_state[hr->buf] = 2;
            pthread_mutex_unlock(&g_lock);
        }
        w->heaps[k] = NULL;
    } else {
        fa_heap_collect(hr->h);
    }
}

/* The heaps a thread leaves behind (it ended, or called fa_thread_done) are deleted. */
static void heaps_left(worker_t* w) {
    for (int k = 0; k < MY_HEAPS; k++) {
        heaprec_t* hr = w->heaps[k];
        if (hr == NULL) continue;
        if (hr_state(hr) == HS_LIVE) {
            mark_deleted(hr);
            if (hr->buf >= 0) {
                pthread_mutex_lock(&g_lock);
                g_buf_state[hr->buf] = 2;
                pthread_mutex_unlock(&g_lock);
            }
        }
        w->heaps[k] = NULL;
    }
}

static void* worker_main(void* arg) {
    worker_t* w = (worker_t*)arg;
    long op = 0;
    for (; op < w->ops && !__atomic_load_n(&g_stop, __ATOMIC_RELAXED); op++) {
        uint64_t r = rnd(w) % 1000;
        if (r < 280) do_alloc(w);
        else if (r < 410) { if (w->n > 0) { int i = (int)(rnd(w) % (uint64_t)w->n); mblk_t b = w->mine[i]; remove_mine(w, i); free_block(w, &b, "freeing"); } }
        else if (r < 540) { if (w->n > 0) do_realloc(w, (int)(rnd(w) % (uint64_t)w->n)); }
        else if (r < 660) { if (w->n > 0) do_give(w, (int)(rnd(w) % (uint64_t)w->n)); }
        else if (r < 900) do_take(w);
        else if (r < 960) do_heap(w);
        else if (r < 985) { if (w->n > 0) { int i = (int)(rnd(w) % (uint64_t)w->n); verify(&w->mine[i], "held"); } }
        else if (r < 998) fa_collect(rnd(w) % 8 == 0);
        else {
            fa_thread_done();   /* this thread's heaps are deleted; it goes on with a new thread heap */
            heaps_left(w);
        }
    }
    __atomic_fetch_add(&g_ops_done, (unsigned long)op, __ATOMIC_RELAXED);
    /* wind down: most blocks go to the exchange (the thread ends with the rest live, handed over
       the same way so that someone frees them), some are freed here */
    while (w->n > 0) {
        int i = w->n - 1;
        if (rnd(w) % 4 == 0) { mblk_t b = w->mine[i]; remove_mine(w, i); free_block(w, &b, "freeing at exit"); }
        else do_give(w, i);
    }
    for (int k = 0; k < MY_HEAPS; k++) {   /* some heaps end explicitly, the others with the thread */
        heaprec_t* hr = w->heaps[k];
        if (hr == NULL || hr_state(hr) != HS_LIVE || rnd(w) % 2) continue;
        if (__atomic_load_n(&hr->outstanding, __ATOMIC_ACQUIRE) == 0 && rnd(w) % 2) {
            fa_heap_destroy(hr->h);
            __atomic_store_n(&hr->state, HS_DESTROYED, __ATOMIC_RELEASE);
            if (hr->buf >= 0) { pthread_mutex_lock(&g_lock); g_buf_state[hr->buf] = 0; pthread_mutex_unlock(&g_lock); }
        } else {
            fa_heap_delete(hr->h);
            mark_deleted(hr);
            if (hr->buf >= 0) { pthread_mutex_lock(&g_lock); g_buf_state[hr->buf] = 2; pthread_mutex_unlock(&g_lock); }
        }
        w->heaps[k] = NULL;
    }
    w->bad = t_bad;
    __atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static worker_t g_workers[WORKERS];
static int g_serial;

static void spawn(int slot, uint64_t seed) {
    worker_t* w = &g_workers[slot];
    memset(w, 0, sizeof *w);
    w->serial = ++g_serial;
    w->rng = harness_mix64(seed + (uint64_t)w->serial * 0x9E3779B97F4A7C15ULL) | 1;
    w->ops = 200 + (long)(harness_rand(&w->rng) % 3000);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        bad("pthread_create failed");
        w->not_started = true;
        w->finished = 1;
    }
}

static void reap(int slot) {
    worker_t* w = &g_workers[slot];
    if (!w->not_started) pthread_join(w->thread, NULL);
    heaps_left(w);   /* the thread ended: what it left live is deleted */
    CHECKF(w->bad == 0, "worker %d: %lu failed checks (first ones above)", w->serial, w->bad);   /* one per thread */
}

int main(int argc, char** argv) {
    double seconds = MT_SANITIZED ? 4.0 : 3.0;
    uint64_t seed = (uint64_t)time(NULL);
    const char* env = getenv("FA_FUZZ_SECONDS");
    if (env != NULL && *env != '\0') seconds = atof(env);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else { fprintf(stderr, "usage: %s [--seconds N] [--seed S]\n", argv[0]); return 2; }
    }
    harness_section("fuzz mt");
    fprintf(stderr, "test_fuzz_mt: seed %llu, %.0f s, %d worker threads\n", (unsigned long long)seed, seconds, WORKERS);
    double t0 = now_s();
    for (int s = 0; s < WORKERS; s++) spawn(s, seed);
    unsigned long threads = WORKERS;
    while (now_s() - t0 < seconds) {
        for (int s = 0; s < WORKERS; s++) {
            if (!__atomic_load_n(&g_workers[s].finished, __ATOMIC_ACQUIRE)) continue;
            reap(s);
            spawn(s, seed);
            threads++;
        }
        usleep(2000);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    for (int s = 0; s < WORKERS; s++) reap(s);
    /* the exchange: everything left is checked and freed here */
    size_t left = g_xchg_n;
    for (size_t i = 0; i < g_xchg_n; i++) {
        verify(&g_xchg[i], "left in the exchange");
        fa_free(g_xchg[i].p);
    }
    g_xchg_n = 0;
    fa_collect(true);
    fa_stats_t st;
    fa_stats_get(&st);
    unsigned long main_bad = t_bad;
    CHECKF(main_bad == 0, "%lu failed checks in the main thread (blocks left in the exchange)", main_bad);
    CHECKF(st.mapped_bytes <= 16 * MiB, "with every block freed and fa_collect(true): %zu KiB still mapped (%zu segments, "
           "%zu abandoned)", st.mapped_bytes / KiB, st.segments_live, st.segments_abandoned);
    while (g_recchunks != NULL) { recchunk_t* c = g_recchunks; g_recchunks = c->next; free(c); }
    fprintf(stderr, "test_fuzz_mt: %lu block checks, %lu operations, %lu threads, %u heaps, %zu blocks left in the exchange at the end, %.1f s, seed %llu\n",
            g_checks, g_ops_done, threads, g_heaps_made, left, now_s() - t0, (unsigned long long)seed);
    return harness_finish();
}
