/* Blocks may be freed by any thread: here workers allocate messages and the main thread frees
   them after the workers have exited; their heaps were abandoned and are reclaimed on demand. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { WORKERS = 4, MESSAGES = 10000 };
static char* inbox[WORKERS][MESSAGES];

static void* worker(void* arg) {
    int id = (int)(size_t)arg;
    for (int i = 0; i < MESSAGES; i++) {
        char* msg = (char*)fa_malloc(32 + (size_t)(i % 200));
        if (msg == NULL) return NULL;
        snprintf(msg, 32, "worker %d message %d", id, i);
        inbox[id][i] = msg;
    }
    return NULL;
}

int main(void) {
    pthread_t threads[WORKERS];
    for (int t = 0; t < WORKERS; t++) pthread_create(&threads[t], NULL, worker, (void*)(size_t)t);
    for (int t = 0; t < WORKERS; t++) pthread_join(threads[t], NULL);
    size_t freed = 0;
    for (int t = 0; t < WORKERS; t++)
        for (int i = 0; i < MESSAGES; i++) { if (inbox[t][i] != NULL) freed++; fa_free(inbox[t][i]); }
    fa_collect(true);
    fa_stats_t stats;
    fa_stats_get(&stats);
    printf("freed %zu messages from exited threads; %zu bytes still mapped\n", freed, stats.mapped_bytes);
    return 0;
}
