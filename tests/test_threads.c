#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_threads.c — cross-thread behaviour: producer/consumer frees with bounded memory; short-lived
   producers whose heaps are abandoned while a consumer still frees into them; blocks that outlive
   the thread that allocated them (return, pthread_exit, fa_collect before exit) and are verified
   and freed by main and other threads after the memory may have been adopted; memory of exited
   threads returned by fa_collect(true) (segments_abandoned == 0); fa_thread_done followed by more
   allocation (in a thread and in main) and a thread that exits after it; thread churn with a
   concurrent fa_collect loop and bounded memory; a 4-thread random stress (all allocation
   functions, blocks handed between threads through an atomic exchange and adopted or freed there,
   occasional fa_thread_done, a concurrent collector); gathered cross-thread frees (held back until
   the freeing thread pushes them, never for a first-class heap, which main destroys at once); a
   fork while another thread holds blocks: in the child that thread's pages no longer carry its
   key (a thread the child starts may get its thread pointer), main's still carry main's, and
   threads started there free the lost thread's blocks and allocate. Threads aggregate their own
   results and CHECK once at the end. FA_TEST_QUICK scales the iteration counts down. */

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if HARNESS_HAVE_FORK
#include <sys/wait.h>
#include <unistd.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MEM_BOUND (256 * MiB)

static void update_max(size_t* m, size_t v) {
    size_t cur = __atomic_load_n(m, __ATOMIC_RELAXED);
    while (v > cur && !__atomic_compare_exchange_n(m, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static size_t mapped_now(void) {
    fa_stats_t st;
    fa_stats_get(&st);
    return st.mapped_bytes;
}

/* ==== 1. producer / consumer ============================================================== */

typedef struct { char* p; size_t size; uint64_t seed; } item_t;

enum { QCAP = 1024, NPROD = 2, NCONS = 2 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    item_t buf[QCAP];
    size_t head, count;
    int producers_left;
} q;

static size_t pc_items_per_producer;
static size_t pc_max_mapped;

static void q_push(item_t it) {
    pthread_mutex_lock(&q.mu);
    while (q.count == QCAP) pthread_cond_wait(&q.not_full, &q.mu);
    q.buf[(q.head + q.count) % QCAP] = it;
    q.count++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
}

/* false when the queue is drained and all producers are done */
static bool q_pop(item_t* out) {
    pthread_mutex_lock(&q.mu);
    while (q.count == 0 && q.producers_left > 0) pthread_cond_wait(&q.not_empty, &q.mu);
    if (q.count == 0) { pthread_mutex_unlock(&q.mu); return false; }
    *out = q.buf[q.head];
    q.head = (q.head + 1) % QCAP;
    q.count--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.mu);
    return true;
}

static const size_t pc_sizes[] = {8, 24, 64, 100, 256, 1000, 2048, 5000, 16000, 40000, 100000, 7, 333};

static void* producer(void* arg) {
    uintptr_t id = (uintptr_t)arg;
    size_t nulls = 0;
    for (size_t i = 0; i < pc_items_per_producer; i++) {
        size_t s = pc_sizes[i % ARRAY_LEN(pc_sizes)];
        if (i % 997 == 500) s = 600 * KiB;
        if (i % 4999 == 2500) s = 5 * MiB + 11;
        uint64_t seed = ((uint64_t)id << 40) | i;
        char* p = (char*)fa_malloc(s);
        if (!p) { nulls++; continue; }
        harness_fill_sparse(p, s, seed);
        item_t it = {p, s, seed};
        q_push(it);
    }
    CHECKF(nulls == 0, "producer %d: %zu failed allocations", (int)id, nulls);
    pthread_mutex_lock(&q.mu);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

static void* consumer(void* arg) {
    (void)arg;
    size_t bad = 0, n = 0;
    item_t it;
    while (q_pop(&it)) {
        if (harness_verify_sparse(it.p, it.size, it.seed) != HARNESS_OK) bad++;
        if (fa_usable_size(it.p) < it.size) bad++;
        fa_free(it.p);
        if (++n % 256 == 0) update_max(&pc_max_mapped, mapped_now());
    }
    CHECKF(bad == 0, "consumer: %zu corrupted blocks of %zu", bad, n);
    return NULL;
}

static void test_producer_consumer(void) {
    harness_section("producer/consumer");
    pc_items_per_producer = harness_scale(80000, 4);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    q.head = q.count = 0;
    q.producers_left = NPROD;
    pthread_t pt[NPROD], ct[NCONS];
    for (uintptr_t i = 0; i < NCONS; i++) pthread_create(&ct[i], NULL, consumer, NULL);
    for (uintptr_t i = 0; i < NPROD; i++) pthread_create(&pt[i], NULL, producer, (void*)(i + 1));
    for (int i = 0; i < NPROD; i++) pthread_join(pt[i], NULL);
    for (int i = 0; i < NCONS; i++) pthread_join(ct[i], NULL);
    CHECK_EQ_SZ(q.count, 0);
    size_t m = mapped_now();
    update_max(&pc_max_mapped, m);
    CHECKF(pc_max_mapped < MEM_BOUND, "mapped bytes reached %zu MiB (bound %zu MiB)",
           pc_max_mapped / MiB, MEM_BOUND / MiB);
    /* the producers are gone; their remotely freed memory can all be given back */
    fa_collect(true);
    CHECKF(mapped_now() < MEM_BOUND, "after collect: %zu MiB mapped", mapped_now() / MiB);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.not_empty);
    pthread_cond_destroy(&q.not_full);
}

/* Short-lived producers: each hands its blocks to a long-lived consumer and exits at once, so the
   heap is abandoned while the consumer is still freeing into its pages. */
static void* short_producer(void* arg) {
    uintptr_t round = (uintptr_t)arg;
    size_t nulls = 0;
    for (size_t i = 0; i < 1500; i++) {
        size_t s = pc_sizes[(i + round) % ARRAY_LEN(pc_sizes)];
        uint64_t seed = ((uint64_t)round << 32) | i;
        char* p = (char*)fa_malloc(s);
        if (!p) { nulls++; continue; }
        harness_fill_sparse(p, s, seed);
        item_t it = {p, s, seed};
        q_push(it);
    }
    CHECKF(nulls == 0, "short producer %d: %zu failed allocations", (int)round, nulls);
    return NULL;
}

static void test_abandon_race(void) {
    harness_section("abandon race");
    size_t rounds = harness_scale(25, 4);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    q.head = q.count = 0;
    q.producers_left = 1; /* main counts as the producer that ends the stream */
    pc_max_mapped = 0;
    pthread_t ct;
    pthread_create(&ct, NULL, consumer, NULL);
    for (size_t r = 0; r < rounds; r++) {
        pthread_t pt[2];
        for (int i = 0; i < 2; i++) pthread_create(&pt[i], NULL, short_producer, (void*)(uintptr_t)(r * 2 + (size_t)i + 1));
        for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
    }
    pthread_mutex_lock(&q.mu);
    q.producers_left = 0;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
    pthread_join(ct, NULL);
    CHECK_EQ_SZ(q.count, 0);
    fa_collect(true);
    size_t m = mapped_now();
    CHECKF(m < MEM_BOUND && pc_max_mapped < MEM_BOUND, "abandon race: mapped %zu MiB, max %zu MiB",
           m / MiB, pc_max_mapped / MiB);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.not_empty);
    pthread_cond_destroy(&q.not_full);
}

/* ==== 2. blocks outliving their thread ==================================================== */

enum { EX_N = 3000 };

typedef struct {
    int mode;            /* 0: return, 1: pthread_exit, 2: fa_collect(false) then return */
    item_t blocks[EX_N]; /* live blocks left behind (p == NULL when freed locally) */
    size_t nulls;
} exiter_t;

static exiter_t ex[3];

static size_t ex_size(size_t i) {
    if (i % 1000 == 999) return 6 * MiB + i;
    if (i % 250 == 100) return 700 * KiB + i;
    if (i % 10 == 3) return 20000 + i;
    return (i * 37) % 1500;
}

static void* exiter(void* arg) {
    exiter_t* e = (exiter_t*)arg;
    for (size_t i = 0; i < EX_N; i++) {
        size_t s = ex_size(i);
        uint64_t seed = ((uint64_t)e->mode << 32) + i * 7 + 1;
        char* p = (char*)fa_malloc(s);
        if (!p) { e->nulls++; e->blocks[i].p = NULL; continue; }
        harness_fill_sparse(p, s, seed);
        e->blocks[i].p = p;
        e->blocks[i].size = s;
        e->blocks[i].seed = seed;
    }
    /* free every third block locally so pages are partially used when the thread leaves */
    for (size_t i = 0; i < EX_N; i += 3) {
        fa_free(e->blocks[i].p);
        e->blocks[i].p = NULL;
    }
    if (e->mode == 1) pthread_exit(NULL);
    if (e->mode == 2) fa_collect(false);
    return NULL;
}

/* allocates lots of the same sizes (may adopt abandoned memory), keeps half, verifies all */
typedef struct { item_t kept[EX_N]; size_t bad, nulls; uint64_t tag; } churner_t;
static churner_t churn[2];

static void* churner(void* arg) {
    churner_t* c = (churner_t*)arg;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < EX_N; i++) {
            size_t s = ex_size(i + 1);
            uint64_t seed = c->tag + (uint64_t)round * 100000 + i;
            char* p = (char*)fa_malloc(s);
            if (!p) { c->nulls++; continue; }
            harness_fill_sparse(p, s, seed);
            if (c->kept[i].p) {
                if (harness_verify_sparse(c->kept[i].p, c->kept[i].size, c->kept[i].seed) != HARNESS_OK) c->bad++;
                fa_free(c->kept[i].p);
            }
            c->kept[i].p = p; c->kept[i].size = s; c->kept[i].seed = seed;
        }
        for (size_t i = round % 2; i < EX_N; i += 2) {
            if (!c->kept[i].p) continue;
            if (harness_verify_sparse(c->kept[i].p, c->kept[i].size, c->kept[i].seed) != HARNESS_OK) c->bad++;
            fa_free(c->kept[i].p);
            c->kept[i].p = NULL;
        }
    }
    return NULL;
}

