/* bench/w_zero.c -- zeroed memory and realloc. See bench/common.h for builds, usage and output.
 * Every zeroing allocation is checked: the bytes the workload looks at must read zero.
 *
 *   calloc-small    batches of 1000 calloc(16..1024 B), recycled; N callocs
 *   calloc-fresh    N calloc(1..256 KiB) all kept live (fresh memory from the OS), first, last
 *                   and every 4096th byte checked and written, then all freed
 *   calloc-medium   calloc(16..512 KiB) recycled through 4 live slots, every 4096th byte (every
 *                   page) checked and written, as a caller using the memory would; N callocs
 *   calloc-large    same with 1..8 MiB
 *   calloc-huge     calloc(1 GiB), 16 bytes 64 MiB apart checked and written, freed; N times
 *   realloc-vector  8-byte elements pushed one at a time into a vector whose capacity doubles by
 *                   realloc (4 elements up to 8 MiB, then a new vector); N pushes
 *   string-append   a string grown by realloc of +1..16 bytes at a time, its bytes appended, up
 *                   to 4 MiB, then a new string; N appends
 *   rezalloc-chain  one block resized N times by rezalloc to log-uniform sizes 16 B..1 MiB; after
 *                   each growth the new bytes are checked zero at 3 places, then the block's ends
 *                   are written. System build: realloc + memset of the growth (see common.h)
 */
#include "common.h"

#define PAGE 4096u

/* Checks that p[i] reads zero at the first byte, the last byte and every 4096th in between, and
   writes a tag at each of those places. Returns a checksum of the tags. */
static uint64_t check_zero_sparse(unsigned char *p, size_t size, uint64_t tag, const char *what,
                                  uint64_t index)
{
    uint64_t s = 0;
    for (size_t i = 0; i < size; i += PAGE) {
        if (p[i] != 0)
            die_corrupt(what, index);
        p[i] = (unsigned char)(tag + i / PAGE);
        s += p[i];
    }
    if (p[size - 1] != 0 && (size - 1) % PAGE != 0)
        die_corrupt(what, index);
    p[size - 1] = (unsigned char)tag;
    return s + p[size - 1];
}

static uint64_t run_calloc_small(uint64_t n, long unused)
{
    enum { B = 1000 };
    static unsigned char *ptr[B];
    static uint32_t sz[B];
    rng_t r = rng_seed(2);
    uint64_t sum = 0, done = 0;
    (void)unused;
    while (done < n) {
        unsigned k = n - done < B ? (unsigned)(n - done) : B;
        for (unsigned i = 0; i < k; i++) {
            size_t size = rng_size_skewed(&r, 16, 1024);
            unsigned char *p = xcalloc(1, size);
            uint64_t w0, w1;
            memcpy(&w0, p, 8);
            memcpy(&w1, p + size - 8, 8);
            if (w0 | w1 | p[size / 2])
                die_corrupt("calloc-small", done + i);
            tag_block(p, size, done + i);
            ptr[i] = p;
            sz[i] = (uint32_t)size;
            sum += size;
        }
        for (unsigned i = 0; i < k; i++) {
            check_block(ptr[i], sz[i], done + i, "calloc-small", done + i);
            B_FREE(ptr[i]);
        }
        done += k;
    }
    return mix(sum, n);
}

static uint64_t run_calloc_fresh(uint64_t n, long unused)
{
    unsigned char **ptr = malloc(sizeof(void *) * (n ? n : 1));   /* harness memory */
    size_t *sz = malloc(sizeof(size_t) * (n ? n : 1));
    rng_t r = rng_seed(3);
    uint64_t sum = 0;
    (void)unused;
    if (!ptr || !sz)
        die_oom(n);
    for (uint64_t i = 0; i < n; i++) {
        sz[i] = rng_size_skewed(&r, 1024, 256 * 1024);
        ptr[i] = xcalloc(1, sz[i]);
        sum += check_zero_sparse(ptr[i], sz[i], i, "calloc-fresh", i);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (ptr[i][sz[i] - 1] != (unsigned char)i)
            die_corrupt("calloc-fresh", i);
        B_FREE(ptr[i]);
    }
    free(ptr);
    free(sz);
    return mix(sum, n);
}

static uint64_t calloc_ring(uint64_t n, size_t lo, size_t hi, int skew, const char *what)
{
    enum { SLOTS = 4 };
    unsigned char *ptr[SLOTS] = { 0 };
    size_t sz[SLOTS] = { 0 };
    rng_t r = rng_seed(4);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned s = (unsigned)(i % SLOTS);
        if (ptr[s]) {
            if (ptr[s][sz[s] - 1] != (unsigned char)(i - SLOTS))
                die_corrupt(what, i);
            B_FREE(ptr[s]);
        }
        sz[s] = skew ? rng_size_skewed(&r, lo, hi) : lo + rng_below(&r, (uint32_t)(hi - lo + 1));
        ptr[s] = xcalloc(1, sz[s]);
        sum += check_zero_sparse(ptr[s], sz[s], i, what, i);
    }
    for (unsigned s = 0; s < SLOTS; s++)
        B_FREE(ptr[s]);
    return mix(sum, n);
}

static uint64_t run_calloc_medium(uint64_t n, long unused)
{
    (void)unused;
    return calloc_ring(n, 16 * 1024, 512 * 1024, 0, "calloc-medium");
}

