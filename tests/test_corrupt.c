/* test_corrupt.c — what each build does with memory misuse. Each case runs in a child process and
   ends one of three ways: SILENT (runs to its end: nothing notices), ABORTS (the allocator stops the
   program: a FASTALLOC_DEBUG assertion, or a trap), TOOL (the memory tool reports it: AddressSanitizer
   stops the program with its report; valgrind's memcheck reports an error, and the child, run under
   valgrind --error-exitcode, exits with that code). The expected verdict of every case is written
   down per build: default, FASTALLOC_DEBUG, FASTALLOC_SECURE, AddressSanitizer, FASTALLOC_VALGRIND
   (the test runs each case under valgrind itself), and the cases prove that fastalloc tells the
   tools what it does. Cases that forge a free-list link end SILENT only when the allocator handed
   out the forged address (a wild pointer: what an attacker wants), or one block twice.
   A build without fork() skips everything. */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

#if HARNESS_HAVE_FORK
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

typedef enum { SILENT, ABORTS, TOOL } verdict_t;
static const char* const verdict_name[] = { "silent", "aborts", "tool report" };
/* The secure build's guard page after each OS segment (Windows and POSIX only). */
#if defined(FASTALLOC_SECURE) && defined(FA__SYS_GUARD)
#  define SECURE_GUARD ABORTS
#else
#  define SECURE_GUARD SILENT
#endif

/* ---- the misuse ------------------------------------------------------------------------------- */
static volatile unsigned char sink;

static void overflow_by_one(void) {                 /* 100 bytes asked, 112 usable: the 101st */
    unsigned char* volatile p = (unsigned char*)fa_malloc(100);
    p[100] = 1;
}
static void overflow_huge(void) {                   /* a huge block's slack past the size asked */
    unsigned char* volatile p = (unsigned char*)fa_malloc(5 * MiB + 100);
    p[5 * MiB + 100] = 1;
}
static void overflow_recycled_huge(void) {          /* past the last page of a block cut from a bigger cached mapping */
    fa_free(fa_malloc(8 * MiB));
    size_t size = 3 * MiB + 100;
    unsigned char* volatile p = (unsigned char*)fa_malloc(size);
    p[fa__align_up(size, fa__os_page_size)] = 1;
}
static void use_after_free_read(void) {
    unsigned char* volatile p = (unsigned char*)fa_malloc(64);
    memset(p, 7, 64);
    fa_free(p);
    sink = p[20];
}
static void use_after_free_write(void) {
    unsigned char* volatile p = (unsigned char*)fa_malloc(64);
    fa_free(p);
    p[20] = 1;
}
static void use_after_reset(void) {                 /* a block of a heap that was reset */
    fa_heap_t* heap = fa_heap_new();
    unsigned char* volatile p = (unsigned char*)fa_heap_malloc(heap, 64);
    p[0] = 1;
    fa_heap_reset(heap);
    sink = p[0];
}
static void double_free(void) {
    void* volatile p = fa_malloc(64);
    void* volatile keep = fa_malloc(64);           /* the page stays in use */
    fa_free(p);
    fa_free(p);
    (void)keep;
}
static void foreign_free(void) {
    int on_stack[4] = { 0 };
    fa_free(on_stack);
    sink = (unsigned char)on_stack[0];
}
static void interior_free(void) {
    unsigned char* volatile p = (unsigned char*)fa_malloc(64);
    fa_free(p + 16);
}

/* A forged link's target: a pointer-aligned static buffer whose first word ends the list. */
static _Alignas(64) unsigned char target[256];

/* Allocates 64-byte blocks until the forged address comes out (then exits 0: SILENT) or enough did
   that the corrupted link must have been used. */
static void allocate_until_target(void) {
    for (int i = 0; i < 20000; i++) {
        void* q = fa_malloc(64);
        if (q == (void*)target) _exit(0);
    }
    _exit(3);   /* neither caught nor handed out: the case is wrong */
}
static void overflow_into_link(void) {              /* past a block's end into a free neighbour's link */
    unsigned char* b[64];
    for (int i = 0; i < 64; i++) b[i] = (unsigned char*)fa_malloc(64);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
            if (b[j] == b[i] + 64) {                /* b[j] right after b[i]: free it, overflow b[i] */
                fa_free(b[j]);
                unsigned char* volatile p = b[i];
                void* forged = target;
                memcpy(p + 64, &forged, sizeof forged);
                allocate_until_target();
            }
    _exit(4);
}
/* Frees a 64-byte block (a neighbour kept live so the page stays) and writes `link` over its free-list
   link, or the block's own address when `link` is NULL. */
