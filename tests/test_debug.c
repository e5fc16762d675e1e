#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_debug.c — the FASTALLOC_DEBUG promise: double frees, foreign pointers and free-list
   corruption abort (through FASTALLOC_ASSERT, i.e. SIGABRT). Each misuse runs in a forked child.
   In every build (debug or not) it also runs valid but unusual usage that the debug checks must
   accept: aligned interior pointers, zero-size blocks, blocks freed by another thread, realloc
   chains, blocks surviving fa_thread_done. */

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- valid usage, all builds ------------------------------------------------------------- */

typedef struct { void* p[64]; size_t n[64]; } handoff_t;

static void* free_in_thread(void* arg) {
    handoff_t* h = (handoff_t*)arg;
    size_t bad = 0;
    for (size_t i = 0; i < 64; i++) {
        if (h->p[i] && harness_verify(h->p[i], h->n[i], i) != HARNESS_OK) bad++;
        fa_free(h->p[i]);
    }
    CHECK_EQ_SZ(bad, 0);
    return NULL;
}

static void test_valid_usage(void) {
    harness_section("valid usage");
    /* aligned blocks at many alignments, freed and reallocated */
    size_t nulls = 0, bad = 0;
    for (size_t al = 8; al <= 8 * MiB; al <<= 1) {
        char* p = (char*)fa_malloc_aligned(al / 2 + 1, al);
        if (!p) { nulls++; continue; }
        harness_fill(p, al / 2 + 1, al);
        char* q = (char*)fa_realloc(p, al + 3);
        if (!q) { nulls++; fa_free(p); continue; }
        if (harness_verify(q, al / 2 + 1, al) != HARNESS_OK) bad++;
        fa_free(q);
        p = (char*)fa_zalloc_aligned(100, al);
        if (!p) { nulls++; continue; }
        q = (char*)fa_rezalloc(p, 5000);
        if (!q) { nulls++; fa_free(p); continue; }
        if (harness_first_nonzero(q, 5000) != HARNESS_OK) bad++;
        fa_free(q);
    }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(bad, 0);

    /* zero-size blocks */
    void* z[100];
    for (size_t i = 0; i < 100; i++) z[i] = fa_malloc(0);
    for (size_t i = 0; i < 100; i += 2) fa_free(z[i]);
    for (size_t i = 1; i < 100; i += 2) z[i] = fa_realloc(z[i], i);
    size_t zn = 0;
    for (size_t i = 1; i < 100; i += 2) { if (!z[i]) zn++; fa_free(z[i]); }
    CHECK_EQ_SZ(zn, 0);

    /* blocks freed by another thread, including aligned and huge ones */
    handoff_t h;
    for (size_t i = 0; i < 64; i++) {
        h.n[i] = (i % 16 == 15) ? 5 * MiB + i : (i % 8 == 3) ? 70000 + i : 8 * i + 1;
        h.p[i] = (i % 5 == 0) ? fa_malloc_aligned(h.n[i], (size_t)64 << (i % 10)) : fa_malloc(h.n[i]);
        if (h.p[i]) harness_fill(h.p[i], h.n[i], i);
    }
    pthread_t t;
    pthread_create(&t, NULL, free_in_thread, &h);
    pthread_join(t, NULL);
    fa_collect(true);

    /* the same size class freed and reused many times, in every order */
    void* v[500];
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < 500; i++) v[i] = fa_malloc(48);
        for (size_t i = 0; i < 500; i++) fa_free(v[(i * 7 + (size_t)round) % 500]);
    }
    void* p = fa_malloc(48);
    CHECK(p != NULL);
    fa_free(p);
}

/* ---- misuse, debug builds only ----------------------------------------------------------- */

#ifdef FASTALLOC_DEBUG

static char static_buf[256];

/* Runs fn in a child; returns the signal that ended it, 0 if it exited normally, -1 on error. */
static int run_child(void (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (freopen("/dev/null", "w", stderr) == NULL) _Exit(3);
        fn();
        _Exit(0); /* misuse went unnoticed */
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFSIGNALED(status)) return WTERMSIG(status);
    return 0;
}

