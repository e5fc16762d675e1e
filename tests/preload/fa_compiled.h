/* fa_compiled.h — fastalloc compiled into a preload check program instead of preloaded, for
   AddressSanitizer (tests/preload/tools.sh asan): `gcc -fsanitize=address -include fa_compiled.h`.
   An LD_PRELOADed malloc cannot sit under ASan, whose runtime is the program's malloc; so here the
   program's own calls are renamed to fastalloc's (ASan then judges fastalloc's blocks through its
   annotations), while the C library and ASan keep their malloc. The system headers the programs
   use come first, so that the macros below rename calls only, never declarations. Only what the
   programs call is renamed (strdup too: its block is freed by the program). */
#ifndef FA_COMPILED_H
#define FA_COMPILED_H
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"

static inline int fa_compiled_posix_memalign(void** out, size_t align, size_t size) {
    if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
    void* p = fa_malloc_aligned(size, align);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
static inline char* fa_compiled_strdup(const char* s) {
    size_t n = strlen(s) + 1;
    char* p = (char*)fa_malloc(n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

#define malloc(n)                 fa_malloc(n)
#define calloc(c, n)              fa_calloc((c), (n))
#define realloc(p, n)             fa_realloc((p), (n))
#define free(p)                   fa_free(p)
#define aligned_alloc(a, n)       fa_malloc_aligned((n), (a))
#define posix_memalign(o, a, n)   fa_compiled_posix_memalign((o), (a), (n))
#define malloc_usable_size(p)     fa_usable_size(p)
#define strdup(s)                 fa_compiled_strdup(s)
#endif
