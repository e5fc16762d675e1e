/* free_thread.c — threads that only free. Built against the system allocator.
   Phases, in the order they run:
   a. Thread A and thread B run together through a bounded ring: A allocates TRAFFIC blocks, B
      (which never allocates) checks and frees each. Only RING blocks are ever live, so the peak RSS
      must stay far below the bytes that went through: memory freed by a non-allocating thread is
      reused.
   b. A allocates BLOCKS blocks (small to huge) and exits; B checks and frees them all, the owner
      being gone; then main allocates as much again and checks it.
   c. B frees main's blocks while main, alive, allocates and frees more. */
#include "preload_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#ifndef BLOCKS                     /* -DBLOCKS=...: tests/preload/tools.sh runs it smaller under valgrind */
#define BLOCKS  20000
#endif
#ifndef TRAFFIC
#define TRAFFIC 400000
#endif
#define RING    1024
#ifndef RSS_CHECK               /* -DRSS_CHECK=0: under a memory tool, whose shadow memory is resident too */
#define RSS_CHECK 1
#endif

typedef struct { unsigned char* p; size_t size; uint64_t tag; } item_t;

static item_t batch[BLOCKS];
static item_t ring[RING];
static atomic_size_t head, tail;          /* A writes head, B writes tail */
static atomic_int ring_done;
static unsigned long errors;              /* only B and main write it, never at once */
static uint64_t traffic_bytes;

static size_t size_of(uint64_t i) {
    if (i % 1000 == 999) return (size_t)(5u << 20) + i;             /* huge */
    if (i % 50 == 49) return 70000 + (size_t)(i % 9000);             /* large */
    return 1 + (size_t)(i * 2654435761u % 3000);
}

static void* alloc_batch(void* arg) {     /* thread A, phase b; main, phase b */
    (void)arg;
    for (uint64_t i = 0; i < BLOCKS; i++) {
        batch[i].size = size_of(i);
        batch[i].tag = i;
        batch[i].p = malloc(batch[i].size);
        if (batch[i].p) pl_fill(batch[i].p, batch[i].size, i);
    }
    return NULL;
}

static void* free_batch(void* arg) {      /* thread B, phases b and c: no allocation here */
    (void)arg;
    for (int i = 0; i < BLOCKS; i++) {
        if (batch[i].p == NULL || !pl_check(batch[i].p, batch[i].size, batch[i].tag)) errors++;
        free(batch[i].p);
        batch[i].p = NULL;
    }
    return NULL;
}

static void* producer(void* arg) {        /* thread A, phase a */
    (void)arg;
    for (uint64_t i = 0; i < TRAFFIC; i++) {
        while (atomic_load_explicit(&head, memory_order_relaxed) - atomic_load_explicit(&tail, memory_order_acquire) == RING)
            sched_yield();
        size_t h = atomic_load_explicit(&head, memory_order_relaxed);
        item_t* it = &ring[h % RING];
        it->size = i % 1000 == 999 ? size_of(i) / 8 : size_of(i);
        it->tag = i;
        it->p = malloc(it->size);
        if (it->p) pl_fill(it->p, it->size, i);
        traffic_bytes += it->size;
        atomic_store_explicit(&head, h + 1, memory_order_release);
    }
    atomic_store(&ring_done, 1);
    return NULL;
}

static void* consumer(void* arg) {        /* thread B, phase a: only frees */
    (void)arg;
    for (;;) {
        size_t t = atomic_load_explicit(&tail, memory_order_relaxed);
        if (t == atomic_load_explicit(&head, memory_order_acquire)) {
            if (atomic_load(&ring_done) && t == atomic_load(&head)) break;
            sched_yield();
            continue;
        }
        item_t* it = &ring[t % RING];
        if (it->p == NULL || !pl_check(it->p, it->size, it->tag)) errors++;
        free(it->p);
        atomic_store_explicit(&tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void run2(void* (*a)(void*), void* (*b)(void*), int together) {
    pthread_t ta, tb;
    pthread_create(&ta, NULL, a, NULL);
    if (!together) pthread_join(ta, NULL);
    pthread_create(&tb, NULL, b, NULL);
    if (together) pthread_join(ta, NULL);
    pthread_join(tb, NULL);
}

int main(void) {
    pl_report_allocator();
    /* a first, so that the peak RSS is this phase's own */
    run2(producer, consumer, 1);
    unsigned long e2 = errors;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long peak_mib = ru.ru_maxrss / 1024;
    int rss_ok = !RSS_CHECK || (uint64_t)peak_mib * 16 < traffic_bytes >> 20;    /* peak below 1/16 of the traffic */
    /* b */
    run2(alloc_batch, free_batch, 0);
    alloc_batch(NULL);                     /* main reuses what B freed */
    for (int i = 0; i < BLOCKS; i++)
        if (batch[i].p == NULL || !pl_check(batch[i].p, batch[i].size, batch[i].tag)) errors++;
    unsigned long e1 = errors - e2;
    /* c */
    pthread_t tb;
    pthread_create(&tb, NULL, free_batch, NULL);
    unsigned long main_bad = 0;
    for (int round = 0; round < 50; round++) {
        unsigned char* v[100];
        for (int i = 0; i < 100; i++) { v[i] = malloc(100 + (size_t)i * 7); if (v[i]) pl_fill(v[i], 100 + (size_t)i * 7, (uint64_t)i); }
        for (int i = 0; i < 100; i++) { if (!v[i] || !pl_check(v[i], 100 + (size_t)i * 7, (uint64_t)i)) main_bad++; free(v[i]); }
    }
    pthread_join(tb, NULL);
    unsigned long e3 = errors - e2 - e1 + main_bad;
    printf("free_thread: exited_owner_errors=%lu concurrent_errors=%lu live_owner_errors=%lu traffic_mib=%llu rss_bounded=%s\n",
           e1, e2, e3, (unsigned long long)(traffic_bytes >> 20), !RSS_CHECK ? "unjudged" : rss_ok ? "yes" : "no");
    fprintf(stderr, "free_thread: peak RSS %ld MiB for %llu MiB of traffic\n", peak_mib, (unsigned long long)(traffic_bytes >> 20));
    int pass = errors == 0 && main_bad == 0 && rss_ok;
    printf("free_thread: %s\n", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
