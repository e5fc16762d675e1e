/* dlopen_main.c — blocks crossing a dlopen'ed library's boundary, both ways, before and after
   dlclose. Usage: dlopen_main PATH_TO_dlopen_lib.so
   ROUNDS times: dlopen the library (its constructor allocates), take its constructor's blocks,
   have it make strings that main checks and frees, give it strings that it checks and frees, let
   it realloc a block of main's, keep some of its blocks, dlclose it (its destructor frees).
   After the last dlclose main checks, reallocs and frees every block the library made: memory from
   the allocator stays valid after the code that asked for it is gone. */
#include "preload_util.h"

#define ROUNDS 20
#define N      500

typedef int (*take_fn)(char**, int);
typedef char** (*make_fn)(int, int);
typedef int (*free_fn)(char**, int, int);
typedef char* (*append_fn)(char*, const char*);

static int errors;
static void fail(const char* what, int round) {
    if (errors++ < 10) fprintf(stderr, "dlopen_main: round %d: %s\n", round, what);
}

int main(int argc, char** argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s LIB.so\n", argv[0]); return 2; }
    pl_report_allocator();
    static char* kept_ctor[ROUNDS][100];
    static char** kept_made[ROUNDS];
    int kept_ctor_n[ROUNDS] = { 0 };
    char* appended = malloc(8);
    if (appended == NULL) return 2;
    strcpy(appended, "main");
    long made_checked = 0;

    for (int r = 0; r < ROUNDS; r++) {
        void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
        take_fn take = (take_fn)dlsym(h, "lib_take_ctor_blocks");
        make_fn make = (make_fn)dlsym(h, "lib_make_strings");
        free_fn lfree = (free_fn)dlsym(h, "lib_free_strings");
        append_fn append = (append_fn)dlsym(h, "lib_append");
        if (!take || !make || !lfree || !append) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 2; }

        kept_ctor_n[r] = take(kept_ctor[r], 100);
        if (kept_ctor_n[r] != 100) fail("constructor blocks missing", r);

        /* the library allocates, main frees half now and keeps the rest past dlclose */
        char** v = make(r, N);
        if (v == NULL) { fail("lib_make_strings failed", r); continue; }
        for (int i = 0; i < N; i++) {
            char want[32];
            int n = snprintf(want, sizeof want, "lib-%d-%d|", r, i);
            if (strncmp(v[i], want, (size_t)n) != 0) fail("library string wrong", r);
            if (i % 2 == 0) { free(v[i]); v[i] = NULL; }
        }
        kept_made[r] = v;

        /* main allocates, the library frees */
        char** m = malloc(N * sizeof *m);
        if (m == NULL) return 2;
        for (int i = 0; i < N; i++) {
            m[i] = malloc(16 + (size_t)(i * 31 % 3000));
            if (m[i] == NULL) return 2;
            snprintf(m[i], 16, "main-%d-%d", r, i);
        }
        if (lfree(m, r, N) != 0) fail("library saw wrong strings", r);

        /* the library reallocs a block of main's */
        char tail[16];
        snprintf(tail, sizeof tail, "+%d", r);
        char* t = append(appended, tail);
        if (t == NULL) fail("lib_append failed", r);
        else appended = t;

        if (dlclose(h) != 0) { fprintf(stderr, "dlclose: %s\n", dlerror()); return 2; }
    }

    /* The library's code is unmapped now (check /proc/self/maps); its blocks are ordinary memory. */
    int unloaded = 1;
    FILE* maps = fopen("/proc/self/maps", "r");
    char line[4096];
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "dlopen_lib")) unloaded = 0;
    if (maps) fclose(maps);
    if (!unloaded) fail("the library is still mapped after dlclose", -1);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < kept_ctor_n[r]; i++) {
            char want[32];
            snprintf(want, sizeof want, "lib-ctor-%03d", i);
            if (strcmp(kept_ctor[r][i], want) != 0) fail("constructor block changed after dlclose", r);
            char* g = realloc(kept_ctor[r][i], 100000);      /* grow it: moves to another size */
            if (g == NULL || strcmp(g, want) != 0) fail("realloc after dlclose", r);
            free(g);
        }
        for (int i = 1; i < N; i += 2) {
            char want[32];
            int n = snprintf(want, sizeof want, "lib-%d-%d|", r, i);
            size_t size = 32 + (size_t)(i * 97 % 5000);
            if (strncmp(kept_made[r][i], want, (size_t)n) != 0 || strlen(kept_made[r][i]) != size - 1)
                fail("library string changed after dlclose", r);
            else made_checked++;
            free(kept_made[r][i]);
        }
        free(kept_made[r]);
    }
    /* "main+0+1+...+19" */
    char expect[256] = "main";
    for (int r = 0; r < ROUNDS; r++) snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "+%d", r);
    if (strcmp(appended, expect) != 0) fail("appended string wrong", -1);
    printf("dlopen_main: rounds=%d unloaded=%s kept_after_dlclose=%ld appended=%zu errors=%d\n",
           ROUNDS, unloaded ? "yes" : "no", made_checked, strlen(appended), errors);
    free(appended);
    printf("dlopen_main: %s\n", errors == 0 ? "PASS" : "FAIL");
    return errors == 0 ? 0 : 1;
}
