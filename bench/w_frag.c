/* bench/w_frag.c -- fragmentation and application-shaped workloads. See bench/common.h.
 *
 *   frag      N blocks of mixed sizes, every byte written, (70 % 16..256 B, 25 % 256 B..4 KiB, 5 % 4..64 KiB);
 *             then 3 rounds of: free 90 % of the live blocks at random, allocate back up to N
 *             blocks with sizes 1.5x, 2x, 2.5x larger than the round before (so the holes left
 *             by freed small blocks do not fit the new ones exactly). stderr reports, from
 *             /proc/self/statm: rss_live_kib (everything still allocated, at the end) and
 *             rss_end_kib (after freeing it all); live_kib is the requested bytes then live.
 *   hashmap   build and tear down a chained hash map of strings: N words generated from a
 *             vocabulary of N/3 (3..16 letters); each insert allocates a node and a key copy
 *             for a new word or bumps its count; the bucket array grows by calloc + rehash at
 *             load 1; then every word is looked up, then removed once per occurrence (a node
 *             and its key are freed when the count reaches 0, in word-stream order).
 */
#include "common.h"

static size_t frag_size(rng_t *r, unsigned round)
{
    uint32_t c = rng_below(r, 100);
    size_t s = c < 70 ? 16 + rng_below(r, 241) : c < 95 ? 256 + rng_below(r, 3841)
             : 4096 + rng_below(r, 61441);
    return s * (2 + round) / 2;
}

static uint64_t run_frag(uint64_t n, long unused)
{
    unsigned char **ptr = malloc(sizeof(void *) * (n ? n : 1));   /* harness memory */
    uint32_t *sz = malloc(sizeof(uint32_t) * (n ? n : 1));
    rng_t r = rng_seed(7);
    uint64_t sum = 0, live = 0;
    (void)unused;
    if (!ptr || !sz)
        die_oom(n);
    for (uint64_t i = 0; i < n; i++) {
        sz[i] = (uint32_t)frag_size(&r, 0);
        ptr[i] = xmalloc(sz[i]);
        memset(ptr[i], (int)(i & 0xff), sz[i]);   /* every byte used: RSS counts the block */
        tag_block(ptr[i], sz[i], i);
        live += sz[i];
    }
    for (unsigned round = 1; round <= 3; round++) {
        for (uint64_t i = 0; i < n; i++) {
            if (rng_below(&r, 10) == 0)
                continue;   /* survives */
            check_block(ptr[i], sz[i], i, "frag", i);
            B_FREE(ptr[i]);
            live -= sz[i];
            ptr[i] = NULL;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (ptr[i])
                continue;
            sz[i] = (uint32_t)frag_size(&r, round);
            ptr[i] = xmalloc(sz[i]);
            memset(ptr[i], (int)(i & 0xff), sz[i]);
            tag_block(ptr[i], sz[i], i);
            live += sz[i];
            sum += sz[i];
        }
    }
    long rss_live = rss_kib();
    for (uint64_t i = 0; i < n; i++) {
        check_block(ptr[i], sz[i], i, "frag", i);
        B_FREE(ptr[i]);
    }
    long rss_end = rss_kib();
    fprintf(stderr, "live_kib: %" PRIu64 "\nrss_live_kib: %ld\nrss_end_kib: %ld\n", live / 1024,
            rss_live, rss_end);
    free(ptr);
    free(sz);
    return mix(sum, live);
}

/* ---- hash map of strings ---- */
typedef struct node {
    struct node *next;
    uint64_t hash;
    uint32_t count;
    uint32_t len;
    char *key;
} node_t;

typedef struct {
    node_t **bucket;
    size_t mask;
    size_t items;
} map_t;

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Word number k of the vocabulary, written to buf; returns its length. */
static size_t make_word(uint64_t k, char *buf)
{
    rng_t r = rng_seed(1000003 + k);
    size_t len = 3 + rng_below(&r, 14);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + rng_below(&r, 26));
    buf[len] = 0;
    return len;
}

static void map_grow(map_t *m)
{
    size_t cap = (m->mask + 1) * 2;
    node_t **nb = xcalloc(cap, sizeof(node_t *));
    for (size_t b = 0; b <= m->mask; b++)
        for (node_t *e = m->bucket[b], *next; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (cap - 1)];
            nb[e->hash & (cap - 1)] = e;
        }
    B_FREE(m->bucket);
    m->bucket = nb;
    m->mask = cap - 1;
}

static node_t **map_find(map_t *m, const char *w, size_t len, uint64_t h)
{
    node_t **pp = &m->bucket[h & m->mask];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, w, len) == 0)
            break;
    return pp;
}

static uint64_t run_hashmap(uint64_t n, long unused)
{
    map_t m = { xcalloc(16, sizeof(node_t *)), 15, 0 };
    uint64_t vocab = n / 3 + 1, sum = 0;
    rng_t r = rng_seed(8);
    char w[32];
    (void)unused;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = make_word(rng_below(&r, (uint32_t)vocab), w);
        uint64_t h = hash_str(w, len);
        node_t **pp = map_find(&m, w, len, h);
        if (*pp) {
            (*pp)->count++;
            continue;
        }
        node_t *e = xmalloc(sizeof *e);
        e->key = xmalloc(len + 1);
        memcpy(e->key, w, len + 1);
        e->len = (uint32_t)len;
        e->hash = h;
        e->count = 1;
        e->next = m.bucket[h & m.mask];
        m.bucket[h & m.mask] = e;
        if (++m.items > m.mask)
            map_grow(&m);
    }
    sum = mix(sum, m.items);
    r = rng_seed(8);
    for (uint64_t i = 0; i < n; i++) {   /* lookups */
        size_t len = make_word(rng_below(&r, (uint32_t)vocab), w);
        node_t *e = *map_find(&m, w, len, hash_str(w, len));
        if (!e || e->key[len] != 0)
            die_corrupt("hashmap-lookup", i);
        sum += e->count;
    }
    r = rng_seed(8);
    for (uint64_t i = 0; i < n; i++) {   /* removals */
        size_t len = make_word(rng_below(&r, (uint32_t)vocab), w);
        node_t **pp = map_find(&m, w, len, hash_str(w, len));
        node_t *e = *pp;
        if (!e)
            die_corrupt("hashmap-remove", i);
        if (--e->count == 0) {
            *pp = e->next;
            B_FREE(e->key);
            B_FREE(e);
            m.items--;
        }
    }
    if (m.items != 0)
        die_corrupt("hashmap-left", m.items);
    B_FREE(m.bucket);
    return mix(sum, n);
}

static const workload_t W[] = {
    { "frag",    run_frag,    0, 50000,  "mixed sizes, free 90 % at random, allocate larger, x3" },
    { "hashmap", run_hashmap, 0, 500000, "hash map of strings: build, look up, tear down" },
};
BENCH_MAIN(W)
