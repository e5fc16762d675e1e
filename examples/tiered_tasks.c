/* tiered_tasks.c — tiered pre-allocation: memory budgets of three sizes are reserved once at start-up;
   each task runs in a heap placed in the smallest budget its estimated work fits, allocates only
   there (a task that outgrows its budget gets NULL, never someone else's memory), and ends with one
   fa_heap_destroy, which releases the whole budget for the next task. A task whose estimate was too
   low is rerun one tier up.

   Budgets here are slices of one big block from the normal heap. With an OS, regions are cut into
   segments of FASTALLOC_SEGMENT_SIZE (4 MiB) starting at multiples of it, so each budget starts at
   such a boundary; without an OS (FASTALLOC_NO_OS) any address works. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MiB ((size_t)1 << 20)
static const size_t tier_size[3] = {4 * MiB, 16 * MiB, 64 * MiB};
static unsigned char* tier_memory[3];

typedef struct {
    const char* name;
    size_t estimate;      /* what the scheduler believes the task needs */
    size_t items;         /* what it really does: items of item_size bytes */
    size_t item_size;
} task_t;

/* Runs the task in a heap over tier t's budget; returns 0 on success, ENOMEM when it outgrew it. */
static int run_in_tier(const task_t* task, int t) {
    fa_heap_t* heap = fa_heap_new_in_region(tier_memory[t], tier_size[t]);
    if (heap == NULL) return errno;
    char** items = (char**)fa_heap_malloc(heap, task->items * sizeof(char*));
    int result = items == NULL ? ENOMEM : 0;
    for (size_t i = 0; result == 0 && i < task->items; i++) {
        items[i] = (char*)fa_heap_malloc(heap, task->item_size);
        if (items[i] == NULL) result = ENOMEM;
        else memset(items[i], (int)(i & 0xff), task->item_size);
    }
    fa_heap_destroy(heap);   /* whatever the task left live: gone, and the budget is whole again */
    return result;
}

int main(void) {
    /* reserve the budgets once: one block, cut at segment boundaries */
    size_t total = tier_size[0] + tier_size[1] + tier_size[2];
    unsigned char* all = (unsigned char*)fa_malloc_aligned(total, 4 * MiB);
    if (all == NULL) return 1;
    tier_memory[0] = all;
    tier_memory[1] = all + tier_size[0];
    tier_memory[2] = all + tier_size[0] + tier_size[1];

    const task_t tasks[] = {
        {"thumbnail", 1 * MiB, 2000, 300},
        {"mesh bake", 10 * MiB, 4000, 2048},
        {"light map", 40 * MiB, 300, 100000},
        {"save game", 2 * MiB, 20000, 400},      /* estimate too low: needs about 8 MiB */
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        int t = 0;
        while (t < 2 && tier_size[t] < tasks[i].estimate) t++;
        int result;
        while ((result = run_in_tier(&tasks[i], t)) == ENOMEM && t < 2) {
            printf("tiered_tasks: %-10s outgrew the %2zu MiB budget, rerun one tier up\n", tasks[i].name, tier_size[t] / MiB);
            t++;
        }
        if (result != 0) failures++;
        printf("tiered_tasks: %-10s %s in the %2zu MiB budget\n", tasks[i].name, result == 0 ? "done" : "FAILED",
               tier_size[t] / MiB);
    }
    fa_free(all);
    return failures;
}
