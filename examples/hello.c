/* The two-line setup: one translation unit defines FASTALLOC_IMPLEMENTATION before including the
   header; every other file just includes it. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <stdio.h>

int main(void) {
    char* greeting = fa_strdup("hello from fastalloc");
    int* squares = (int*)fa_calloc(16, sizeof(int));       /* reads zero */
    if (greeting == NULL || squares == NULL) return 1;
    for (int i = 0; i < 16; i++) squares[i] = i * i;
    squares = (int*)fa_realloc(squares, 32 * sizeof(int));  /* first 16 kept */
    if (squares == NULL) return 1;
    printf("%s: 15^2 = %d, usable %zu bytes\n", greeting, squares[15], fa_usable_size(squares));
    fa_free(squares);
    fa_free(greeting);
    fa_collect(true);                                        /* hand free memory back to the OS */
    return 0;
}
