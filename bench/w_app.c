/* bench/w_app.c -- application-shaped single-thread workloads. See bench/common.h for builds,
 * usage and output.
 *
 *   interp          the allocation shape of an interpreter (ruby, python): N objects of 16..256 B,
 *                   mostly 32..64 (65 % 32..64, 15 % 16..31, 15 % 65..128, 5 % 129..256). 1 in 10 is
 *                   a temporary, freed 8 allocations later; the rest are young objects. A
 *                   "minor GC" every 4096 allocations sweeps the young ones in allocation order,
 *                   freeing 80 % at random and promoting the rest to the old generation; every
 *                   64th GC (or when the old generation passes 200000 objects) is a major one that
 *                   frees 30 % of the old objects at random (so 110k..160k objects stay live,
 *                   scattered over the pages). Meanwhile 4 strings grow by realloc of +8..64 bytes
 *                   (one append per 8 allocations) up to 64..1024 bytes each, then become young
 *                   objects.
 *   realloc-grow-1  one buffer grown one byte at a time by realloc, from 1 byte to 64 MiB (its
 *                   contents are checked at the end, then it is freed and a new one starts);
 *                   N bytes appended in total
 *   realloc-grow-4  the same with 4 buffers grown in turn (one byte each), up to 16 MiB each
 *
 * Objects carry a header word (size << 40 | id) and a check byte at their end, checked before they
 * are freed; a grown buffer's previous last byte is checked after every realloc.
 */
#include "common.h"

#define HDR_SHIFT 40
#define HDR_MASK  ((1ull << HDR_SHIFT) - 1)

static inline void obj_tag(unsigned char *p, size_t size, uint64_t id)
{
    uint64_t h = ((uint64_t)size << HDR_SHIFT) | (id & HDR_MASK);
    memcpy(p, &h, 8);
    p[size - 1] = (unsigned char)(h ^ 0x5a);
}

/* Checks and frees; returns the size. */
static inline size_t obj_free(unsigned char *p, const char *what)
{
    uint64_t h;
    memcpy(&h, p, 8);
    size_t size = (size_t)(h >> HDR_SHIFT);
    if (size < 16 || size > 4096 || p[size - 1] != (unsigned char)(h ^ 0x5a))
        die_corrupt(what, h & HDR_MASK);
    B_FREE(p);
    return size;
}

/* ---- interp ---- */
#define GC_EVERY     4096u
#define MAJOR_EVERY  64u
#define OLD_MAX      200000u
#define TEMP_RING    8u
#define STRINGS      4u

static size_t interp_size(rng_t *r)
{
    uint64_t x = rng_next(r);
    unsigned c = (unsigned)(x % 100);
    uint32_t u = (uint32_t)(x >> 32);
    if (c < 65)
        return 32 + u % 33;
    if (c < 80)
        return 16 + u % 16;
    if (c < 95)
        return 65 + u % 64;
    return 129 + u % 128;
}

typedef struct {
    unsigned char *p;
    size_t len, target;
    uint64_t id;
} str_t;