static void double_free_small(void) {
    void* p = fa_malloc(32);
    fa_free(p);
    fa_free(p);
}
static void double_free_interleaved(void) {
    void* p = fa_malloc(32);
    void* q = fa_malloc(32);
    fa_free(p);
    fa_free(q);
    fa_free(p);
}
static void double_free_medium(void) {
    void* p = fa_malloc(100000);
    void* keep = fa_malloc(100000); /* keeps the page in use */
    fa_free(p);
    fa_free(p);
    fa_free(keep);
}
static void double_free_large(void) {
    void* p = fa_malloc(MiB);
    void* keep = fa_malloc(MiB);
    fa_free(p);
    fa_free(p);
    fa_free(keep);
}
static void double_free_aligned(void) {
    void* p = fa_malloc_aligned(100, 4096);
    void* keep = fa_malloc_aligned(100, 4096);
    fa_free(p);
    fa_free(p);
    fa_free(keep);
}
static void double_free_after_realloc(void) {
    void* p = fa_malloc(64);
    void* q = fa_realloc(p, 100000); /* moves: p is released */
    fa_free(p);
    fa_free(q);
}
static void double_free_huge(void) {
    void* p = fa_malloc(8 * MiB);
    fa_free(p);
    fa_free(p);
}
static void double_free_after_collect(void) {
    void* p = fa_malloc(32);
    fa_free(p);
    fa_collect(true);
    fa_free(p);
}
static void* free_arg_twice(void* p) { fa_free(p); fa_free(p); return NULL; }
static void* free_arg_once(void* p) { fa_free(p); return NULL; }
static void double_free_remote(void) {
    /* both frees from a thread that does not own the block */
    void* p = fa_malloc(32);
    void* keep = fa_malloc(32);
    pthread_t t;
    pthread_create(&t, NULL, free_arg_twice, p);
    pthread_join(t, NULL);
    fa_free(keep);
    for (int i = 0; i < 100; i++) fa_free(fa_malloc(32));
}
static void double_free_remote_then_owner(void) {
    /* another thread frees it, then the owner frees it again */
    void* p = fa_malloc(32);
    void* keep = fa_malloc(32);
    pthread_t t;
    pthread_create(&t, NULL, free_arg_once, p);
    pthread_join(t, NULL);
    fa_free(p);
    fa_free(keep);
    for (int i = 0; i < 100; i++) fa_free(fa_malloc(32));
}
static void foreign_static(void) { fa_free(static_buf + 64); }
static void foreign_stack(void) {
    char local[64];
    memset(local, 0, sizeof local);
    fa_free(local + 16);
}
static void foreign_libc_small(void) { fa_free(malloc(100)); }
static void foreign_libc_big(void) { fa_free(malloc(8 * MiB)); }
static void corrupt_free_list(void) {
    /* a write after free smashes the freed block's link; the next checked operation on the page
       must notice */
    void* v[16];
    for (int i = 0; i < 16; i++) v[i] = fa_malloc(64);
    fa_free(v[3]);
    fa_free(v[5]);
    memset(v[5], 0xA5, 64);
    fa_free(v[7]);
    for (int i = 0; i < 16; i++) {
        void* p = fa_malloc(64);
        if (p) memset(p, 0, 64);
    }
    fa_collect(true);
}

/* The thread rule of first-class heaps: only the thread that made a heap allocates from it, resets,
   destroys or deletes it. */
static fa_heap_t* g_heap;
static void* heap_malloc_in_thread(void* arg) { (void)arg; void* p = fa_heap_malloc(g_heap, 64); return p; }
static void* heap_destroy_in_thread(void* arg) { (void)arg; fa_heap_destroy(g_heap); return NULL; }
static void heap_used_by_another_thread(void) {
    g_heap = fa_heap_new();
    pthread_t t;
    pthread_create(&t, NULL, heap_malloc_in_thread, NULL);
    pthread_join(t, NULL);
}
static void heap_destroyed_by_another_thread(void) {
    g_heap = fa_heap_new();
    fa_free(fa_heap_malloc(g_heap, 64));
    pthread_t t;
    pthread_create(&t, NULL, heap_destroy_in_thread, NULL);
    pthread_join(t, NULL);
}
static void heap_usable_size_of_other_block(void) {
    fa_heap_t* a = fa_heap_new();
    fa_heap_t* b = fa_heap_new();
    void* p = fa_heap_malloc(a, 100);
    (void)fa_heap_usable_size(b, p);
}

static unsigned char g_region_mem[2 * FA__SEGMENT_SIZE];
static void deleted_region_heap_used(void) {
    unsigned char* at = (unsigned char*)(((uintptr_t)g_region_mem + FA__SEGMENT_MASK) & ~(uintptr_t)FA__SEGMENT_MASK);
    fa_heap_t* h = fa_heap_new_in_region(at, FA__SEGMENT_SIZE);
    fa_free(fa_heap_malloc(h, 64));
    fa_heap_delete(h);
    (void)fa_heap_malloc(h, 64);   /* the handle is gone; its record still lies in the region */
}

static void test_misuse_aborts(void) {
    harness_section("debug misuse");
    struct { const char* name; void (*fn)(void); } cases[] = {
        {"double free small", double_free_small},
        {"double free interleaved", double_free_interleaved},
        {"double free medium", double_free_medium},
        {"double free large", double_free_large},
        {"double free aligned", double_free_aligned},
        {"double free after moving realloc", double_free_after_realloc},
        {"double free huge", double_free_huge},
        {"double free after fa_collect(true)", double_free_after_collect},
        {"double free, both by a non-owner thread", double_free_remote},
        {"double free, non-owner then owner", double_free_remote_then_owner},
        {"foreign static pointer", foreign_static},
        {"foreign stack pointer", foreign_stack},
        {"foreign libc pointer (small)", foreign_libc_small},
        {"foreign libc pointer (mmap)", foreign_libc_big},
        {"corrupted free list", corrupt_free_list},
        {"heap allocated from by another thread", heap_used_by_another_thread},
        {"heap destroyed by another thread", heap_destroyed_by_another_thread},
        {"fa_heap_usable_size with another heap's block", heap_usable_size_of_other_block},
        {"a region heap used after fa_heap_delete", deleted_region_heap_used},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int sig = run_child(cases[i].fn);
        CHECKF(sig == SIGABRT, "%s: child ended with %s %d (want SIGABRT %d)", cases[i].name,
               sig > 0 ? "signal" : "status", sig, SIGABRT);
    }
}

#endif /* FASTALLOC_DEBUG */

int main(void) {
    test_valid_usage();
#ifdef FASTALLOC_DEBUG
    test_misuse_aborts();
#endif
    return harness_finish();
}