static uint64_t run_calloc_large(uint64_t n, long unused)
{
    (void)unused;
    return calloc_ring(n, 1024 * 1024, 8 * 1024 * 1024, 0, "calloc-large");
}

static uint64_t run_calloc_huge(uint64_t n, long unused)
{
    const size_t size = (size_t)1 << 30, step = (size_t)64 << 20;
    uint64_t sum = 0;
    (void)unused;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = xcalloc(1024, size / 1024);
        for (size_t off = 0; off < size; off += step) {
            if (p[off] != 0)
                die_corrupt("calloc-huge", i);
            p[off] = (unsigned char)(i + off / step);
            sum += p[off];
        }
        ESCAPE(p);
        B_FREE(p);
    }
    return mix(sum, n);
}

static uint64_t run_realloc_vector(uint64_t n, long unused)
{
    const size_t max_elems = (size_t)1 << 20;   /* 8 MiB */
    uint64_t *v = NULL, sum = 0;
    size_t len = 0, cap = 0;
    (void)unused;
    for (uint64_t i = 0; i < n; i++) {
        if (len == cap) {
            if (cap == max_elems) {
                uint64_t s = 0;
                for (size_t j = 0; j < len; j += 4096)
                    s += v[j];
                if (v[0] != i - len || v[len - 1] != i - 1)
                    die_corrupt("realloc-vector", i);
                sum = mix(sum, s);
                B_FREE(v);
                v = NULL;
                len = cap = 0;
            }
            cap = cap ? cap * 2 : 4;
            v = xrealloc(v, cap * sizeof *v);
            if (len && (v[0] != i - len || v[len - 1] != i - 1))
                die_corrupt("realloc-vector", i);
        }
        v[len++] = i;
    }
    if (len && (v[0] != n - len || v[len - 1] != n - 1))
        die_corrupt("realloc-vector", n);
    B_FREE(v);
    return mix(sum, n);
}

static uint64_t run_string_append(uint64_t n, long unused)
{
    const size_t max_len = (size_t)4 << 20;
    rng_t r = rng_seed(5);
    char *s = NULL;
    size_t len = 0;
    uint64_t sum = 0;
    (void)unused;
    for (uint64_t i = 0; i < n; i++) {
        size_t add = 1 + rng_below(&r, 16);
        if (len + add + 1 > max_len) {
            if (s[0] != 'a' || s[len] != 0)
                die_corrupt("string-append", i);
            sum = mix(sum, len);
            B_FREE(s);
            s = NULL;
            len = 0;
        }
        s = xrealloc(s, len + add + 1);
        if (len && (s[0] != 'a' || s[len - 1] != (char)('a' + (len - 1) % 26)))
            die_corrupt("string-append", i);
        for (size_t j = 0; j < add; j++)
            s[len + j] = (char)('a' + (len + j) % 26);
        len += add;
        s[len] = 0;
    }
    if (s)
        sum = mix(sum, len);
    B_FREE(s);
    return mix(sum, n);
}

static uint64_t run_rezalloc_chain(uint64_t n, long unused)
{
    rng_t r = rng_seed(6);
    size_t cur = 64;
    unsigned char *p = xcalloc(1, cur);
    uint64_t sum = 0;
    (void)unused;
    for (uint64_t i = 0; i < n; i++) {
        /* log-uniform in [16 B, 1 MiB]: 2^(4 + 16 u) */
        uint64_t x = rng_next(&r);
        unsigned e = 4 + (unsigned)(x % 16);
        size_t size = ((size_t)1 << e) + (size_t)((x >> 8) & (((size_t)1 << e) - 1));
        unsigned char *q = B_REZALLOC(p, cur, size);
        if (!q)
            die_oom(size);
        if (q[0] != (unsigned char)(i - 1) && i > 0)
            die_corrupt("rezalloc-chain", i);
        if (size > cur) {
            if (q[cur] | q[cur + (size - cur) / 2] | q[size - 1])
                die_corrupt("rezalloc-chain", i);
        }
        q[0] = (unsigned char)i;
        q[size - 1] = (unsigned char)(i >> 3);
        sum += size;
        p = q;
        cur = size;
    }
    B_FREE(p);
    return mix(sum, n);
}

static const workload_t W[] = {
    { "calloc-small",   run_calloc_small,   0, 5000000, "batches of 1000 calloc(16..1024 B)" },
    { "calloc-fresh",   run_calloc_fresh,   0, 6000,     "calloc(1..256 KiB) kept live" },
    { "calloc-medium",  run_calloc_medium,  0, 8000,    "recycled calloc(16..512 KiB)" },
    { "calloc-large",   run_calloc_large,   0, 200,      "recycled calloc(1..8 MiB)" },
    { "calloc-huge",    run_calloc_huge,    0, 1000,     "calloc(1 GiB), 16 bytes touched" },
    { "realloc-vector", run_realloc_vector, 0, 120000000, "doubling vector of 8 B elements" },
    { "string-append",  run_string_append,  0, 10000000, "realloc +1..16 B to 4 MiB" },
    { "rezalloc-chain", run_rezalloc_chain, 0, 12000,    "rezalloc to 16 B..1 MiB, growth checked" },
};
BENCH_MAIN(W)
