/* fork_threads.c — fork() from a process whose other threads allocate all the time.
   Built against the system allocator; run.sh runs it with LD_PRELOAD (and without, to compare).

   Four workers malloc/realloc/free continuously and publish some of their blocks in shared slots.
   Main forks FORKS times while they run. Each child, which has only one thread:
     - checks and frees the published blocks of the workers (threads that do not exist in it),
     - mallocs, reallocs, callocs and frees a few thousand blocks of its own and checks them,
     - starts a thread that allocates and frees, and joins it,
   then _exit(0), or _exit with the number of the step that failed. The parent checks every exit
   status. A deadlock in the allocator's fork handling shows as run.sh's timeout. */
#include "preload_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS   4
#ifndef FORKS                     /* -DFORKS=...: tests/preload/tools.sh runs it smaller under valgrind */
#define FORKS     50
#endif
#define PUBLISHED 64                  /* slots per worker visible to a child */

typedef struct { _Atomic(unsigned char*) p; _Atomic size_t size; _Atomic uint64_t tag; } pub_t;

static pub_t published[WORKERS][PUBLISHED];
static atomic_int stop;
static atomic_ulong worker_errors;

/* A slot is written as: size and tag first, then the pointer (release); it is cleared (pointer
   set to NULL) before the block is freed. So in a child's snapshot a non-NULL pointer is a whole,
   live block. */
static void* worker(void* arg) {
    int id = (int)(intptr_t)arg;
    uint64_t rng = 0xA5A5A5A5ULL + (uint64_t)id * 0x1000193ULL;
    unsigned char* own[256] = { 0 };
    size_t own_size[256] = { 0 };
    uint64_t tag = (uint64_t)id << 48;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = pl_rand(&rng);
        int i = (int)(r % 256);
        size_t size = 1 + (r >> 16) % ((r >> 60) ? 512 : 40000);
        if (own[i]) {
            if (!pl_check(own[i], own_size[i], (uint64_t)i)) atomic_fetch_add(&worker_errors, 1);
            if ((r >> 8) % 4 == 0) {
                unsigned char* q = realloc(own[i], size);
                if (q == NULL) { atomic_fetch_add(&worker_errors, 1); continue; }
                pl_fill(q, size, (uint64_t)i);
                own[i] = q; own_size[i] = size;
                continue;
            }
            free(own[i]);
            own[i] = NULL;
        } else {
            own[i] = malloc(size);
            if (own[i] == NULL) { atomic_fetch_add(&worker_errors, 1); continue; }
            pl_fill(own[i], size, (uint64_t)i);
            own_size[i] = size;
        }
        pub_t* s = &published[id][(r >> 24) % PUBLISHED];
        unsigned char* old = atomic_exchange(&s->p, NULL);
        if (old) {
            if (!pl_check(old, atomic_load(&s->size), atomic_load(&s->tag))) atomic_fetch_add(&worker_errors, 1);
            free(old);
        }
        size_t psize = 1 + (r >> 32) % 3000;
        unsigned char* np = malloc(psize);
        if (np == NULL) { atomic_fetch_add(&worker_errors, 1); continue; }
        pl_fill(np, psize, ++tag);
        atomic_store(&s->size, psize);
        atomic_store(&s->tag, tag);
        atomic_store(&s->p, np);
    }
    for (int i = 0; i < 256; i++) free(own[i]);
    for (int k = 0; k < PUBLISHED; k++) free(atomic_exchange(&published[id][k].p, NULL));
    return NULL;
}

static void* child_thread(void* arg) {
    uintptr_t* result = arg;
    uintptr_t ok = 1;
    for (int round = 0; round < 200; round++) {
        unsigned char* p = malloc(64 + (size_t)round * 13);
        if (p == NULL) { ok = 0; break; }
        pl_fill(p, 64 + (size_t)round * 13, (uint64_t)round);
        if (!pl_check(p, 64 + (size_t)round * 13, (uint64_t)round)) ok = 0;
        free(p);
    }
    *result = ok;
    return NULL;
}

/* The child's work; returns 0 on success, else the number of the failed step. */
static int child_main(unsigned seed) {
    /* 1. blocks published by threads that do not exist here */
    for (int w = 0; w < WORKERS; w++)
        for (int k = 0; k < PUBLISHED; k++) {
            unsigned char* p = atomic_load(&published[w][k].p);
            if (p == NULL) continue;
            if (!pl_check(p, atomic_load(&published[w][k].size), atomic_load(&published[w][k].tag))) return 1;
            atomic_store(&published[w][k].p, NULL);
            free(p);
        }
    /* 2. a few thousand blocks of our own */
    enum { N = 3000 };
    unsigned char** v = malloc(N * sizeof *v);
    size_t* sz = calloc(N, sizeof *sz);
    if (v == NULL || sz == NULL) return 2;
    uint64_t rng = 0x12345ULL + seed;
    for (int i = 0; i < N; i++) {
        sz[i] = 1 + pl_rand(&rng) % 2000;
        v[i] = (i % 5 == 0) ? calloc(sz[i], 1) : malloc(sz[i]);
        if (v[i] == NULL) return 3;
        if (i % 5 == 0)
            for (size_t j = 0; j < sz[i]; j++) if (v[i][j] != 0) return 4;
        pl_fill(v[i], sz[i], (uint64_t)i);
    }
    for (int i = 0; i < N; i += 2) {           /* grow or shrink half of them */
        size_t ns = 1 + pl_rand(&rng) % 6000;
        unsigned char* q = realloc(v[i], ns);
        if (q == NULL) return 5;
        if (!pl_check(q, ns < sz[i] ? ns : sz[i], (uint64_t)i)) return 6;
        pl_fill(q, ns, (uint64_t)i);
        v[i] = q; sz[i] = ns;
    }
    for (int i = 0; i < N; i++) {
        if (!pl_check(v[i], sz[i], (uint64_t)i)) return 7;
        free(v[i]);
    }
    free(v);
    free(sz);
    /* 3. a thread of the child allocates too */
    pthread_t t;
    uintptr_t ok = 0;
    if (pthread_create(&t, NULL, child_thread, &ok) != 0) return 8;
    pthread_join(t, NULL);
    if (!ok) return 9;
    return 0;
}

int main(void) {
    pl_report_allocator();
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&th[i], NULL, worker, (void*)(intptr_t)i) != 0) { perror("pthread_create"); return 2; }
    usleep(20000);                              /* let the workers fill their slots */

    int ok = 0, failed = 0;
    for (int f = 0; f < FORKS; f++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); failed++; continue; }
        if (pid == 0) _exit(child_main((unsigned)f));
        /* the parent keeps allocating while the child runs */
        unsigned char* p = malloc(1000 + (size_t)f);
        if (p) { pl_fill(p, 1000 + (size_t)f, 5); if (!pl_check(p, 1000 + (size_t)f, 5)) failed++; free(p); }
        int status;
        if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); failed++; continue; }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
        else {
            failed++;
            if (WIFEXITED(status)) fprintf(stderr, "fork %d: child failed at step %d\n", f, WEXITSTATUS(status));
            else fprintf(stderr, "fork %d: child killed by signal %d\n", f, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);
    unsigned long werr = (unsigned long)atomic_load(&worker_errors);
    printf("fork_threads: forks=%d ok=%d failed=%d worker_errors=%lu\n", FORKS, ok, failed, werr);
    printf("fork_threads: %s\n", ok == FORKS && failed == 0 && werr == 0 ? "PASS" : "FAIL");
    return ok == FORKS && failed == 0 && werr == 0 ? 0 : 1;
}
