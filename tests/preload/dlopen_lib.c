/* dlopen_lib.c — a shared library for dlopen_main.c. It allocates in its constructor and in its
   functions, frees blocks the main program allocated, and frees its own leftovers in its
   destructor. Built against the system allocator: with LD_PRELOAD its calls reach fastalloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTOR_BLOCKS 100

static char* ctor_blocks[CTOR_BLOCKS];     /* made in the constructor, handed out on request */
static char* private_blocks[32];           /* made in the constructor, freed in the destructor */

__attribute__((constructor)) static void lib_init(void) {
    for (int i = 0; i < CTOR_BLOCKS; i++) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "lib-ctor-%03d", i);
        ctor_blocks[i] = malloc((size_t)n + 1 + (size_t)i * 40);   /* different size classes */
        if (ctor_blocks[i]) memcpy(ctor_blocks[i], buf, (size_t)n + 1);
    }
    for (int i = 0; i < 32; i++) {
        private_blocks[i] = calloc(1, (size_t)1 << (i % 18));      /* 1 B .. 128 KiB */
        if (private_blocks[i]) private_blocks[i][0] = 'p';
    }
}

__attribute__((destructor)) static void lib_fini(void) {
    for (int i = 0; i < 32; i++) free(private_blocks[i]);
    for (int i = 0; i < CTOR_BLOCKS; i++) free(ctor_blocks[i]);    /* NULL once handed out */
}

/* Give the constructor's blocks to the caller; returns how many. The caller owns them. */
int lib_take_ctor_blocks(char** out, int max) {
    int n = 0;
    for (int i = 0; i < CTOR_BLOCKS && n < max; i++) {
        out[n++] = ctor_blocks[i];
        ctor_blocks[i] = NULL;
    }
    return n;
}

/* n fresh strings "lib-<round>-<i>" with a tail of filler, the caller frees them. */
char** lib_make_strings(int round, int n) {
    char** v = malloc((size_t)n * sizeof *v);
    if (v == NULL) return NULL;
    for (int i = 0; i < n; i++) {
        size_t size = 32 + (size_t)(i * 97 % 5000);
        v[i] = malloc(size);
        if (v[i] == NULL) return NULL;
        memset(v[i], 'x', size - 1);
        v[i][size - 1] = '\0';
        snprintf(v[i], 32, "lib-%d-%d", round, i);
        v[i][strlen(v[i])] = '|';               /* keep the filler after the name */
    }
    return v;
}

/* Check and free blocks made by the main program ("main-<round>-<i>"); returns how many were bad. */
int lib_free_strings(char** v, int round, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "main-%d-%d", round, i);
        if (v[i] == NULL || strcmp(v[i], want) != 0) bad++;
        free(v[i]);
    }
    free(v);
    return bad;
}

/* Grow a block of the main program and append to it. */
char* lib_append(char* s, const char* tail) {
    size_t a = strlen(s), b = strlen(tail);
    char* t = realloc(s, a + b + 1);
    if (t == NULL) return NULL;
    memcpy(t + a, tail, b + 1);
    return t;
}
