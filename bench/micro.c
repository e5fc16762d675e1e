/* bench/micro.c -- single-thread allocator micro-benchmarks for fastalloc.
 *
 * One source, two builds:
 *   gcc -O2 -DNDEBUG -I. -DBENCH_FASTALLOC bench/micro.c -o micro_fa  -pthread   (fa_* calls)
 *   gcc -O2 -DNDEBUG                       bench/micro.c -o micro_sys -pthread   (malloc/free)
 * Peer allocators run as `LD_PRELOAD=/path/libX.so ./micro_sys ...`, so glibc, mimalloc,
 * jemalloc and tcmalloc all execute the very same benchmark machine code. (micro_fa is a
 * different binary: its loops are the same source, but fa_malloc/fa_free live in the same
 * translation unit and may be inlined, while micro_sys calls malloc through the PLT.)
 *
 * Usage:  micro WORKLOAD [SIZE] [N]
 *   pingpong  [SIZE] [N]  N times: p = malloc(SIZE); write one byte; free(p)
 *   batch     [SIZE] [N]  allocate batches of 1000 blocks of SIZE (each touched), then free
 *                         the batch newest-first (LIFO), until N mallocs in total
 *   batchfifo [SIZE] [N]  same, but free each batch oldest-first (FIFO)
 *   mix       [N]         pool of 4096 slots; each of N steps frees a random slot (if used)
 *                         and puts a new block of random size 16..1024 (skewed small) in it
 * A missing or "-" SIZE or N means the default (SIZE 0 too); N = 0 is allowed (a baseline).
 *
 * Output: one line "checksum <hex>" on stdout. It depends only on the workload and its
 * arguments, never on addresses, so it must be identical for every allocator. Every touched
 * block carries a tag at its first and last byte which is checked before the block is freed;
 * a mismatch (overlapping or corrupted blocks) is reported on stderr with exit status 3.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BENCH_FASTALLOC
#  define FASTALLOC_IMPLEMENTATION
#  include "fastalloc.h"
#  define B_MALLOC(n)     fa_malloc(n)
#  define B_CALLOC(c, n)  fa_calloc((c), (n))
#  define B_REALLOC(p, n) fa_realloc((p), (n))
#  define B_FREE(p)       fa_free(p)
#  define B_NAME          "fastalloc"
#else
#  define B_MALLOC(n)     malloc(n)
#  define B_CALLOC(c, n)  calloc((c), (n))
#  define B_REALLOC(p, n) realloc((p), (n))
#  define B_FREE(p)       free(p)
#  define B_NAME          "system"
#endif

/* Make the compiler believe p escapes and any memory may be read or written here, so it can
   neither drop a malloc/free pair nor keep a touched byte in a register across it. Costs no
   instruction. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

/* Defaults: each run takes roughly 0.2-0.5 s with glibc 2.36 on the machine they were tuned on. */
#define DEF_SIZE          64u
#define DEF_N_PINGPONG    40000000ull
#define DEF_N_BATCH       20000000ull   /* halved for SIZE > 512 */
#define DEF_N_MIX         20000000ull

#define BATCH      1000u
#define POOL_SLOTS 4096u            /* power of two: a slot is picked by masking */
#define MIX_MIN    16u
#define MIX_SPAN   1008u            /* sizes are MIX_MIN .. MIX_MIN + MIX_SPAN = 16 .. 1024 */

static void die_oom(size_t size)
{
    fprintf(stderr, "micro(%s): allocation of %zu bytes failed\n", B_NAME, size);
    exit(1);
}

static void die_corrupt(const char *where, uint64_t index)
{
    fprintf(stderr, "micro(%s): %s: block %" PRIu64 " lost its tag (overlap or corruption)\n",
            B_NAME, where, index);
    exit(3);
}

/* Tag a block at both ends: the first byte and the last byte. */
static inline void tag_block(unsigned char *p, size_t size, unsigned char tag)
{
    p[0] = tag;
    p[size - 1] = (unsigned char)(tag ^ 0x5a);
}

/* Returns the tag, or dies if either end changed since tag_block. */
static inline unsigned check_block(const unsigned char *p, size_t size, unsigned char tag,
                                   const char *where, uint64_t index)
{
    if (p[0] != tag || p[size - 1] != (unsigned char)(tag ^ 0x5a))
        die_corrupt(where, index);
    return tag;
}

static uint64_t run_pingpong(size_t size, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = B_MALLOC(size);
        if (!p)
            die_oom(size);
        p[0] = (unsigned char)i;
        ESCAPE(p);
        sum += p[0];
        B_FREE(p);
    }
    return sum;
}

static unsigned char *batch_ptr[BATCH];

