/* examples/jobs/jobs.c: a job system, the engine/server pattern. Worker threads take tasks from a
 * queue; a task uses scratch memory it frees itself and builds its result in fresh memory; the
 * consumer (the main thread) checks each result and frees it: made on one thread, freed on another.
 * The consumer frees even-numbered results as they arrive and keeps the odd ones to the frame's
 * end (a frame's output), then checks them again and lets them go:
 *
 *   jobs free  FRAMES [WORKERS]   every block from malloc (fa_malloc when built with JOBS_FASTALLOC),
 *                                 the kept results freed one by one: any allocator, or preloaded
 *   jobs reset FRAMES [WORKERS]   (JOBS_FASTALLOC) each worker makes its own first-class heap (the
 *                                 thread rule) and its tasks allocate from it; the kept results go
 *                                 when the workers reset their heaps together at the frame boundary
 *
 * The frame boundary in reset mode: the consumer has received every result of the frame and made
 * every free of it (on its own thread, so they have returned) before it bumps `generation` under
 * the queue lock; a worker that sees a new generation resets its heap before it takes another task,
 * and the next frame's tasks are only queued after the bump. So no reset overlaps a free of its
 * frame, and no block of the next frame is made before its heap's reset.
 * Prints a checksum that does not depend on the allocator or the mode; peak RSS on stderr.
 * Build: cc -O2 -pthread -I. [-DJOBS_FASTALLOC] examples/jobs/jobs.c
 */
#ifdef JOBS_FASTALLOC
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#define ALLOC(heap, n) ((heap) != NULL ? fa_heap_malloc((heap), (n)) : fa_malloc(n))
#define FREE(p) fa_free(p)
#else
typedef struct fa_heap_s fa_heap_t;   /* the system build has no heaps, and refuses reset mode */
#define ALLOC(heap, n) ((void)(heap), malloc(n))
#define FREE(p) free(p)
#define fa_heap_new() NULL
#define fa_heap_reset(heap) ((void)(heap))
#define fa_heap_destroy(heap) ((void)(heap))
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { TASKS = 512 };           /* per frame */

typedef struct { unsigned char* data; size_t size; uint64_t seed; int id; } result_t;
typedef struct node { struct node* next; size_t size; } node_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    int frame, queued, taken;   /* tasks [taken, queued) of `frame` wait for a worker */
    result_t results[TASKS];
    int finished, consumed;     /* results [consumed, finished) wait for the consumer */
    unsigned generation;        /* reset mode: bumped when a frame's memory may go */
    bool reset_mode, quit;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {{0}}, 0, 0, 0, false, false };

static uint64_t mix(uint64_t x) {
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15u; x ^= x >> 29; x *= 0xbf58476d1ce4e5b9u;
    return x ^ (x >> 32);
}
/* A result: bytes of (seed & 255), with seed ^ offset stamped every 256 bytes and at its end. */
static void stamp(unsigned char* p, uint64_t v) { memcpy(p, &v, sizeof v); }
static bool stamped(const unsigned char* p, uint64_t v) { return memcmp(p, &v, sizeof v) == 0; }

/* A task: a scratch list of 8..31 nodes (16..255 bytes) freed before it ends, then its result,
   64..2063 bytes, or 64 KiB for one task in 64. */
static result_t run_task(fa_heap_t* heap, int frame, int id) {
    uint64_t h = mix((uint64_t)frame * 100003u + (uint64_t)id);
    node_t* list = NULL;
    for (unsigned i = 0; i < 8 + h % 24; i++) {
        size_t size = 16 + (size_t)((h >> (i % 40)) % 240);
        node_t* n = ALLOC(heap, size);
        if (n == NULL) { fprintf(stderr, "out of memory\n"); exit(1); }
        memset(n, (int)i, size);
        n->next = list;
        n->size = size;
        list = n;
    }
    uint64_t seed = h;
    while (list != NULL) {
        node_t* next = list->next;
        seed += list->size + ((unsigned char*)list)[list->size - 1];
        FREE(list);
        list = next;
    }
    result_t r = { NULL, id % 64 == 63 ? 65536 : 64 + (size_t)(h % 2000), seed, id };
    r.data = ALLOC(heap, r.size);
    if (r.data == NULL) { fprintf(stderr, "out of memory\n"); exit(1); }
    memset(r.data, (int)(seed & 255), r.size);
    for (size_t i = 0; i + 16 <= r.size; i += 256) stamp(r.data + i, seed ^ i);
    stamp(r.data + r.size - 8, seed ^ r.size);
    return r;
}