static unsigned char* free_then_write_link(void* link) {
    unsigned char* volatile p = (unsigned char*)fa_malloc(64);
    void* volatile keep = fa_malloc(64);
    (void)keep;
    fa_free(p);
    void* value = link != NULL ? link : (void*)p;
    memcpy(p, &value, sizeof value);
    return p;
}
static void link_write_after_free(void) {           /* a freed block's link replaced */
    free_then_write_link(target);
    allocate_until_target();
}
/* A write after free into the link with a forged value: what an attacker who worked out the key of
   the page of a block of `leaked_size` bytes writes (a secure build encodes the target's address
   with that key and puts the matching free tag into the target, so it passes for a free block);
   other builds need no key, the raw address does. Per-page keys: a key opens its own page only. */
static void forged_link(size_t leaked_size) {
    void* volatile leaked = fa_malloc(leaked_size);
    unsigned char* p = free_then_write_link(target);
#ifdef FASTALLOC_SECURE
    uintptr_t key = fa__page_key(fa__ptr_page(leaked));
    uintptr_t link = fa__secure_encode_key(key, (fa__block_t*)(void*)p, (fa__block_t*)(void*)target);
    uintptr_t tag = fa__secure_tag_key(key, target);
    memcpy(p, &link, sizeof link);
    memcpy(target + sizeof tag, &tag, sizeof tag);
#else
    (void)p;
#endif
    (void)leaked;
    allocate_until_target();
}
static void forged_link_other_page(void) { forged_link(48); }   /* 48-byte blocks: another page */
static void forged_link_same_page(void) { forged_link(64); }
static void self_linked_after_free(void) {          /* a freed block linked to itself */
    unsigned char* p = free_then_write_link(NULL);
    for (int i = 0, times = 0; i < 20000; i++)
        if (fa_malloc(64) == (void*)p && ++times == 2) _exit(0);   /* one block handed out twice */
    _exit(3);
}
static void* free_in_thread(void* p) {
    fa_free(p);
    return NULL;
}
static void free_elsewhere(void* p) {
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, p) != 0) _exit(5);
    pthread_join(t, NULL);
}
static void double_free_other_thread(void) {       /* the owner frees, another thread frees again */
    void* volatile p = fa_malloc(64);
    void* volatile keep = fa_malloc(64);
    (void)keep;
    fa_free(p);
    free_elsewhere(p);
}
static void double_free_owner_after_thread(void) { /* another thread frees, then the owner again */
    void* volatile p = fa_malloc(64);
    void* volatile keep = fa_malloc(64);
    (void)keep;
    free_elsewhere(p);
    fa_free(p);
}
static void double_free_two_threads(void) {        /* two other threads free one block */
    void* volatile p = fa_malloc(64);
    void* volatile keep = fa_malloc(64);
    (void)keep;
    free_elsewhere(p);
    free_elsewhere(p);
}
static void interior_free_large(void) {            /* inside a block of a multi-slice page */
    unsigned char* volatile p = (unsigned char*)fa_malloc(200 * KiB);
    fa_free(p + 4096);
}
static void interior_free_huge(void) {
    unsigned char* volatile p = (unsigned char*)fa_malloc(5 * MiB);
    fa_free(p + 4096);
}
static void foreign_free_libc(void) {              /* a block of the C library's malloc */
    void* volatile p = malloc(100);
    fa_free(p);
}

static void overflow_off_segment_end(void) {       /* a linear write across a block's segment's end */
    void* volatile p = fa_malloc(64);
    fa__segment_t* seg = fa__ptr_segment(p);
    volatile unsigned char* end = (volatile unsigned char*)seg + seg->map_size;
    end[-1] = 1;                    /* its last byte */
    if (seg->guarded) end[0] = 1;   /* the guard page after it; without one, whatever follows */
}

/* Expected verdicts: default (also clang, TSan, FASTALLOC_STATS), FASTALLOC_DEBUG, AddressSanitizer,
   FASTALLOC_SECURE (without FASTALLOC_DEBUG), FASTALLOC_VALGRIND. */
