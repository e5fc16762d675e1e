#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

/* test_oom.c — exhausted memory. The address space is capped with RLIMIT_AS so the OS refuses new
   mappings; every allocation function must then fail with NULL + ENOMEM (no crash), a failed
   realloc must leave its block intact, live blocks keep their content, and after freeing the
   allocator works again. Sanitizer builds reserve huge shadow regions and cannot run under an
   address-space cap, so there only the recovery-free part (allocate, verify, free) runs; so does
   valgrind, whose own memory the cap would limit. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FA_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define FA_TEST_SANITIZED 1
#endif
#endif
#ifndef FA_TEST_SANITIZED
#define FA_TEST_SANITIZED 0
#endif

/* Current virtual size of the process in bytes, or 0 when unknown. */
static size_t vm_size(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long pages = 0;
    int ok = fscanf(f, "%lu", &pages) == 1;
    fclose(f);
    long psz = sysconf(_SC_PAGESIZE);
    return ok && psz > 0 ? (size_t)pages * (size_t)psz : 0;
}

typedef struct { char* p; size_t n; uint64_t seed; } blk_t;

enum { MAXB = 1 << 20 };

static void test_exhaustion(void) {
    harness_section("exhaustion");
    /* warm up: the heap of this thread exists before the cap */
    void* warm = fa_malloc(100);
    CHECK(warm != NULL);

    size_t vsz = vm_size();
    CHECK(vsz > 0);
    if (vsz == 0) return;
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_AS, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(vsz + 192 * MiB);
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);

    blk_t* v = (blk_t*)calloc(MAXB, sizeof(blk_t));
    if (!v) { CHECK(v != NULL); return; }
    size_t n = 0;
    int last_errno = 0;
    /* fill with medium blocks until the OS says no */
    while (n < MAXB) {
        size_t sz = 1000 + (n % 7) * 3000;
        errno = 0;
        char* p = (char*)fa_malloc(sz);
        if (!p) { last_errno = errno; break; }
        v[n].p = p; v[n].n = sz; v[n].seed = n + 1;
        harness_fill_sparse(p, sz, n + 1);
        n++;
    }
    CHECKF(n < MAXB, "never ran out of memory (%zu blocks)", n);
    CHECKF(last_errno == ENOMEM, "allocation failed with errno %d, want ENOMEM", last_errno);
    CHECK(n > 1000); /* the cap left room for a fair number of blocks */

    /* with the address space full, every kind of request that needs new memory fails cleanly */
    void* p;
    errno = 0; p = fa_malloc(64 * MiB);            CHECK_NULL_ERRNO(p, ENOMEM);
    errno = 0; p = fa_zalloc(64 * MiB);            CHECK_NULL_ERRNO(p, ENOMEM);
    errno = 0; p = fa_calloc(64, MiB);             CHECK_NULL_ERRNO(p, ENOMEM);
    errno = 0; p = fa_malloc_aligned(MiB, 32 * MiB); CHECK_NULL_ERRNO(p, ENOMEM);
    errno = 0; p = fa_zalloc_aligned(40 * MiB, 64); CHECK_NULL_ERRNO(p, ENOMEM);
    errno = 0; p = fa_realloc(NULL, 64 * MiB);     CHECK_NULL_ERRNO(p, ENOMEM);
    if (n > 0) {
        blk_t* b = &v[n / 2];
        errno = 0;
        void* q = fa_realloc(b->p, 256 * MiB);
        CHECK_NULL_ERRNO(q, ENOMEM);
        CHECK(harness_verify_sparse(b->p, b->n, b->seed) == HARNESS_OK);
        void* z = fa_zalloc(0); /* may itself fail with the space full; then rezalloc(NULL, ..) */
        errno = 0;
        q = fa_rezalloc(z, 256 * MiB);
        CHECK_NULL_ERRNO(q, ENOMEM);
        fa_free(z);
    }
    /* small requests until they fail too: each failure is NULL + ENOMEM */
    size_t small_ok = 0, bad_errno = 0;
    for (int i = 0; i < 100000; i++) {
        errno = 0;
        void* s = fa_malloc(48);
        if (!s) { if (errno != ENOMEM) bad_errno++; break; }
        if (n < MAXB) { v[n].p = (char*)s; v[n].n = 48; v[n].seed = n + 1; harness_fill(s, 48, n + 1); n++; }
        small_ok++;
    }
    CHECK_EQ_SZ(bad_errno, 0);

    /* everything allocated so far is intact */
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (harness_verify_sparse(v[i].p, v[i].n, v[i].seed) != HARNESS_OK) bad++;
    CHECK_EQ_SZ(bad, 0);

    /* free half, and the same kind of allocations succeed again */
    for (size_t i = 0; i < n; i += 2) { fa_free(v[i].p); v[i].p = NULL; }
    fa_collect(true);
    size_t again = 0;
    for (size_t i = 0; i < n / 4; i++) {
        void* r = fa_malloc(1000 + (i % 7) * 3000);
        if (!r) break;
        memset(r, 0x3C, 1000);
        fa_free(r);
        again++;
    }
    CHECKF(again == n / 4, "after freeing half, only %zu of %zu allocations succeeded", again, n / 4);
    for (size_t i = 1; i < n; i += 2) {
        if (harness_verify_sparse(v[i].p, v[i].n, v[i].seed) != HARNESS_OK) bad++;
        fa_free(v[i].p);
    }
    CHECK_EQ_SZ(bad, 0);
    fa_collect(true);

    /* with everything free, a large block fits again under the cap */
    void* big = fa_malloc(64 * MiB);
    CHECK(big != NULL);
    if (big) { memset(big, 1, 64 * MiB); fa_free(big); }
    CHECK(setrlimit(RLIMIT_AS, &old) == 0);
    free(v);
    fa_free(warm);
}

static void test_basic(void) {
    harness_section("basic");
    blk_t b[64];
    for (size_t i = 0; i < 64; i++) {
        b[i].n = i * 1000 + 1;
        b[i].seed = i;
        b[i].p = (char*)fa_malloc(b[i].n);
        if (b[i].p) harness_fill(b[i].p, b[i].n, i);
    }
    size_t bad = 0;
    for (size_t i = 0; i < 64; i++) {
        if (!b[i].p || harness_verify(b[i].p, b[i].n, i) != HARNESS_OK) bad++;
        fa_free(b[i].p);
    }
    CHECK_EQ_SZ(bad, 0);
}

int main(void) {
    test_basic();
    if (harness_under_valgrind())
        harness_skip("exhaustion", "under valgrind, RLIMIT_AS caps valgrind's own address space too");
    else if (!FA_TEST_SANITIZED) test_exhaustion();
    return harness_finish();
}
