/* preload_util.h — small helpers shared by the LD_PRELOAD check programs.
   The programs are built against the system allocator and use only the standard C API; run.sh runs
   them with and without LD_PRELOAD. pl_report_allocator() prints which object file provides the
   malloc this process calls, so run.sh can verify that the preload really is in use. */
#ifndef PRELOAD_UTIL_H
#define PRELOAD_UTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "allocator: libfastalloc.so" (or "libc.so.6"): the file whose malloc the program's calls reach,
   plus "fa_malloc" when the fastalloc API is visible in the global scope. */
static inline void pl_report_allocator(void) {
    void* (*volatile fn)(size_t) = malloc;
    Dl_info info;
    const char* name = "unknown";
    if (dladdr((void*)fn, &info) && info.dli_fname != NULL) {
        const char* slash = strrchr(info.dli_fname, '/');
        name = slash ? slash + 1 : info.dli_fname;
    }
    printf("allocator: %s%s\n", name, dlsym(RTLD_DEFAULT, "fa_malloc") ? " (fa_malloc visible)" : "");
    fflush(stdout);
}

/* xorshift64*: a deterministic generator, so every run makes the same requests. */
static inline uint64_t pl_rand(uint64_t* s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The fill byte of position i of a block tagged tag: any corruption or mix-up of blocks shows. */
static inline unsigned char pl_byte(uint64_t tag, size_t i) {
    return (unsigned char)((tag * 131u) ^ (i * 7u) ^ (i >> 8));
}

static inline void pl_fill(unsigned char* p, size_t n, uint64_t tag) {
    for (size_t i = 0; i < n; i++) p[i] = pl_byte(tag, i);
}

/* 1 if the first n bytes of p hold tag's pattern. */
static inline int pl_check(const unsigned char* p, size_t n, uint64_t tag) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != pl_byte(tag, i)) return 0;
    return 1;
}

#endif