static void* worker(void* arg) {
    (void)arg;
    fa_heap_t* heap = NULL;
    if (q.reset_mode && (heap = fa_heap_new()) == NULL) { fprintf(stderr, "no heap\n"); exit(1); }
    unsigned generation = 0;
    pthread_mutex_lock(&q.lock);
    for (;;) {
        if (heap != NULL && generation != q.generation) {   /* first: the last frame's memory goes */
            generation = q.generation;
            pthread_mutex_unlock(&q.lock);
            fa_heap_reset(heap);
            pthread_mutex_lock(&q.lock);
            continue;
        }
        if (q.taken < q.queued) {
            int frame = q.frame, id = q.taken++;
            pthread_mutex_unlock(&q.lock);
            result_t r = run_task(heap, frame, id);
            pthread_mutex_lock(&q.lock);
            q.results[q.finished++] = r;
            pthread_cond_signal(&q.done);
            continue;
        }
        if (q.quit) break;
        pthread_cond_wait(&q.work, &q.lock);
    }
    pthread_mutex_unlock(&q.lock);
    if (heap != NULL) fa_heap_destroy(heap);
    return NULL;
}

static bool intact(const result_t* r) {
    for (size_t i = 0; i + 16 <= r->size; i += 256)
        if (!stamped(r->data + i, r->seed ^ i) || (i + 16 < r->size && r->data[i + 8] != (unsigned char)(r->seed & 255)))
            return false;
    return stamped(r->data + r->size - 8, r->seed ^ r->size);
}

int main(int argc, char** argv) {
    if (argc < 3 || (strcmp(argv[1], "free") != 0 && strcmp(argv[1], "reset") != 0)) {
        fprintf(stderr, "usage: %s free|reset FRAMES [WORKERS]\n", argv[0]);
        return 2;
    }
    q.reset_mode = strcmp(argv[1], "reset") == 0;
#ifndef JOBS_FASTALLOC
    if (q.reset_mode) { fprintf(stderr, "reset mode needs the JOBS_FASTALLOC build\n"); return 2; }
#endif
    int frames = atoi(argv[2]), workers = argc > 3 ? atoi(argv[3]) : 2;
    pthread_t threads[64];
    if (workers < 1 || workers > 64) return 2;
    for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, NULL);

    static result_t kept[TASKS];
    uint64_t checksum = 0;
    long bad = 0;
    for (int f = 0; f < frames; f++) {
        pthread_mutex_lock(&q.lock);
        q.frame = f;
        q.taken = q.finished = q.consumed = 0;
        q.queued = TASKS;
        pthread_cond_broadcast(&q.work);
        pthread_mutex_unlock(&q.lock);
        int nkept = 0;
        for (int n = 0; n < TASKS;) {
            pthread_mutex_lock(&q.lock);                  /* every result that is ready, at once */
            while (q.consumed == q.finished) pthread_cond_wait(&q.done, &q.lock);
            int from = q.consumed, to = q.consumed = q.finished;
            pthread_mutex_unlock(&q.lock);
            for (int i = from; i < to; i++, n++) {
                result_t r = q.results[i];                /* written before `finished` moved past it */
                bad += !intact(&r);
                checksum += r.size * 7 + r.data[r.size - 1] + (uint64_t)r.id;
                if (r.id % 2 == 0) FREE(r.data);
                else kept[nkept++] = r;
            }
        }
        for (int i = 0; i < nkept; i++) bad += !intact(&kept[i]);   /* untouched by the frees around them */
        if (!q.reset_mode) {
            for (int i = 0; i < nkept; i++) FREE(kept[i].data);
        } else {
            pthread_mutex_lock(&q.lock);
            q.generation++;
            pthread_cond_broadcast(&q.work);
            pthread_mutex_unlock(&q.lock);
        }
    }
    pthread_mutex_lock(&q.lock);
    q.quit = true;
    pthread_cond_broadcast(&q.work);
    pthread_mutex_unlock(&q.lock);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%d frames of %d tasks, checksum %llu, %ld bad\n", frames, TASKS, (unsigned long long)checksum, bad);
    fprintf(stderr, "peak RSS %ld KiB\n", ru.ru_maxrss);
    return bad != 0;
}