static size_t verify_free_exiter(exiter_t* e, bool do_free) {
    size_t bad = 0;
    for (size_t i = 0; i < EX_N; i++) {
        item_t* it = &e->blocks[i];
        if (!it->p) continue;
        if (harness_verify_sparse(it->p, it->size, it->seed) != HARNESS_OK) bad++;
        if (fa_usable_size(it->p) < it->size) bad++;
        if (do_free) { fa_free(it->p); it->p = NULL; }
    }
    return bad;
}

static void* exiter_freer(void* arg) {
    exiter_t* e = (exiter_t*)arg;
    size_t bad = verify_free_exiter(e, true);
    CHECKF(bad == 0, "freer thread: %zu corrupted blocks of exited thread (mode %d)", bad, e->mode);
    return NULL;
}

static void test_exited_threads(void) {
    harness_section("exited threads");
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        ex[i].mode = i;
        pthread_create(&t[i], NULL, exiter, &ex[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_EQ_SZ(ex[i].nulls, 0);

    /* other threads allocate the same sizes, possibly reusing the abandoned memory */
    pthread_t ct[2];
    for (int i = 0; i < 2; i++) {
        churn[i].tag = (uint64_t)(i + 1) << 48;
        pthread_create(&ct[i], NULL, churner, &churn[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(ct[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_SZ(churn[i].bad, 0);
        CHECK_EQ_SZ(churn[i].nulls, 0);
    }
    /* nothing of the exited threads was handed out again */
    for (int i = 0; i < 3; i++)
        CHECKF(verify_free_exiter(&ex[i], false) == 0, "exited thread %d: blocks corrupted", i);

    /* a new thread frees the blocks of exiter 0, main frees those of exiters 1 and 2 */
    pthread_t ft;
    pthread_create(&ft, NULL, exiter_freer, &ex[0]);
    CHECK_EQ_SZ(verify_free_exiter(&ex[1], true), 0);
    pthread_join(ft, NULL);
    CHECK_EQ_SZ(verify_free_exiter(&ex[2], true), 0);
    size_t bad = 0;
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < EX_N; k++) {
            item_t* it = &churn[i].kept[k];
            if (!it->p) continue;
            if (harness_verify_sparse(it->p, it->size, it->seed) != HARNESS_OK) bad++;
            fa_free(it->p);
            it->p = NULL;
        }
    CHECK_EQ_SZ(bad, 0);

    /* everything of the exited threads is free: a forced collect reclaims their segments */
    fa_collect(true);
    fa_stats_t st;
    fa_stats_get(&st);
    CHECKF(st.segments_abandoned == 0, "segments_abandoned = %zu after freeing everything and "
           "fa_collect(true)", st.segments_abandoned);
    CHECK(st.mapped_bytes < MEM_BOUND);
}

/* A thread that used a lot of memory and freed it all exits; fa_collect(true) in another thread
   must hand that memory back (unmapped, or purged). */
static size_t big_user_mapped;
static void* big_user(void* arg) {
    (void)arg;
    enum { N = 1600 };
    void** v = (void**)malloc(N * sizeof(void*));
    size_t nulls = 0;
    for (size_t i = 0; i < N; i++) {
        v[i] = fa_malloc(60000 + (i % 3) * 1000);
        if (v[i]) memset(v[i], 0x77, 60000); else nulls++;
    }
    __atomic_store_n(&big_user_mapped, mapped_now(), __ATOMIC_RELAXED);
    for (size_t i = 0; i < N; i++) fa_free(v[i]);
    free(v);
    CHECK_EQ_SZ(nulls, 0);
    return NULL;
}

static void test_exited_memory_returned(void) {
    harness_section("exited thread memory");
    fa_collect(true);
    fa_stats_t before, after;
    fa_stats_get(&before);
    pthread_t t;
    pthread_create(&t, NULL, big_user, NULL);
    pthread_join(t, NULL);
    fa_collect(true);
    fa_stats_get(&after);
    size_t during = __atomic_load_n(&big_user_mapped, __ATOMIC_RELAXED);
    CHECK_GE_SZ(during, before.mapped_bytes + 90 * MiB);
    /* ~96 MiB were in use by the dead thread: at least half of that is unmapped, or purged */
    CHECKF(after.mapped_bytes + 48 * MiB <= during || after.os_purge_calls > before.os_purge_calls,
           "mapped: before %zu MiB, thread peak %zu MiB, after collect %zu MiB; purges %zu -> %zu",
           before.mapped_bytes / MiB, during / MiB, after.mapped_bytes / MiB, before.os_purge_calls,
           after.os_purge_calls);
}

/* ==== 3. fa_thread_done and keep going ==================================================== */

enum { TD_N = 400 };
static item_t td_left[2 * TD_N];
static size_t td_nleft;

static void td_alloc(item_t* v, size_t n, uint64_t base, size_t* nulls) {
    for (size_t i = 0; i < n; i++) {
        size_t s = (i % 50 == 7) ? 100000 + i : (i * 13) % 3000;
        if (i == n / 2) s = 5 * MiB;
        v[i].p = (char*)fa_malloc(s);
        v[i].size = s;
        v[i].seed = base + i;
        if (!v[i].p) { (*nulls)++; continue; }
        harness_fill_sparse(v[i].p, s, v[i].seed);
    }
}

static size_t td_verify(const item_t* v, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].p && harness_verify_sparse(v[i].p, v[i].size, v[i].seed) != HARNESS_OK) bad++;
    return bad;
}

static void* thread_done_worker(void* arg) {
    (void)arg;
    static item_t a[TD_N], b[TD_N], c[TD_N];
    size_t nulls = 0, bad = 0;
    td_alloc(a, TD_N, 1000, &nulls);
    fa_thread_done();
    bad += td_verify(a, TD_N);
    td_alloc(b, TD_N, 2000, &nulls);            /* allocating again after thread_done */
    for (size_t i = 0; i < TD_N; i += 2) {      /* free half of the pre-thread_done blocks */
        fa_free(a[i].p);
        a[i].p = NULL;
    }
    bad += td_verify(a, TD_N) + td_verify(b, TD_N);
    fa_thread_done();
    fa_thread_done();                           /* twice in a row is harmless */
    td_alloc(c, TD_N, 3000, &nulls);
    for (size_t i = 1; i < TD_N; i += 4) { fa_free(b[i].p); b[i].p = NULL; }
    for (size_t i = 0; i < TD_N; i += 3) { fa_free(c[i].p); c[i].p = NULL; }
    /* realloc of a block from the released heap */
    for (size_t i = 1; i < TD_N; i += 10) {
        if (!a[i].p) continue;
        char* r = (char*)fa_realloc(a[i].p, a[i].size + 5000);
        if (!r) { nulls++; continue; }
        if (harness_verify_sparse_prefix(r, a[i].size, a[i].size, a[i].seed) != HARNESS_OK) bad++;
        a[i].p = r;
        a[i].size += 5000;
        harness_fill_sparse(r, a[i].size, a[i].seed);
    }
    bad += td_verify(a, TD_N) + td_verify(b, TD_N) + td_verify(c, TD_N);
    CHECKF(nulls == 0, "thread_done worker: %zu failed allocations", nulls);
    CHECKF(bad == 0, "thread_done worker: %zu corrupted blocks", bad);
    /* leave the remaining blocks to main */
    td_nleft = 0;
    for (size_t i = 0; i < TD_N; i++) {
        if (a[i].p) td_left[td_nleft++] = a[i];
        if (c[i].p && td_nleft < ARRAY_LEN(td_left)) td_left[td_nleft++] = c[i];
        else if (c[i].p) fa_free(c[i].p);
        if (b[i].p) fa_free(b[i].p);
    }
    fa_thread_done();
    return NULL;
}

static void test_thread_done(void) {
    harness_section("thread_done");
    pthread_t t;
    pthread_create(&t, NULL, thread_done_worker, NULL);
    pthread_join(t, NULL);
    CHECK(td_nleft > 0);
    CHECK_EQ_SZ(td_verify(td_left, td_nleft), 0);
    for (size_t i = 0; i < td_nleft; i++) fa_free(td_left[i].p);

    /* main thread too: release the heap, keep allocating, free old and new blocks */
    static item_t m1[TD_N], m2[TD_N];
    size_t nulls = 0;
    td_alloc(m1, TD_N, 5000, &nulls);
    fa_thread_done();
    td_alloc(m2, TD_N, 6000, &nulls);
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(td_verify(m1, TD_N) + td_verify(m2, TD_N), 0);
    for (size_t i = 0; i < TD_N; i++) { fa_free(m1[i].p); fa_free(m2[TD_N - 1 - i].p); }
    void* p = fa_malloc(123);
    CHECK(p != NULL);
    fa_free(p);
}

/* A thread releases its heap, allocates again and exits without another fa_thread_done; the next
   thread (often with the same thread pointer) must not take over the dead thread's memory. */
enum { TDX_N = 300 };
static item_t tdx_blocks[TDX_N];

static void* tdx_worker(void* arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg << 20;
    void* first = fa_malloc(40);
    fa_thread_done();
    for (size_t i = 0; i < TDX_N; i++) {
        size_t s = (i % 30 == 29) ? 90000 : 16 + (i * 7) % 400;
        tdx_blocks[i].p = (char*)fa_malloc(s);
        tdx_blocks[i].size = s;
        tdx_blocks[i].seed = base + i;
        if (tdx_blocks[i].p) harness_fill_sparse(tdx_blocks[i].p, s, base + i);
    }
    fa_free(first);
    return NULL;
}

static void* tdx_other(void* arg) {
    /* allocates and frees the same sizes, then frees half of the dead thread's blocks */
    (void)arg;
    size_t bad = 0;
    void* v[TDX_N];
    for (size_t i = 0; i < TDX_N; i++) {
        size_t s = (i % 30 == 29) ? 90000 : 16 + (i * 7) % 400;
        v[i] = fa_malloc(s);
        if (v[i]) harness_fill(v[i], s, i);
    }
    for (size_t i = 0; i < TDX_N; i += 2) {
        item_t* it = &tdx_blocks[i];
        if (!it->p || harness_verify_sparse(it->p, it->size, it->seed) != HARNESS_OK) bad++;
        fa_free(it->p);
        it->p = NULL;
    }
    for (size_t i = 0; i < TDX_N; i++) {
        size_t s = (i % 30 == 29) ? 90000 : 16 + (i * 7) % 400;
        if (!v[i] || harness_verify(v[i], s, i) != HARNESS_OK) bad++;
        fa_free(v[i]);
    }
    return (void*)(uintptr_t)bad;
}

static void test_thread_done_exit(void) {
    harness_section("thread_done then exit");
    size_t bad = 0;
    for (uintptr_t r = 0; r < 20; r++) {
        pthread_t t;
        pthread_create(&t, NULL, tdx_worker, (void*)(r + 1));
        pthread_join(t, NULL);
        void* ret = NULL;
        pthread_create(&t, NULL, tdx_other, NULL);
        pthread_join(t, &ret);
        bad += (size_t)(uintptr_t)ret;
        for (size_t i = 1; i < TDX_N; i += 2) {
            item_t* it = &tdx_blocks[i];
            if (!it->p || harness_verify_sparse(it->p, it->size, it->seed) != HARNESS_OK) bad++;
            fa_free(it->p);
            it->p = NULL;
        }
    }
    CHECK_EQ_SZ(bad, 0);
    fa_collect(true);
    fa_stats_t st;
    fa_stats_get(&st);
    CHECKF(st.segments_abandoned == 0, "segments_abandoned = %zu", st.segments_abandoned);
    CHECK(st.mapped_bytes < MEM_BOUND);
}

/* ==== 4. thread churn stays bounded ======================================================= */

/* Calls fa_collect and fa_stats_get in a loop until told to stop, racing the other threads. */
static int collector_stop;
static void* collector(void* arg) {
    (void)arg;
    size_t n = 0;
    while (!__atomic_load_n(&collector_stop, __ATOMIC_ACQUIRE)) {
        fa_collect((n & 1) != 0);
        fa_stats_t st;
        fa_stats_get(&st);
        void* p = fa_malloc(n % 5000);
        fa_free(p);
        n++;
        sched_yield();
    }
    return NULL;
}


enum { CH_LEFT = 16 };
typedef struct { item_t left[CH_LEFT]; size_t bad, nulls; uint64_t seed; } ch_t;

static void* churn_worker(void* arg) {
    ch_t* c = (ch_t*)arg;
    enum { N = 200 };
    item_t v[N];
    uint64_t rng = c->seed | 1;
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t r = harness_rand(&rng);
            size_t s = (r % 16 == 0) ? 60000 : (size_t)(r >> 40) % 2000;
            v[i].p = (char*)fa_malloc(s);
            v[i].size = s;
            v[i].seed = r;
            if (!v[i].p) { c->nulls++; continue; }
            harness_fill_sparse(v[i].p, s, r);
        }
        for (size_t i = 0; i < N; i++) {
            if (!v[i].p) continue;
            if (harness_verify_sparse(v[i].p, v[i].size, v[i].seed) != HARNESS_OK) c->bad++;
            if (round == 3 && i < CH_LEFT) c->left[i] = v[i];   /* outlives the thread */
            else fa_free(v[i].p);
        }
    }
    return NULL;
}

static void test_thread_churn(void) {
    harness_section("thread churn");
    size_t rounds = harness_scale(24, 4);
    enum { PAR = 4 };
    enum { WIDE = 32 };
    ch_t* cs = (ch_t*)calloc(WIDE, sizeof(ch_t));
    size_t bad = 0, nulls = 0, max_mapped = 0;
    __atomic_store_n(&collector_stop, 0, __ATOMIC_RELEASE);
    pthread_t coll;
    pthread_create(&coll, NULL, collector, NULL);
    for (size_t r = 0; r <= rounds; r++) {
        pthread_t t[WIDE];
        int par = r == rounds ? WIDE : PAR; /* the last round runs many threads at once */
        for (int i = 0; i < par; i++) {
            memset(&cs[i], 0, sizeof(ch_t));
            cs[i].seed = harness_mix64(r * PAR + (size_t)i + 1);
            pthread_create(&t[i], NULL, churn_worker, &cs[i]);
        }
        for (int i = 0; i < par; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < par; i++) {
            bad += cs[i].bad;
            nulls += cs[i].nulls;
            for (size_t k = 0; k < CH_LEFT; k++) {
                item_t* it = &cs[i].left[k];
                if (!it->p) continue;
                if (harness_verify_sparse(it->p, it->size, it->seed) != HARNESS_OK) bad++;
                fa_free(it->p);
            }
        }
        update_max(&max_mapped, mapped_now());
    }
    __atomic_store_n(&collector_stop, 1, __ATOMIC_RELEASE);
    pthread_join(coll, NULL);
    free(cs);
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(nulls, 0);
    CHECKF(max_mapped < MEM_BOUND, "thread churn: mapped bytes reached %zu MiB", max_mapped / MiB);
}

/* ==== 5. random multi-threaded stress ===================================================== */

enum { ST_THREADS = 4, ST_SLOTS = 256, XCH = 64 };

typedef struct {
    char* p;
    size_t size;
    uint64_t seed;
    int zeroed; /* came from a zeroing function: rezalloc allowed, bytes past size read zero */
} slot_t;

typedef struct {
    int id;
    size_t ops;
    size_t bad_pattern, bad_zero, bad_usable, bad_align, nulls, handed, received;
} st_t;

static slot_t* xch[XCH]; /* accessed only with __atomic builtins */

static size_t st_size(uint64_t* rng) {
    uint64_t r = harness_rand(rng);
    unsigned k = (unsigned)(r % 1000);
    size_t x = (size_t)(r >> 24);
    if (k < 800) return x % 513;
    if (k < 960) return 512 + x % (64 * KiB);
    if (k < 996) return 64 * KiB + x % MiB;
    return MiB + x % (5 * MiB);
}

/* Zero check for the stress: every byte of small ranges; head, tail and a 4093-byte stride of big
   ones (the API test checks every byte; here the cost under ThreadSanitizer matters). */
static bool st_zero(const char* p, size_t n) {
    if (n <= 16 * KiB) return harness_first_nonzero(p, n) == HARNESS_OK;
    if (harness_first_nonzero(p, 4096) != HARNESS_OK) return false;
    if (harness_first_nonzero(p + n - 4096, 4096) != HARNESS_OK) return false;
    for (size_t i = 4096; i < n - 4096; i += 4093)
        if (p[i] != 0) return false;
    return true;
}

static void st_check(st_t* t, const slot_t* s) {
    if (harness_verify_sparse(s->p, s->size, s->seed) != HARNESS_OK) t->bad_pattern++;
    if (fa_usable_size(s->p) < s->size) t->bad_usable++;
}

static void st_release(st_t* t, slot_t* s) {
    if (!s->p) return;
    st_check(t, s);
    fa_free(s->p);
    s->p = NULL;
}

static void* stress_worker(void* arg) {
    st_t* t = (st_t*)arg;
    slot_t* slots = (slot_t*)calloc(ST_SLOTS, sizeof(slot_t));
    uint64_t rng = harness_mix64((uint64_t)t->id + 99) | 1;
    uint64_t seq = (uint64_t)t->id << 48;
    for (size_t op = 0; op < t->ops; op++) {
        uint64_t r = harness_rand(&rng);
        slot_t* s = &slots[r % ST_SLOTS];
        unsigned what = (unsigned)((r >> 16) % 100);
        size_t n = st_size(&rng);
        uint64_t seed = ++seq;
        if (op % 9973 == 9972) fa_thread_done(); /* live blocks stay valid; the heap comes back */
        if (what < 22) {                                               /* malloc / calloc / zalloc */
            st_release(t, s);
            unsigned kind = what < 12 ? 0 : (what < 17 ? 1 : 2);
            char* p = kind == 0 ? (char*)fa_malloc(n) : kind == 1 ? (char*)fa_calloc(n, 1) : (char*)fa_zalloc(n);
            if (!p) { t->nulls++; continue; }
            if (kind != 0 && !st_zero(p, n)) t->bad_zero++;
            if ((uintptr_t)p % harness_min_align(n)) t->bad_align++;
            s->p = p; s->size = n; s->seed = seed; s->zeroed = kind != 0;
            harness_fill_sparse(p, n, seed);
        } else if (what < 45) {                                        /* realloc / rezalloc */
            bool z = s->p != NULL && s->zeroed && (what & 1);
            if (s->p == NULL) z = (what & 1);
            size_t old = s->p ? s->size : 0;
            char* p = z ? (char*)fa_rezalloc(s->p, n) : (char*)fa_realloc(s->p, n);
            if (!p) { t->nulls++; continue; }
            if (s->p) {
                size_t keep = old < n ? old : n;
                if (harness_verify_sparse_prefix(p, old, keep, s->seed) != HARNESS_OK) t->bad_pattern++;
            } else {
                s->seed = seed;
            }
            if (z && n > old && !st_zero(p + old, n - old)) t->bad_zero++;
            if (fa_usable_size(p) < n) t->bad_usable++;
            s->p = p; s->size = n; s->zeroed = z;
            harness_fill_sparse(p, n, s->seed);
        } else if (what < 70) {                                        /* aligned */
            st_release(t, s);
            size_t al = (size_t)1 << ((r >> 32) % 13);
            if ((r >> 50) % 50 == 0) al = 64 * KiB;
            bool zero = (r >> 45) & 1;
            if (n > 256 * KiB) n /= 16;
            char* p = zero ? (char*)fa_zalloc_aligned(n, al) : (char*)fa_malloc_aligned(n, al);
            if (!p) { t->nulls++; continue; }
            if ((uintptr_t)p % al) t->bad_align++;
            if (zero && !st_zero(p, n)) t->bad_zero++;
            s->p = p; s->size = n; s->seed = seed; s->zeroed = zero;
            harness_fill_sparse(p, n, seed);
        } else if (what < 90) {                                        /* free */
            st_release(t, s);
        } else if (s->p) {                                             /* hand over to any thread */
            st_check(t, s);
            slot_t* d = (slot_t*)fa_malloc(sizeof(slot_t));
            if (!d) { t->nulls++; continue; }
            *d = *s;
            s->p = NULL;
            slot_t* old = __atomic_exchange_n(&xch[(r >> 8) % XCH], d, __ATOMIC_ACQ_REL);
            t->handed++;
            if (old) {
                if ((r >> 60) & 1) {
                    st_release(t, old);        /* verify and free a block of another thread */
                } else {
                    st_check(t, old);          /* adopt it: later realloc'd or freed here */
                    *s = *old;
                }
                fa_free(old);
                t->received++;
            }
        }
    }
    for (size_t i = 0; i < ST_SLOTS; i++) st_release(t, &slots[i]);
    free(slots);
    CHECKF(t->bad_pattern == 0, "stress thread %d: %zu corrupted blocks", t->id, t->bad_pattern);
    CHECKF(t->bad_zero == 0, "stress thread %d: %zu zeroed blocks not zero", t->id, t->bad_zero);
    CHECKF(t->bad_usable == 0, "stress thread %d: %zu usable < size", t->id, t->bad_usable);
    CHECKF(t->bad_align == 0, "stress thread %d: %zu misaligned", t->id, t->bad_align);
    CHECKF(t->nulls == 0, "stress thread %d: %zu failed allocations", t->id, t->nulls);
    return NULL;
}

static void test_stress(void) {
    harness_section("stress");
    st_t* ts = (st_t*)calloc(ST_THREADS, sizeof(st_t));
    pthread_t th[ST_THREADS];
    size_t ops = harness_scale(20000, 4);
    __atomic_store_n(&collector_stop, 0, __ATOMIC_RELEASE);
    pthread_t coll;
    pthread_create(&coll, NULL, collector, NULL);
    for (int i = 0; i < ST_THREADS; i++) {
        ts[i].id = i + 1;
        ts[i].ops = ops;
        pthread_create(&th[i], NULL, stress_worker, &ts[i]);
    }
    for (int i = 0; i < ST_THREADS; i++) pthread_join(th[i], NULL);
    __atomic_store_n(&collector_stop, 1, __ATOMIC_RELEASE);
    pthread_join(coll, NULL);
    /* drain the exchange: blocks from exited threads are verified and freed by main */
    st_t rest;
    memset(&rest, 0, sizeof rest);
    size_t handed = 0, received = 0;
    for (int i = 0; i < XCH; i++) {
        slot_t* d = __atomic_exchange_n(&xch[i], (slot_t*)NULL, __ATOMIC_ACQ_REL);
        if (!d) continue;
        st_release(&rest, d);
        fa_free(d);
        received++;
    }
    for (int i = 0; i < ST_THREADS; i++) { handed += ts[i].handed; received += ts[i].received; }
    CHECK_EQ_SZ(rest.bad_pattern, 0);
    CHECK_EQ_SZ(rest.bad_usable, 0);
    CHECK_EQ_SZ(handed, received);
    CHECK(handed > 0);
    free(ts);
    fa_collect(true);
    CHECK(mapped_now() < MEM_BOUND);
}

/* ==== gathered cross-thread frees ======================================================== */
/* A thread that frees blocks of another thread's heap gathers them per page and pushes them in
   bulk (>>free): a gathered block counts as live in its owner's figures until the freeing thread
   fills the gathering, evicts it, runs fa_collect or exits; first-class heaps' blocks are never
   held back, so such a heap can be destroyed right after another thread freed into it. */
enum { GA_N = 48, GA_HELD = 10, GA_MANY = 40 };
static int ga_phase;                 /* __atomic: main and the freer take turns */
static char* ga_blocks[GA_N];
static char* ga_fc_blocks[GA_N];
static char* ga_many[GA_MANY][4];

static size_t ga_held;              /* how many of ga_blocks the freer frees first (gathered) */

/* A block of a page: gathered when another thread frees it (a sampled block of a
   FASTALLOC_GUARD_SAMPLE build has a mapping of its own and goes back at once). */
static bool ga_in_page(const void* p) { return !fa__seg_sampled(fa__ptr_segment(p)); }

static void ga_wait(int phase) { while (__atomic_load_n(&ga_phase, __ATOMIC_ACQUIRE) != phase) sched_yield(); }
static void ga_go(int phase) { __atomic_store_n(&ga_phase, phase, __ATOMIC_RELEASE); }

static size_t ga_live(fa_heap_t* h) {
    fa_heap_stats_t st;
    return fa_heap_stats(h, &st) ? st.live_blocks : SIZE_MAX;
}

static void* ga_freer(void* arg) {
    (void)arg;
    ga_wait(1);
    for (size_t i = 0; i < ga_held; i++) fa_free(ga_blocks[i]);   /* at most 640 bytes: held back */
    ga_go(2);
    ga_wait(3);
    fa_collect(false);                                             /* pushes the gathering */
    ga_go(4);
    ga_wait(5);
    for (size_t i = 0; i < GA_N; i++) fa_free(ga_fc_blocks[i]);  /* a first-class heap's: at once */
    ga_go(6);
    ga_wait(7);
    /* many pages of the thread heap: every slot taken and evicted; one block of each left to main */
    for (size_t k = 0; k < 3; k++)
        for (size_t c = 0; c < GA_MANY; c++) fa_free(ga_many[c][k]);
    for (size_t i = ga_held; i < GA_N; i++) fa_free(ga_blocks[i]);
    return NULL;   /* exiting pushes what is still gathered */
}

static void test_gathered_frees(void) {
    harness_section("gathered cross-thread frees");
    size_t base = ga_live(NULL);
    for (size_t i = 0; i < GA_N; i++) {
        ga_blocks[i] = (char*)fa_malloc(64);
        harness_fill(ga_blocks[i], 64, 900 + i);
    }
    /* the GA_HELD the freer frees first share a page (48 blocks span at most two; the larger share
       holds 24 or more), so that no slot of its gatherings pushes them out early */
    fa__page_t* first = NULL;
    fa__page_t* second = NULL;
    size_t on_first = 0, on_second = 0;
    for (size_t i = 0; i < GA_N; i++) {
        if (!ga_in_page(ga_blocks[i])) continue;
        fa__page_t* page = fa__ptr_page(ga_blocks[i]);
        if (first == NULL || page == first) { first = page; on_first++; }
        else { second = page; on_second++; }
    }
    fa__page_t* chosen = on_first >= on_second ? first : second;
    ga_held = 0;
    for (size_t i = 0; i < GA_N && ga_held < GA_HELD; i++)
        if (ga_in_page(ga_blocks[i]) && fa__ptr_page(ga_blocks[i]) == chosen) {
            char* t = ga_blocks[ga_held]; ga_blocks[ga_held] = ga_blocks[i]; ga_blocks[i] = t;
            ga_held++;
        }
#if !FA__GUARD_SAMPLING
    CHECK_EQ_SZ(ga_held, GA_HELD);   /* only sampling takes blocks out of pages */
#endif
    CHECK_EQ_SZ(ga_live(NULL), base + GA_N);
    pthread_t t;
    ga_phase = 0;
    pthread_create(&t, NULL, ga_freer, NULL);
    ga_go(1);
    ga_wait(2);
    CHECK_EQ_SZ(ga_live(NULL), base + GA_N);            /* gathered, not yet pushed */
    ga_go(3);
    ga_wait(4);
    CHECK_EQ_SZ(ga_live(NULL), base + GA_N - ga_held);  /* fa_collect on the freer pushed them */
    fa_heap_t* h = fa_heap_new();
    CHECK(h != NULL);
    for (size_t i = 0; i < GA_N && h != NULL; i++) ga_fc_blocks[i] = (char*)fa_heap_malloc(h, 64);
    CHECK_EQ_SZ(ga_live(h), GA_N);
    ga_go(5);
    ga_wait(6);
    CHECK_EQ_SZ(ga_live(h), 0);                         /* nothing held back for a first-class heap */
    fa_heap_destroy(h);                                 /* right after: the freer must not touch it */
    for (size_t c = 0; c < GA_MANY; c++)
        for (size_t k = 0; k < 4; k++) {
            size_t size = 16 + 24 * c;
            ga_many[c][k] = (char*)fa_malloc(size);
            harness_fill(ga_many[c][k], size, 1000 + 4 * c + k);
        }
    ga_go(7);
    pthread_join(t, NULL);
    size_t bad = 0;
    for (size_t c = 0; c < GA_MANY; c++) {
        size_t size = 16 + 24 * c;
        if (harness_verify(ga_many[c][3], size, 1000 + 4 * c + 3) != HARNESS_OK) bad++;
        fa_free(ga_many[c][3]);
    }
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(ga_live(NULL), base);                   /* the freer's exit pushed the rest */
    CHECK(fa_heap_check(NULL));
    for (size_t i = 0; i < GA_N; i++) {                 /* the freed blocks serve again */
        ga_blocks[i] = (char*)fa_malloc(64);
        CHECK(ga_blocks[i] != NULL);
    }
    CHECK_EQ_SZ(ga_live(NULL), base + GA_N);
    for (size_t i = 0; i < GA_N; i++) fa_free(ga_blocks[i]);
    CHECK_EQ_SZ(ga_live(NULL), base);
}

/* A gathering whose page fills up before it goes out: the chain is handed to the owning heap
   (delayed free), which takes it in at its next heartbeat or walk. */
enum { GF_N = 2048, GF_HELD = 12 };
static char* gf_blocks[GF_N];

static void* gf_freer(void* arg) {
    (void)arg;
    ga_wait(11);
    for (size_t i = 0; i < GF_HELD; i++) fa_free(gf_blocks[i]);   /* gathered: the page is not full */
    ga_go(12);
    ga_wait(13);
    fa_collect(false);                                             /* the page is full by now */
    ga_go(14);
    ga_wait(15);
    return NULL;
}

static void test_gathered_into_full_page(void) {
    harness_section("gathered frees into a page that filled up");
    size_t base = ga_live(NULL);
    pthread_t t;
    ga_phase = 10;
    pthread_create(&t, NULL, gf_freer, NULL);
    for (size_t i = 0; i < GF_HELD; i++) gf_blocks[i] = (char*)fa_malloc(64);
    size_t sampled = 0;   /* FASTALLOC_GUARD_SAMPLE: freed at once, not gathered */
    for (size_t i = 0; i < GF_HELD; i++) sampled += !ga_in_page(gf_blocks[i]);
    ga_go(11);
    ga_wait(12);
    for (size_t i = GF_HELD; i < GF_N; i++) {   /* fills the first page, and more */
        gf_blocks[i] = (char*)fa_malloc(64);
        harness_fill(gf_blocks[i], 64, 3000 + i);
    }
    CHECK_EQ_SZ(ga_live(NULL), base + GF_N - sampled);
    ga_go(13);
    ga_wait(14);
    CHECK_EQ_SZ(ga_live(NULL), base + GF_N - GF_HELD);   /* handed over, taken in by the walk */
    CHECK(fa_heap_check(NULL));
    ga_go(15);
    pthread_join(t, NULL);
    size_t bad = 0;
    for (size_t i = GF_HELD; i < GF_N; i++) {
        if (harness_verify(gf_blocks[i], 64, 3000 + i) != HARNESS_OK) bad++;
        fa_free(gf_blocks[i]);
    }
    CHECK_EQ_SZ(bad, 0);
    CHECK_EQ_SZ(ga_live(NULL), base);
    CHECK(fa_heap_check(NULL));
}

/* ==== 11. fork while another thread holds blocks ========================================= */
#if HARNESS_HAVE_FORK
#define FK_BLOCKS 96
static char* fk_blocks[FK_BLOCKS];   /* the held thread's, 48 bytes each */
static uintptr_t fk_key;             /* its fa__thread_key */
static int fk_phase;
/* A block of the holder's with a region heap made inside it: the region's dispatch records then
   cover the block's page-map entries, and keep them to put back when the region goes. 320 KiB is
   a large block (a page of its own: 5 slices with the default 64 KiB), so no entry of that page is
   left uncovered and the child finds the page only through the region. */
#define FK_BIG (320 * KiB)
static char* fk_big;
static fa__page_t* fk_big_page;      /* its page, found before the region covered it */
static fa_heap_t* fk_region_heap;

static void* fk_holder(void* arg) {
    (void)arg;
    for (size_t i = 0; i < FK_BLOCKS; i++) {
        fk_blocks[i] = (char*)fa_malloc(48);
        harness_fill(fk_blocks[i], 48, 7000 + i);
    }
    fk_key = fa__thread_key();   /* after its first malloc: a key that is an id comes with the heap */
    fk_big = (char*)fa_malloc(FK_BIG);
    fk_big_page = ga_in_page(fk_big) ? fa__ptr_page(fk_big) : NULL;
    fk_region_heap = fa_heap_new_in_region(fk_big, FK_BIG);
    __atomic_store_n(&fk_phase, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&fk_phase, __ATOMIC_ACQUIRE) != 2) sched_yield();   /* alive across the fork */
    if (fk_region_heap != NULL) fa_heap_destroy(fk_region_heap);
    fa_free(fk_big);
    return NULL;
}

