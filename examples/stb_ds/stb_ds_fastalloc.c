/* examples/stb_ds/stb_ds_fastalloc.c: stb_ds's arrays and hash maps on a fastalloc heap.
 *
 * stb_ds passes its allocator a context that is always NULL for now (stb_ds.h says so), so the heap
 * is a per-thread "current heap" the program sets: the arrays and maps a thread grows live in that
 * thread's heap (its thread rule), and one fa_heap_destroy drops all of them, no arrfree/hmfree
 * needed. A non-NULL context, once stb_ds passes one, is taken as the heap.
 *
 *   stb_ds_fastalloc [N]    pushes N elements one at a time into an array, an integer map and a
 *                           string map, checks them and prints a summary.
 * Build: cc -O2 -I. -I/usr/include/stb examples/stb_ds/stb_ds_fastalloc.c     (libstb-dev; the
 *        implementation is compiled here, with these macros, so do not link -lstb)
 *        -DUSE_LIBC_REALLOC: stb_ds's default realloc/free, for comparison
 */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef USE_LIBC_REALLOC
static _Thread_local fa_heap_t* stbds_heap;     /* set it before this thread's first stb_ds call */
static void* fa_stbds_realloc(void* context, void* p, size_t size) {
    return fa_heap_realloc(context ? (fa_heap_t*)context : stbds_heap, p, size);
}
#define STBDS_REALLOC(context, p, size) fa_stbds_realloc(context, p, size)
#define STBDS_FREE(context, p) ((void)(context), fa_free(p))
#endif
#define STB_DS_IMPLEMENTATION
#include <stb_ds.h>

typedef struct { uint32_t id; float weight; char tag[8]; } item_t;
typedef struct { uint64_t key; uint32_t value; } imap_t;
typedef struct { char* key; int value; } smap_t;

static uint32_t next(uint32_t* s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }

int main(int argc, char** argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
#ifndef USE_LIBC_REALLOC
    stbds_heap = fa_heap_new();
    if (stbds_heap == NULL) return 1;
#endif
    item_t* items = NULL;           /* dynamic array, grown by one element at a time */
    imap_t* imap = NULL;            /* uint64 -> uint32 hash map */
    smap_t* smap = NULL;            /* string -> int map owning copies of its keys */
    sh_new_strdup(smap);
    uint32_t seed = 1;
    long dropped = 0;               /* counts that went with deleted keys */
    for (long i = 0; i < n; i++) {
        item_t it = { (uint32_t)i, (float)(i % 100) * 0.5f, "" };
        snprintf(it.tag, sizeof it.tag, "t%ld", i % 100000);
        arrput(items, it);
        uint64_t key = next(&seed) % (uint64_t)(n / 2 + 1);   /* about 60 % new keys, the rest repeats */
        uint32_t seen = hmget(imap, key);                      /* hmget may move imap: not in hmput's arguments */
        hmput(imap, key, seen + 1);
        if (i % 4 == 0) {
            char word[24];
            snprintf(word, sizeof word, "w%u", next(&seed) % 50000u);
            int count = shget(smap, word);
            shput(smap, word, count + 1);
        }
        if (i % 1000 == 999) {                                 /* delete some: maps shrink too */
            dropped += hmget(imap, key);
            (void)hmdel(imap, key);
            arrdel(items, arrlen(items) - 1 - i % 7);              /* near the end: a short move */
        }
    }
    /* Check: every count adds up to what was put, element order and contents survived every move. */
    long bad = 0, total = dropped, words = 0;
    for (ptrdiff_t i = 1; i < arrlen(items); i++) bad += items[i].id <= items[i - 1].id;
    for (ptrdiff_t i = 0; i < arrlen(items); i++) bad += strtol(items[i].tag + 1, NULL, 10) != items[i].id % 100000;
    for (ptrdiff_t i = 0; i < hmlen(imap); i++) total += imap[i].value;
    for (ptrdiff_t i = 0; i < shlen(smap); i++) words += smap[i].value;
    bad += (arrlen(items) != n - n / 1000) + (total != n) + (words != (n + 3) / 4);
    printf("%td items, %td keys (%ld puts), %td words counted %ld times, %ld bad\n", arrlen(items), hmlen(imap),
           total, shlen(smap), words, bad);
#ifdef USE_LIBC_REALLOC
    arrfree(items);
    hmfree(imap);
    shfree(smap);
#else
    arrfree(items);                 /* may be freed one by one as usual ... */
    fa_heap_destroy(stbds_heap);    /* ... or all at once: imap, smap and its key copies go here */
#endif
    return bad != 0;
}
