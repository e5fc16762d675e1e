/* overhead.c — what a 64 KiB region costs in bookkeeping on the board itself (the README figure),
   checked: the segment header, the region's own record, the heap and the alignment loss together
   stay under 8 KiB, and every other byte really is handed out (filled with 16-byte blocks, which
   pack slices exactly). Runs on the board only (tests/embedded/run.sh). */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#define HARNESS_NO_REGION
#include "harness.h"

static unsigned char memory[64 * 1024 + 1];

int main(void) {
    unsigned char* mem = memory + 1;                  /* deliberately misaligned */
    const size_t size = 64 * 1024;
    fa_heap_t* heap = fa_heap_new_in_region(mem, size);
    CHECK(heap != NULL);
    if (!heap) return harness_finish();
    const fa__region_t* r = heap->region;
    size_t window = (size_t)(r->limit - r->base);    /* one window: the region is one segment */
    size_t page_bytes = window / FA__SLICE_SIZE * FA__SLICE_SIZE - FA__HEADER_SLICES * FA__SLICE_SIZE;
    size_t overhead = size - page_bytes;
    /* %lu, not %zu: the board's newlib printf predates C99 size formats */
    printf("overhead: 64 KiB region: %lu bytes for pages, %lu bytes of bookkeeping (segment header %lu bytes in "
           "%lu slices of %lu, region record and heap %lu, alignment and slice rounding %lu)\n",
           (unsigned long)page_bytes, (unsigned long)overhead, (unsigned long)sizeof(fa__segment_t),
           (unsigned long)FA__HEADER_SLICES, (unsigned long)FA__SLICE_SIZE, (unsigned long)(mem + size - r->limit),
           (unsigned long)(overhead - FA__HEADER_SLICES * FA__SLICE_SIZE - (size_t)(mem + size - r->limit)));
    CHECKF(overhead < 8 * 1024, "bookkeeping of a 64 KiB region: %zu bytes", overhead);
    size_t blocks = 0;
    while (fa_heap_malloc(heap, 16) != NULL) blocks++;
    CHECKF(blocks * 16 == page_bytes, "16-byte blocks: %zu bytes handed out of %zu for pages", blocks * 16, page_bytes);
    fa_heap_destroy(heap);
    return harness_finish();
}