typedef struct {
    const char* name;
    void (*run)(void);
    verdict_t plain, debug, secure, asan, valgrind;
} misuse_t;
static const misuse_t cases[] = {
    { "overflow by one byte past the size asked", overflow_by_one, SILENT, SILENT, SILENT, TOOL, TOOL },
    { "overflow past a huge block's size", overflow_huge, SILENT, SILENT, SILENT, TOOL, TOOL },
    { "write across the end of a segment (guard page)", overflow_off_segment_end, SILENT, SILENT, SECURE_GUARD, TOOL, TOOL },
    { "write past a recycled huge block (guard)", overflow_recycled_huge, SILENT, SILENT, SECURE_GUARD, TOOL, TOOL },
    { "read after free", use_after_free_read, SILENT, SILENT, SILENT, TOOL, TOOL },
    { "write after free (past the link)", use_after_free_write, SILENT, SILENT, SILENT, TOOL, TOOL },
    { "read after fa_heap_reset", use_after_reset, SILENT, SILENT, SILENT, TOOL, TOOL },
    { "overflow into the next block's link", overflow_into_link, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "write after free into the link", link_write_after_free, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "write after free: a self-linked list", self_linked_after_free, SILENT, SILENT, ABORTS, TOOL, TOOL },
    { "forged link, key of another page", forged_link_other_page, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "forged link, key of its own page (leaked)", forged_link_same_page, SILENT, ABORTS, SILENT, TOOL, TOOL },
    { "double free (owner)", double_free, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "double free (owner, then another thread)", double_free_other_thread, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "double free (another thread, then the owner)", double_free_owner_after_thread, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "double free (two other threads)", double_free_two_threads, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "free of a pointer fastalloc did not hand out", foreign_free, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "free of a block of the C library's malloc", foreign_free_libc, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "free of an interior pointer", interior_free, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "free of an interior pointer (large block)", interior_free_large, SILENT, ABORTS, ABORTS, TOOL, TOOL },
    { "free of an interior pointer (huge block)", interior_free_huge, SILENT, ABORTS, ABORTS, TOOL, TOOL },
};
#define NCASES (sizeof cases / sizeof cases[0])

static verdict_t expected(const misuse_t* c) {
#if FA__ASAN
    return c->asan;
#elif FA__VALGRIND
    return c->valgrind;
#elif defined(FASTALLOC_DEBUG)
    return c->debug;
#elif defined(FASTALLOC_SECURE)
    return c->secure;
#else
    return c->plain;
#endif
}

/* ---- running a case in a child ---------------------------------------------------------------- */
#define VALGRIND_ERROR_EXIT 99
static const char* self_path;

static void child(size_t i) {
#if FA__VALGRIND
    if (!RUNNING_ON_VALGRIND) {     /* the case runs under valgrind: this program again, told which */
        char index[16];
        snprintf(index, sizeof index, "%zu", i);
        execlp("valgrind", "valgrind", "-q", "--error-exitcode=99", "--leak-check=no", self_path, "--case", index, (char*)NULL);
        fprintf(stderr, "exec valgrind failed\n");
        _exit(127);
    }
#endif
    cases[i].run();
    _exit(0);
}

/* Runs case i in a child, its stderr captured; says how it ended. */
static verdict_t run_case(size_t i, char* out, size_t out_size) {
    int fds[2];
    if (pipe(fds) != 0) return SILENT;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        child(i);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], out + len, out_size - 1 - len)) > 0) {
        len += (size_t)got;
        if (len == out_size - 1) len = 0;   /* keep reading; what is kept is only for messages */
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool reported = strstr(out, "AddressSanitizer") != NULL
                    || (WIFEXITED(status) && WEXITSTATUS(status) == VALGRIND_ERROR_EXIT
                           && (strstr(out, "Invalid") != NULL || strstr(out, "Mismatched free") != NULL));
    if (reported) return TOOL;
    if (WIFSIGNALED(status)) return ABORTS;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return SILENT;
    fprintf(stderr, "    child exit status %d: %.300s\n", WEXITSTATUS(status), out);
    return ABORTS;
}

int main(int argc, char** argv) {
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "--case") == 0) {      /* a case, run under valgrind */
        cases[strtoul(argv[2], NULL, 10)].run();
        return 0;
    }
    harness_section("misuse, per build");
#if FA__VALGRIND
    if (system("valgrind --version >/dev/null 2>&1") != 0) {
        harness_skip("every case", "valgrind is not installed (apt-get install valgrind)");
        return harness_finish();
    }
#endif
    static char out[64 * 1024];
    for (size_t i = 0; i < NCASES; i++) {
        verdict_t want = expected(&cases[i]), got = run_case(i, out, sizeof out);
        printf("%-48s %s\n", cases[i].name, verdict_name[got]);
        CHECKF(got == want, "%s: expected %s, got %s", cases[i].name, verdict_name[want], verdict_name[got]);
    }
    return harness_finish();
}
#else
int main(void) {
    harness_skip("misuse in child processes", "no fork() here");
    return harness_finish();
}
#endif
