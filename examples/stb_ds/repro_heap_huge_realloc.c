/* examples/stb_ds/repro_heap_huge_realloc.c: a fastalloc bug found by the stb_ds example (whose
 * arrays grow past 2 MiB by realloc). fa_heap_realloc of a first-class heap's huge block never
 * returns when the block has to move to an address range whose page-map leaf (one per 4 GiB) does
 * not exist yet: fa__huge_resize takes the global lock (the heap's huge list), then
 * fa__huge_remap -> fa__map_reserve -> fa__map_leaf takes the same, non-recursive, lock again and
 * spins in sched_yield forever. fa_realloc of a thread heap's block takes the same path unlocked
 * and works. Here both conditions are forced; in the stb_ds example they happen by chance.
 *   repro_heap_huge_realloc [thread]    prints "realloc returned ..." (fixed) or dies of SIGALRM
 */
#define _GNU_SOURCE
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
    bool thread_heap = argc > 1 && strcmp(argv[1], "thread") == 0;
    fa_heap_t* heap = fa_heap_new();
    char* p = thread_heap ? fa_malloc((size_t)8 << 20) : fa_heap_malloc(heap, (size_t)8 << 20);   /* huge */
    size_t usable = fa_usable_size(p);
    /* it cannot grow where it is: the page after its mapping is taken */
    void* fence = mmap(p + usable, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    /* and the next mapping lands in a 4 GiB window the page map has no leaf for yet */
    void* gap = mmap(NULL, (size_t)8 << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fprintf(stderr, "block %p (+%zu bytes), fence %p, gap %p\n", (void*)p, usable, fence, gap);
    alarm(20);                                               /* SIGALRM: the realloc hung */
    p = thread_heap ? fa_realloc(p, (size_t)16 << 20) : fa_heap_realloc(heap, p, (size_t)16 << 20);
    printf("realloc returned %s\n", p != NULL ? "a block" : "NULL");
    fa_free(p);
    fa_heap_destroy(heap);
    return 0;
}
