/* exit_live.c — allocation before main and process exit with live blocks.
   - A constructor (priority 101, before any other) allocates and fills blocks, and strdup's text.
   - main checks them, allocates more, registers two atexit handlers, starts a thread that keeps
     its own blocks and blocks forever, and returns with many blocks still live.
   - The atexit handlers run during exit: one checks and frees half of the constructor's blocks,
     the other allocates, reallocs and frees while the process is being torn down.
   - A destructor allocates and frees once more and writes the last line.
   The expected output is fixed (see run.sh); the exit status must be 0. */
#include "preload_util.h"

#include <pthread.h>
#include <unistd.h>

#define CTOR_N 1000

static unsigned char* ctor_blocks[CTOR_N];
static char* ctor_text;
static int ctor_ok;

__attribute__((constructor(101))) static void early(void) {
    ctor_ok = 1;
    for (int i = 0; i < CTOR_N; i++) {
        size_t size = 1 + (size_t)i * 37 % 20000;
        ctor_blocks[i] = malloc(size);
        if (ctor_blocks[i] == NULL) { ctor_ok = 0; continue; }
        pl_fill(ctor_blocks[i], size, (uint64_t)i);
    }
    ctor_text = strdup("allocated before main");
    if (ctor_text == NULL) ctor_ok = 0;
}

static void at_exit_free_half(void) {
    int bad = 0;
    for (int i = 0; i < CTOR_N; i += 2) {
        if (!pl_check(ctor_blocks[i], 1 + (size_t)i * 37 % 20000, (uint64_t)i)) bad++;
        free(ctor_blocks[i]);
        ctor_blocks[i] = NULL;
    }
    printf("atexit: freed %d constructor blocks, %d bad\n", CTOR_N / 2, bad);
}

static void at_exit_churn(void) {
    char* s = NULL;
    size_t len = 0;
    for (int i = 0; i < 2000; i++) {
        char* t = realloc(s, len + 2);
        if (t == NULL) { printf("atexit: realloc failed\n"); return; }
        s = t;
        s[len++] = (char)('a' + i % 26);
        s[len] = '\0';
    }
    int ok = strlen(s) == 2000 && s[0] == 'a' && s[1999] == (char)('a' + 1999 % 26);
    free(s);
    printf("atexit: churn %s\n", ok ? "ok" : "BAD");
}

__attribute__((destructor)) static void late(void) {
    char* p = malloc(4096);
    int ok = p != NULL;
    if (p) { memset(p, 'd', 4096); ok = p[4095] == 'd'; free(p); }
    const char* msg = ok ? "destructor: ok\n" : "destructor: BAD\n";
    fflush(stdout);
    if (write(1, msg, strlen(msg)) < 0) _exit(3);
}

void* live_blocks[5001];             /* still live at exit, never freed */

static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ready = PTHREAD_MUTEX_INITIALIZER;

static void* sleeper(void* arg) {
    (void)arg;
    void* mine[100];
    for (int i = 0; i < 100; i++) mine[i] = malloc(64 + (size_t)i * 100);
    pthread_mutex_unlock(&ready);
    pthread_mutex_lock(&never);      /* blocks for good: the process exits under it */
    for (int i = 0; i < 100; i++) free(mine[i]);
    return NULL;
}

int main(void) {
    pl_report_allocator();
    int bad = 0;
    for (int i = 0; i < CTOR_N; i++)
        if (ctor_blocks[i] == NULL || !pl_check(ctor_blocks[i], 1 + (size_t)i * 37 % 20000, (uint64_t)i)) bad++;
    printf("main: constructor %s, %d blocks, %d bad, text \"%s\"\n", ctor_ok ? "ok" : "BAD", CTOR_N, bad,
           ctor_text ? ctor_text : "(null)");
    if (atexit(at_exit_churn) != 0 || atexit(at_exit_free_half) != 0) return 2;   /* run in reverse */

    pthread_mutex_lock(&never);
    pthread_mutex_lock(&ready);
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0) return 2;
    pthread_mutex_lock(&ready);        /* the sleeper holds its blocks now */

    for (int i = 0; i < 5000; i++) live_blocks[i] = malloc(1 + (size_t)i % 3000);
    live_blocks[5000] = malloc(50u << 20);           /* a huge live block too */
    if (live_blocks[5000]) memset(live_blocks[5000], 1, 50u << 20);
    printf("main: returning with live blocks\n");
    return 0;
}
