/* bench/common.h -- shared scaffolding of the bench/w_*.c workload programs.
 *
 * One source, several builds (see the Makefile's bench section):
 *   PROG_fa          -DBENCH_FASTALLOC: fastalloc compiled into the program, fa_* calls
 *   PROG_fa_retire0  same with -DFASTALLOC_RETIRE_CYCLES=0   (ablation: no retire hysteresis)
 *   PROG_fa_notrack  same with -DFASTALLOC_ZERO_TRACKING=0   (ablation: no zero tracking)
 *   PROG_sys         malloc/free of the system; mimalloc, jemalloc and tcmalloc are LD_PRELOADed
 *                    into this very binary, so all peers run the same machine code.
 *
 * Every program is a table of named workloads with a default N:
 *   PROG list             prints "NAME DEFAULT_N" lines
 *   PROG NAME [N|-]       runs one; N = 0 is allowed (the baseline of bench/suite_instr.sh)
 * stdout: one line "checksum <16 hex digits>", a function of the workload and N only (never of
 * addresses or thread timing), so it must be the same for every allocator. Blocks are tagged
 * when written and checked before they are freed; a mismatch exits with status 3, an allocation
 * failure with status 1. Extra measurements (RSS) go to stderr as "NAME: VALUE" lines.
 *
 * rezalloc: the system allocators have no rezalloc (realloc whose growth reads zero). B_REZALLOC
 * emulates it as realloc followed by memset of [old size, new size) when growing, with the old
 * requested size supplied by the caller (who must track it anyway). That is the cheapest correct
 * emulation: it clears exactly the growth and nothing else. fastalloc ignores the old size.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BENCH_FASTALLOC
#  define FASTALLOC_IMPLEMENTATION
#  include "fastalloc.h"
#  define B_MALLOC(n)              fa_malloc(n)
#  define B_CALLOC(c, n)           fa_calloc((c), (n))
#  define B_REALLOC(p, n)          fa_realloc((p), (n))
#  define B_REZALLOC(p, old, n)    ((void)(old), fa_rezalloc((p), (n)))
#  define B_FREE(p)                fa_free(p)
#  define B_NAME                   "fastalloc"
#else
#  define B_MALLOC(n)              malloc(n)
#  define B_CALLOC(c, n)           calloc((c), (n))
#  define B_REALLOC(p, n)          realloc((p), (n))
#  define B_REZALLOC(p, old, n)    bench_rezalloc_emul((p), (old), (n))
#  define B_FREE(p)                free(p)
#  define B_NAME                   "system"
static inline void *bench_rezalloc_emul(void *p, size_t old, size_t n)
{
    unsigned char *q = realloc(p, n);
    if (q && n > old)
        memset(q + old, 0, n - old);
    return q;
}
#endif

/* The compiler must assume p escapes and all memory may be read or written here: it can neither
   drop an allocation nor keep a written value in a register across it. Costs no instruction. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static const char *bench_prog = "bench";

static inline void die_oom(size_t size)
{
    fprintf(stderr, "%s(%s): allocation of %zu bytes failed\n", bench_prog, B_NAME, size);
    exit(1);
}

static inline void die_corrupt(const char *what, uint64_t index)
{
    fprintf(stderr, "%s(%s): %s: block %" PRIu64 " corrupted or overlapping\n", bench_prog,
            B_NAME, what, index);
    exit(3);
}

static inline void *xmalloc(size_t n)
{
    void *p = B_MALLOC(n);
    if (!p)
        die_oom(n);
    return p;
}

static inline void *xcalloc(size_t c, size_t n)
{
    void *p = B_CALLOC(c, n);
    if (!p)
        die_oom(c * n);
    return p;
}

static inline void *xrealloc(void *p, size_t n)
{
    void *q = B_REALLOC(p, n);
    if (!q)
        die_oom(n);
    return q;
}

/* xorshift64* with a per-stream seed (splitmix64 of the stream number). */
typedef struct { uint64_t s; } rng_t;

static inline rng_t rng_seed(uint64_t stream)
{
    uint64_t z = stream * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    rng_t r = { z ? z : 1 };
    return r;
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n) (n < 2^32; the tiny modulo bias does not matter here). */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Size in [lo, hi], skewed towards lo: the product of two uniform draws. */
static inline size_t rng_size_skewed(rng_t *r, size_t lo, size_t hi)
{
    uint64_t x = rng_next(r);
    uint64_t a = x & 0xffff, b = (x >> 16) & 0xffff;
    return lo + (size_t)((a * b * (uint64_t)(hi - lo)) >> 32);
}