#ifndef FA__TSAN
/* In the child: a thread that frees a share of the lost thread's blocks (checked first) and
   allocates and frees its own; reports the failures it saw, and whether it got the lost key. */
typedef struct { size_t first, bad; bool same_key; } fk_child_job_t;
static void* fk_child_thread(void* arg) {
    fk_child_job_t* job = (fk_child_job_t*)arg;
    job->same_key = fa__thread_key() == fk_key;
    for (size_t i = job->first; i < FK_BLOCKS; i += 4) {
        if (harness_verify(fk_blocks[i], 48, 7000 + i) != HARNESS_OK) job->bad++;
        fa_free(fk_blocks[i]);
    }
    char* mine[64];
    for (size_t i = 0; i < 64; i++) { mine[i] = (char*)fa_malloc(48); harness_fill(mine[i], 48, 9000 + i); }
    for (size_t i = 0; i < 64; i++) {
        if (harness_verify(mine[i], 48, 9000 + i) != HARNESS_OK) job->bad++;
        fa_free(mine[i]);
    }
    return NULL;
}
#endif

/* The child's checks, as an exit code: the count of failures (0: all held). `start_threads`: false
   where threads cannot start in the child (see test_fork_keys). */
static int fk_child(char* main_block, bool start_threads) {
    int failures = 0;
    for (size_t i = 0; i < FK_BLOCKS; i++) {
        if (!ga_in_page(fk_blocks[i])) continue;   /* sampled onto a guard page: no page key */
        uintptr_t tag = *fa__ptr_owner(fk_blocks[i]) & ~FA__SPAN_OWNER;
        /* a new thread could get the key and take its pages for its own (keys that are ids from a
           counter, FA__TP_KEY 0, never come back, so their pages keep them) */
        if (FA__TP_KEY && tag == fk_key) failures++;
    }
    if (ga_in_page(main_block) && (*fa__ptr_owner(main_block) & ~FA__SPAN_OWNER) != fa__thread_key()) failures++;
    /* the page under the region: its entries are the region's now, and come back when it goes */
    if (FA__TP_KEY && fk_big_page != NULL && (fk_big_page->xowner & ~FA__SPAN_OWNER) == fk_key) failures++;
#ifndef FA__TSAN   /* ThreadSanitizer does not start threads in a multi-threaded process's child */
    if (start_threads) {
        fk_child_job_t jobs[4];
        bool reused = false;
        for (size_t k = 0; k < 4; k++) {   /* one after the other: each may get a stack the lost thread left */
            pthread_t t;
            jobs[k].first = k;
            jobs[k].bad = 0;
            jobs[k].same_key = false;
            if (pthread_create(&t, NULL, fk_child_thread, &jobs[k]) != 0) return failures + 1;
            pthread_join(t, NULL);
            failures += (int)jobs[k].bad;
            reused = reused || jobs[k].same_key;
        }
        printf("fork child: a new thread %s the lost thread's thread pointer\n", reused ? "got" : "did not get");
        fflush(stdout);
    }
#else
    (void)start_threads;
#endif
    if (harness_verify(main_block, 48, 6999) != HARNESS_OK) failures++;
    fa_free(main_block);
    if (!fa_heap_check(NULL)) failures++;
    return failures;
}