static uint64_t run_batch(size_t size, uint64_t n, int fifo)
{
    const char *what = fifo ? "batchfifo" : "batch";
    uint64_t sum = 0, done = 0;
    while (done < n) {
        unsigned k = (n - done < BATCH) ? (unsigned)(n - done) : BATCH;
        for (unsigned i = 0; i < k; i++) {
            unsigned char *p = B_MALLOC(size);
            if (!p)
                die_oom(size);
            tag_block(p, size, (unsigned char)(done + i));
            batch_ptr[i] = p;
        }
        ESCAPE(batch_ptr);
        if (fifo) {
            for (unsigned i = 0; i < k; i++) {
                sum += check_block(batch_ptr[i], size, (unsigned char)(done + i), what, done + i);
                B_FREE(batch_ptr[i]);
            }
        } else {
            for (unsigned i = k; i-- > 0;) {
                sum += check_block(batch_ptr[i], size, (unsigned char)(done + i), what, done + i);
                B_FREE(batch_ptr[i]);
            }
        }
        done += k;
    }
    return sum;
}

/* xorshift64* (Marsaglia's xorshift64 with a multiplicative output scramble), fixed seed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static unsigned char *pool_ptr[POOL_SLOTS];
static uint32_t pool_size[POOL_SLOTS];
static unsigned char pool_tag[POOL_SLOTS];

static uint64_t run_mix(uint64_t n)
{
    const uint64_t denom = 1023ull * 1023ull * 1023ull;
    uint64_t sum = 0;
    for (uint64_t step = 0; step < n; step++) {
        uint64_t r = rng_next();
        unsigned slot = (unsigned)(r >> 52) & (POOL_SLOTS - 1);   /* top 12 bits */
        if (pool_ptr[slot]) {
            sum += check_block(pool_ptr[slot], pool_size[slot], pool_tag[slot], "mix", step);
            B_FREE(pool_ptr[slot]);
        }
        /* Product of three uniform 10-bit numbers, scaled to 0..MIX_SPAN: heavily skewed to
           small sizes (mean about 142 B, ~40% of blocks <= 64 B), yet reaching 1024. */
        uint64_t u1 = (r >> 22) & 1023, u2 = (r >> 32) & 1023, u3 = (r >> 42) & 1023;
        size_t size = MIX_MIN + (size_t)(u1 * u2 * u3 * MIX_SPAN / denom);
        unsigned char *p = B_MALLOC(size);
        if (!p)
            die_oom(size);
        tag_block(p, size, (unsigned char)step);
        pool_ptr[slot] = p;
        pool_size[slot] = (uint32_t)size;
        pool_tag[slot] = (unsigned char)step;
        sum += size;
    }
    ESCAPE(pool_ptr);
    for (unsigned slot = 0; slot < POOL_SLOTS; slot++) {
        if (pool_ptr[slot]) {
            sum += check_block(pool_ptr[slot], pool_size[slot], pool_tag[slot], "mix", n);
            B_FREE(pool_ptr[slot]);
            pool_ptr[slot] = NULL;
        }
    }
    return sum;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: micro pingpong|batch|batchfifo [SIZE] [N]\n"
            "       micro mix [N]\n"
            "SIZE defaults to %u. N defaults to %llu (pingpong), %llu (batch, batchfifo;\n"
            "half that for SIZE > 512) and %llu (mix). \"-\" selects the default.\n"
            "Allocator compiled in: %s\n",
            DEF_SIZE, DEF_N_PINGPONG, DEF_N_BATCH, DEF_N_MIX, B_NAME);
    return 2;
}

/* Parses a decimal argument into *out. Returns 0 for garbage, 1 when parsed, 2 when the
   argument is absent or "-" (then *out is untouched). */
static int parse_u64(int argc, char **argv, int i, uint64_t *out)
{
    if (i >= argc || strcmp(argv[i], "-") == 0)
        return 2;
    const char *s = argv[i];
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *w = argv[1];
    uint64_t size = DEF_SIZE, n = 0, sum;

    if (strcmp(w, "mix") == 0) {
        int got = parse_u64(argc, argv, 2, &n);
        if (argc > 3 || got == 0)
            return usage();
        if (got == 2)
            n = DEF_N_MIX;
        sum = run_mix(n);
    } else {
        int kind = strcmp(w, "pingpong") == 0 ? 0 : strcmp(w, "batch") == 0 ? 1
                 : strcmp(w, "batchfifo") == 0 ? 2 : -1;
        if (kind < 0 || argc > 4)
            return usage();
        int got_size = parse_u64(argc, argv, 2, &size);
        int got_n = parse_u64(argc, argv, 3, &n);
        if (got_size == 0 || got_n == 0)
            return usage();
        if (size == 0)
            size = DEF_SIZE;
        if (size > ((uint64_t)1 << 40)) {
            fprintf(stderr, "micro: SIZE too large\n");
            return 2;
        }
        if (got_n == 2)
            n = kind == 0 ? DEF_N_PINGPONG : size > 512 ? DEF_N_BATCH / 2 : DEF_N_BATCH;
        sum = kind == 0 ? run_pingpong((size_t)size, n) : run_batch((size_t)size, n, kind == 2);
    }
    printf("checksum %016" PRIx64 "\n", sum);
    return 0;
}
