/* overflow.c — proof that a memory tool really watches fastalloc's blocks: a block from malloc is
   written one byte past the size asked. tests/preload/tools.sh runs it under valgrind with the
   preload, and built with ASan and fastalloc compiled in (fa_compiled.h), and requires the tool to
   report the write (an expected failure).
   It first shows that malloc's blocks are fastalloc's: fa_usable_size (looked up in the global
   scope) knows a block from malloc, which it does not for any other allocator's (it says 0). */
#include "preload_util.h"

int main(void) {
    pl_report_allocator();
#ifdef FA_COMPILED_H    /* fastalloc compiled in (tools.sh asan) */
    size_t (*usable)(const void*) = fa_usable_size;
#else
    size_t (*usable)(const void*) = (size_t (*)(const void*))dlsym(RTLD_DEFAULT, "fa_usable_size");
#endif
    unsigned char* probe = malloc(40);
    volatile size_t size = 24;                  /* hidden from the compiler's bounds warnings */
    unsigned char* p = malloc(size);
    if (probe == NULL || p == NULL) return 2;
    printf("fastalloc block: %s\n", usable != NULL && usable(probe) >= 40 ? "yes" : "no");
    fflush(stdout);
    ((volatile unsigned char*)p)[size] = 1;     /* one byte past the size asked for */
    printf("overflow written\n");
    free(probe);
    free(p);
    return 0;
}