static void test_fork_keys(void) {
    harness_section("fork while another thread holds blocks");
    char* main_block = (char*)fa_malloc(48);
    harness_fill(main_block, 48, 6999);
    CHECK(ga_in_page(main_block) == false || (*fa__ptr_owner(main_block) & ~FA__SPAN_OWNER) == fa__thread_key());
    fk_phase = 0;
    pthread_t holder;
    if (pthread_create(&holder, NULL, fk_holder, NULL) != 0) {
        CHECK(!"pthread_create");
        return;
    }
    while (__atomic_load_n(&fk_phase, __ATOMIC_ACQUIRE) != 1) sched_yield();
    /* before the fork the holder's pages carry its key (or FA__NO_OWNER, if one filled up) */
    size_t keyed = 0, unowned = 0, in_pages = 0;
    for (size_t i = 0; i < FK_BLOCKS; i++) {
        if (!ga_in_page(fk_blocks[i])) continue;   /* FASTALLOC_GUARD_SAMPLE=1 samples every block */
        in_pages++;
        uintptr_t tag = *fa__ptr_owner(fk_blocks[i]) & ~FA__SPAN_OWNER;
        keyed += tag == fk_key;
        unowned += tag == FA__NO_OWNER;
    }
    CHECK_EQ_SZ(keyed + unowned, in_pages);
    CHECK(in_pages == 0 || keyed > 0);
    CHECK(fk_region_heap != NULL);
    CHECK(fk_big_page == NULL || (fk_big_page->xowner & ~FA__SPAN_OWNER) == fk_key);
    /* qemu-user (the cross runs: FA_TEST_EXEC_PREFIX names it) aborts when the child of a
       multi-threaded process starts a thread ("cpu == current_cpu") */
    const char* emulator = getenv("FA_TEST_EXEC_PREFIX");
    bool start_threads = emulator == NULL || emulator[0] == '\0';
    if (!start_threads) harness_skip("threads started in the fork's child", "under an emulator");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int failures = fk_child(main_block, start_threads);
        _exit(failures > 100 ? 100 : failures);   /* an exit status keeps 8 bits */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: exited %d, status %d, signal %d",
           (int)WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    __atomic_store_n(&fk_phase, 2, __ATOMIC_RELEASE);
    pthread_join(holder, NULL);
    size_t bad = 0;   /* the parent's copies are untouched by what the child did */
    for (size_t i = 0; i < FK_BLOCKS; i++) {
        if (harness_verify(fk_blocks[i], 48, 7000 + i) != HARNESS_OK) bad++;
        fa_free(fk_blocks[i]);
    }
    CHECK_EQ_SZ(bad, 0);
    fa_free(main_block);
    CHECK(fa_heap_check(NULL));
}
#else
static void test_fork_keys(void) { harness_skip("fork while another thread holds blocks", "no fork() here"); }
#endif

int main(void) {
    test_producer_consumer();
    test_abandon_race();
    test_exited_threads();
    test_exited_memory_returned();
    test_thread_done();
    test_thread_done_exit();
    test_thread_churn();
    test_stress();
    test_gathered_frees();
    test_gathered_into_full_page();
    test_fork_keys();
    return harness_finish();
}
