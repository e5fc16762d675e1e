/* firmware.c — fastalloc as a firmware allocator: no OS, one static buffer, NULL when it is full.

   The configuration a microcontroller uses: FASTALLOC_NO_OS (no mmap, no threads; memory comes only
   from regions the program hands over) with 64 KiB segments of 1 KiB slices (the defaults without
   an OS). An RTOS that shares the heap between tasks adds FASTALLOC_LOCK()/FASTALLOC_UNLOCK();
   a build without any C library adds FASTALLOC_NO_LIBC.

   The program plays a sensor logger: it keeps a ring of messages of varying length, runs the
   region to exhaustion on purpose, recovers, and prints how the region is used. It runs on the host
   (make examples) and on an emulated Cortex-M4 (make test-embedded). Exit status 0: all went as
   expected. */
#ifndef FASTALLOC_NO_OS
#define FASTALLOC_NO_OS
#endif
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"

#include <stdio.h>
#include <string.h>

/* The whole heap: a static array, no alignment asked. In real firmware this is often a linker
   section, e.g. __attribute__((section(".sram2"))). */
static unsigned char heap_memory[64 * 1024];

typedef struct message {
    struct message* next;
    unsigned length;
    char text[];
} message_t;

static message_t* log_head;
static message_t* log_tail;
static unsigned log_count;

static int log_push(unsigned sequence) {
    unsigned length = 16 + (sequence * 37) % 200;   /* 16..215 bytes of text */
    message_t* m = (message_t*)fa_malloc(sizeof(message_t) + length);
    if (m == NULL) return 0;                         /* full: the caller decides what to drop */
    m->next = NULL;
    m->length = length;
    memset(m->text, 'a' + (int)(sequence % 26), length);
    if (log_tail) log_tail->next = m; else log_head = m;
    log_tail = m;
    log_count++;
    return 1;
}

static void log_drop_oldest(void) {
    message_t* m = log_head;
    if (m == NULL) return;
    log_head = m->next;
    if (log_head == NULL) log_tail = NULL;
    log_count--;
    fa_free(m);
}

int main(void) {
    if (!fa_init_region(heap_memory, sizeof heap_memory)) {
        printf("firmware: region refused\n");
        return 1;
    }
    /* Steady state: keep the newest 100 messages. */
    unsigned sequence = 0;
    for (; sequence < 5000; sequence++) {
        if (!log_push(sequence)) { printf("firmware: out of memory in steady state\n"); return 2; }
        if (log_count > 100) log_drop_oldest();
    }
    size_t live = 0;
    for (message_t* m = log_head; m; m = m->next) live += sizeof(message_t) + m->length;
    printf("firmware: steady state after 5000 messages, the newest 100 live (%u bytes)\n", (unsigned)live);

    /* A burst: log without dropping until the region is full, then recover by dropping half. */
    unsigned before_burst = log_count;
    while (log_push(sequence)) sequence++;
    unsigned at_full = log_count;
    size_t text_bytes = 0;
    for (message_t* m = log_head; m; m = m->next) text_bytes += sizeof(message_t) + m->length;
    printf("firmware: region full at %u messages (%u KiB of messages in a %u KiB region)\n", at_full,
           (unsigned)(text_bytes / 1024), (unsigned)(sizeof heap_memory / 1024));
    while (log_count > at_full / 2) log_drop_oldest();
    unsigned refilled = 0;
    while (refilled < at_full / 4 && log_push(sequence)) { sequence++; refilled++; }
    if (refilled < at_full / 4) { printf("firmware: freed memory was not reused\n"); return 3; }

    /* Every message must still hold what was written. */
    for (message_t* m = log_head; m; m = m->next)
        for (unsigned i = 1; i < m->length; i++)
            if (m->text[i] != m->text[0]) { printf("firmware: message corrupted\n"); return 4; }
    /* And the buffer is really the only memory in use: nothing came from an OS. */
    fa_stats_t st;
    fa_stats_get(&st);
    if (st.os_map_calls != 0 || st.mapped_bytes != 0) { printf("firmware: OS memory used\n"); return 5; }
    while (log_head) log_drop_oldest();
    printf("firmware: burst of %u messages over %u, recovered; all messages intact\n", at_full - before_burst,
           before_burst);
    return 0;
}
