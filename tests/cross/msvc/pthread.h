/* pthread.h for the clang-cl (MSVC-mode) test builds: the handful of POSIX thread calls the
   fastalloc test suites use, over Win32 threads, SRW locks and condition variables. mingw-w64
   builds use its winpthreads instead; this is only for tests/cross/run.sh clang-cl. */
#ifndef FA_TEST_MSVC_PTHREAD_H
#define FA_TEST_MSVC_PTHREAD_H

#include <process.h>
#include <stdlib.h>
#include <windows.h>

typedef struct fa_test_thread* pthread_t;
typedef struct { int unused; } pthread_attr_t;
typedef struct { SRWLOCK lock; } pthread_mutex_t;
typedef struct { int unused; } pthread_mutexattr_t;
typedef struct { CONDITION_VARIABLE cv; } pthread_cond_t;
typedef struct { int unused; } pthread_condattr_t;
#define PTHREAD_MUTEX_INITIALIZER {SRWLOCK_INIT}
#define PTHREAD_COND_INITIALIZER {CONDITION_VARIABLE_INIT}

struct fa_test_thread {
    HANDLE handle;
    void* (*start)(void*);
    void* arg;
    void* result;
};

static __declspec(thread) struct fa_test_thread* fa_test_thread_self;

static unsigned __stdcall fa_test_thread_main(void* p) {
    struct fa_test_thread* t = (struct fa_test_thread*)p;
    fa_test_thread_self = t;
    t->result = t->start(t->arg);
    return 0;
}

static __inline int pthread_create(pthread_t* out, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
    (void)attr;
    struct fa_test_thread* t = (struct fa_test_thread*)calloc(1, sizeof *t);
    if (t == NULL) return 11; /* EAGAIN */
    t->start = start;
    t->arg = arg;
    t->handle = (HANDLE)_beginthreadex(NULL, 0, fa_test_thread_main, t, 0, NULL);
    if (t->handle == NULL) { free(t); return 11; }
    *out = t;
    return 0;
}

static __inline int pthread_join(pthread_t t, void** result) {
    if (WaitForSingleObject(t->handle, INFINITE) != WAIT_OBJECT_0) return 22; /* EINVAL */
    CloseHandle(t->handle);
    if (result != NULL) *result = t->result;
    free(t);
    return 0;
}

/* Ends the calling thread (one started by pthread_create) with `result`. */
static __inline void pthread_exit(void* result) {
    if (fa_test_thread_self != NULL) fa_test_thread_self->result = result;
    _endthreadex(0);
}

static __inline int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* a) { (void)a; InitializeSRWLock(&m->lock); return 0; }
static __inline int pthread_mutex_destroy(pthread_mutex_t* m) { (void)m; return 0; }
static __inline int pthread_mutex_lock(pthread_mutex_t* m) { AcquireSRWLockExclusive(&m->lock); return 0; }
static __inline int pthread_mutex_unlock(pthread_mutex_t* m) { ReleaseSRWLockExclusive(&m->lock); return 0; }

static __inline int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* a) { (void)a; InitializeConditionVariable(&c->cv); return 0; }
static __inline int pthread_cond_destroy(pthread_cond_t* c) { (void)c; return 0; }
static __inline int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
    return SleepConditionVariableSRW(&c->cv, &m->lock, INFINITE, 0) ? 0 : 22;
}
static __inline int pthread_cond_signal(pthread_cond_t* c) { WakeConditionVariable(&c->cv); return 0; }
static __inline int pthread_cond_broadcast(pthread_cond_t* c) { WakeAllConditionVariable(&c->cv); return 0; }

/* A reusable barrier: the last of `count` arrivals starts a new generation and wakes the others. */
typedef struct { pthread_mutex_t lock; pthread_cond_t all_here; unsigned count, waiting, generation; } pthread_barrier_t;
typedef struct { int unused; } pthread_barrierattr_t;
#define PTHREAD_BARRIER_SERIAL_THREAD (-1)
static __inline int pthread_barrier_init(pthread_barrier_t* b, const pthread_barrierattr_t* a, unsigned count) {
    (void)a;
    if (count == 0) return 22;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->all_here, NULL);
    b->count = count;
    b->waiting = 0;
    b->generation = 0;
    return 0;
}
static __inline int pthread_barrier_destroy(pthread_barrier_t* b) { (void)b; return 0; }
static __inline int pthread_barrier_wait(pthread_barrier_t* b) {
    pthread_mutex_lock(&b->lock);
    unsigned generation = b->generation;
    int last = ++b->waiting == b->count;
    if (last) {
        b->waiting = 0;
        b->generation++;
        pthread_cond_broadcast(&b->all_here);
    } else {
        while (generation == b->generation) pthread_cond_wait(&b->all_here, &b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return last ? PTHREAD_BARRIER_SERIAL_THREAD : 0;
}

#endif
