/* game_loop.c — a per-frame heap: everything a frame allocates goes in one first-class heap, and
   fa_heap_reset throws it all away at the end of the frame in one call, keeping the pages for the
   next frame. Long-lived things stay in the normal heap. fa_heap_collect, now and then, gives back
   the pages recent frames did not need.

   Thread rule: a heap is used (allocated from, reset, destroyed) only by the thread that made it;
   any thread may fa_free one of its blocks, but those frees must be done before the reset. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"

#include <stdio.h>
#include <string.h>

typedef struct { float x, y; } vec2;

typedef struct {
    char* label;          /* a formatted string, rebuilt every frame */
    vec2* path;           /* a path of varying length, rebuilt every frame */
    size_t path_length;
} draw_item;

int main(void) {
    fa_heap_t* frame = fa_heap_new();
    if (frame == NULL) return 1;
    char* level_name = fa_strdup("harbour at dusk");   /* long-lived: the normal heap */
    fa_stats_t st;
    size_t mapped_after_warmup = 0;

    for (int f = 0; f < 600; f++) {
        /* build the frame's draw list: every allocation comes from the frame heap */
        size_t count = 200 + (size_t)(f * 37 % 300);
        draw_item* items = (draw_item*)fa_heap_calloc(frame, count, sizeof *items);
        if (items == NULL) return 2;
        for (size_t i = 0; i < count; i++) {
            items[i].label = (char*)fa_heap_malloc(frame, 48);
            if (items[i].label == NULL) return 3;
            snprintf(items[i].label, 48, "%s #%zu @%d", level_name, i, f);
            items[i].path_length = 4 + (i * 7 + (size_t)f) % 60;
            items[i].path = (vec2*)fa_heap_malloc(frame, items[i].path_length * sizeof(vec2));
            if (items[i].path == NULL) return 4;
            for (size_t k = 0; k < items[i].path_length; k++) items[i].path[k] = (vec2){(float)k, (float)i};
        }
        /* ... render ... then forget the whole frame at once: no per-object free */
        fa_heap_reset(frame);

        fa_stats_get(&st);
        if (f == 59) mapped_after_warmup = st.mapped_bytes;
        if (f % 120 == 119) fa_heap_collect(frame);   /* hand back pages no recent frame used */
    }
    fa_stats_get(&st);
    printf("game_loop: 600 frames; memory mapped after 60 frames %zu KiB, at the end %zu KiB\n",
           mapped_after_warmup / 1024, st.mapped_bytes / 1024);
    fa_heap_destroy(frame);
    fa_free(level_name);
    return st.mapped_bytes <= mapped_after_warmup ? 0 : 5;
}