static uint64_t run_interp(uint64_t n, long unused)
{
    (void)unused;
    /* harness memory, outside the measured loop */
    const size_t young_max = GC_EVERY + GC_EVERY / 8 + STRINGS;   /* objects + finished strings */
    unsigned char **young = malloc(sizeof(void *) * young_max);
    unsigned char **old = malloc(sizeof(void *) * (OLD_MAX + young_max));
    if (!young || !old)
        die_oom(OLD_MAX);
    unsigned char *temp[TEMP_RING] = { 0 };
    str_t str[STRINGS] = { { 0 } };
    size_t nyoung = 0, nold = 0;
    rng_t r = rng_seed(31);
    uint64_t sum = 0, freed = 0, gcs = 0, sid = 1ull << 39;

    for (uint64_t i = 0; i < n; i++) {
        size_t size = interp_size(&r);
        unsigned char *p = xmalloc(size);
        obj_tag(p, size, i);
        sum += size;
        if (rng_below(&r, 10) == 0) {            /* a temporary, dropped 8 allocations later */
            unsigned t = (unsigned)(i % TEMP_RING);
            if (temp[t])
                freed += obj_free(temp[t], "interp-temp");
            temp[t] = p;
        } else {
            young[nyoung++] = p;
        }
        if ((i & 7) == 7) {                      /* a string grows */
            str_t *s = &str[rng_below(&r, STRINGS)];
            if (!s->p) {
                s->len = 16;
                s->target = 64 + rng_below(&r, 961);
                s->id = sid++;
                s->p = xmalloc(s->len);
                obj_tag(s->p, s->len, s->id);
            } else {
                size_t add = 8 + rng_below(&r, 57), len = s->len + add;
                uint64_t h = ((uint64_t)s->len << HDR_SHIFT) | (s->id & HDR_MASK), got;
                memcpy(&got, s->p, 8);
                if (got != h || s->p[s->len - 1] != (unsigned char)(h ^ 0x5a))
                    die_corrupt("interp-string", s->id);
                s->p = xrealloc(s->p, len);
                memset(s->p + s->len, 'a' + (int)(len & 15), add);
                s->len = len;
                obj_tag(s->p, s->len, s->id);
                if (s->len >= s->target) {       /* done: it becomes an ordinary object */
                    young[nyoung++] = s->p;
                    sum += s->len;
                    s->p = NULL;
                }
            }
        }
        if ((i + 1) % GC_EVERY == 0) {
            gcs++;
            for (size_t k = 0; k < nyoung; k++) {   /* minor: sweep young in allocation order */
                if (rng_below(&r, 10) < 8)
                    freed += obj_free(young[k], "interp-young");
                else
                    old[nold++] = young[k];
            }
            nyoung = 0;
            if (gcs % MAJOR_EVERY == 0 || nold > OLD_MAX) {
                size_t keep = 0;
                for (size_t k = 0; k < nold; k++) {
                    if (rng_below(&r, 10) < 3)
                        freed += obj_free(old[k], "interp-old");
                    else
                        old[keep++] = old[k];
                }
                nold = keep;
            }
        }
    }
    for (size_t k = 0; k < nyoung; k++)
        freed += obj_free(young[k], "interp-end");
    for (size_t k = 0; k < nold; k++)
        freed += obj_free(old[k], "interp-end");
    for (unsigned t = 0; t < TEMP_RING; t++)
        if (temp[t])
            freed += obj_free(temp[t], "interp-end");
    for (unsigned k = 0; k < STRINGS; k++)
        if (str[k].p) {
            sum += str[k].len;
            freed += obj_free(str[k].p, "interp-end");
        }
    free(young);
    free(old);
    if (freed != sum)
        die_corrupt("interp-total", freed);
    return mix(mix(sum, gcs), n);
}

/* ---- realloc growth, one byte at a time ---- */
static inline unsigned char grow_byte(uint64_t buf, uint64_t i)
{
    return (unsigned char)((i * 0x9e3779b97f4a7c15ull + buf) >> 56);
}

/* Checks a finished buffer: every byte, as a checksum step. */
static uint64_t grow_check(const unsigned char *p, size_t len, uint64_t buf, uint64_t h)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != grow_byte(buf, i))
            die_corrupt("realloc-grow-contents", i);
    return mix(h, len ^ (buf << 32));
}

static uint64_t run_realloc_grow(uint64_t n, long nbuf)
{
    enum { MAXBUF = 8 };
    const size_t cap = ((size_t)64 << 20) / (size_t)nbuf;
    unsigned char *p[MAXBUF] = { 0 };
    size_t len[MAXBUF] = { 0 };
    uint64_t gen[MAXBUF] = { 0 }, h = 0;
    for (long b = 0; b < nbuf; b++)
        gen[b] = (uint64_t)b;
    for (uint64_t i = 0; i < n; i++) {
        unsigned b = (unsigned)(i % (uint64_t)nbuf);
        size_t l = len[b];
        p[b] = xrealloc(p[b], l + 1);
        if (l && (p[b][l - 1] != grow_byte(gen[b], l - 1) || p[b][0] != grow_byte(gen[b], 0)))
            die_corrupt("realloc-grow", i);
        p[b][l] = grow_byte(gen[b], l);
        len[b] = l + 1;
        if (len[b] == cap) {
            h = grow_check(p[b], len[b], gen[b], h);
            B_FREE(p[b]);
            p[b] = NULL;
            len[b] = 0;
            gen[b] += (uint64_t)nbuf;
        }
    }
    for (long b = 0; b < nbuf; b++)
        if (p[b]) {
            h = grow_check(p[b], len[b], gen[b], h);
            B_FREE(p[b]);
        }
    return mix(h, n);
}

static const workload_t W[] = {
    { "interp",         run_interp,       0, 6000000,  "interpreter shape: small objects, GC bursts, growing strings" },
    { "realloc-grow-1", run_realloc_grow, 1, 67108864, "one buffer grown a byte at a time to 64 MiB" },
    { "realloc-grow-4", run_realloc_grow, 4, 67108864, "4 buffers grown in turn a byte at a time to 16 MiB" },
};
BENCH_MAIN(W)