/* Tags at both ends of a block (plus an 8-byte word when it fits) catch overlaps. */
static inline void tag_block(void *vp, size_t size, uint64_t tag)
{
    unsigned char *p = vp;
    if (size >= 16) {
        memcpy(p, &tag, 8);
        p[size - 1] = (unsigned char)(tag ^ 0x5a);
    } else {
        p[0] = (unsigned char)tag;
        p[size - 1] = (unsigned char)(tag ^ 0x5a);
    }
}

static inline void check_block(const void *vp, size_t size, uint64_t tag, const char *what,
                               uint64_t index)
{
    const unsigned char *p = vp;
    if (size >= 16) {
        uint64_t t;
        memcpy(&t, p, 8);
        if (t != tag || p[size - 1] != (unsigned char)(tag ^ 0x5a))
            die_corrupt(what, index);
    } else if (p[0] != (unsigned char)tag || p[size - 1] != (unsigned char)(tag ^ 0x5a)) {
        die_corrupt(what, index);
    }
}

/* Order-dependent checksum step. */
static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

/* Resident set size now, in KiB (from /proc/self/statm); 0 when unavailable. */
static inline long rss_kib(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- threads -------------------------------------------------------------------------------- */
static inline void run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
    pthread_t t[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * arg_size) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", bench_prog);
            exit(1);
        }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* Single-producer single-consumer ring of pointers. Each side caches the other's index and
   spins with sched_yield (the machine may have fewer cores than threads). */
#define RING_CAP 4096u
typedef struct {
    _Alignas(64) _Atomic uint64_t head;   /* written by the producer */
    _Alignas(64) _Atomic uint64_t tail;   /* written by the consumer */
    _Alignas(64) void *slot[RING_CAP];
} ring_t;

static inline void ring_push(ring_t *r, void *p, uint64_t *head, uint64_t *tail_seen)
{
    while (*head - *tail_seen >= RING_CAP) {
        *tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (*head - *tail_seen >= RING_CAP)
            sched_yield();
    }
    r->slot[*head % RING_CAP] = p;
    atomic_store_explicit(&r->head, ++*head, memory_order_release);
}

static inline void *ring_pop(ring_t *r, uint64_t *tail, uint64_t *head_seen)
{
    while (*tail == *head_seen) {
        *head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (*tail == *head_seen)
            sched_yield();
    }
    void *p = r->slot[*tail % RING_CAP];
    atomic_store_explicit(&r->tail, ++*tail, memory_order_release);
    return p;
}

/* ---- workload table and main ---------------------------------------------------------------- */
typedef struct {
    const char *name;
    uint64_t (*run)(uint64_t n, long arg);
    long arg;            /* size, thread count, ... (workload-specific) */
    uint64_t def_n;      /* default N: ~0.1-0.5 s with glibc on a 2-core reference machine */
    const char *doc;
} workload_t;

static int bench_main(int argc, char **argv, const workload_t *w, size_t nw)
{
    const char *slash = strrchr(argv[0], '/');
    bench_prog = slash ? slash + 1 : argv[0];
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < nw; i++)
            printf("%s %" PRIu64 "\n", w[i].name, w[i].def_n);
        return 0;
    }
    if (argc >= 2 && argc <= 3) {
        for (size_t i = 0; i < nw; i++) {
            if (strcmp(argv[1], w[i].name) != 0)
                continue;
            uint64_t n = w[i].def_n;
            if (argc == 3 && strcmp(argv[2], "-") != 0) {
                char *end;
                if (argv[2][0] < '0' || argv[2][0] > '9')
                    goto usage;
                n = strtoull(argv[2], &end, 10);
                if (*end)
                    goto usage;
            }
            uint64_t sum = w[i].run(n, w[i].arg);
            printf("checksum %016" PRIx64 "\n", sum);
            return fflush(stdout) == 0 ? 0 : 1;
        }
    }
usage:
    fprintf(stderr, "usage: %s list | %s WORKLOAD [N|-]   (allocator: %s)\nworkloads:\n",
            bench_prog, bench_prog, B_NAME);
    for (size_t i = 0; i < nw; i++)
        fprintf(stderr, "  %-16s N=%-10" PRIu64 " %s\n", w[i].name, w[i].def_n, w[i].doc);
    return 2;
}

#define BENCH_MAIN(table) \
    int main(int argc, char **argv) \
    { return bench_main(argc, argv, table, sizeof(table) / sizeof((table)[0])); }

#endif /* BENCH_COMMON_H */
