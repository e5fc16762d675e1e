/* fastalloc.h — a general-purpose memory allocator in one header.       MIT OR Unlicense (see end)

   WHAT IT IS
   A thread-safe malloc replacement of the mimalloc class: per-thread heaps, size-segregated pages
   carved out of aligned segments, three free lists per page (allocation, local free, cross-thread
   free), lazy free-list construction, retire hysteresis for empty pages, zero tracking for calloc,
   and memory handed back to the OS. No per-block header: fa_free finds a block's page in a page map
   (two loads), which also tells a pointer fastalloc never handed out. The same allocator runs
   inside memory you hand it (a region at any address: a static array, a stack buffer, a linker
   section, a budget), with or without an OS, a C library or threads, offers first-class heaps that
   are reset or destroyed in one call, and bump arenas for budgets of a few hundred bytes and up.

   QUICK START
       // in exactly one .c file:
       #define FASTALLOC_IMPLEMENTATION
       #include "fastalloc.h"
       // everywhere else just #include "fastalloc.h"

       char* s = fa_malloc(100);
       fa_free(s);

       // firmware: no OS, one static buffer (define FASTALLOC_NO_OS before the include above)
       static unsigned char heap_memory[64 * 1024];
       fa_init_region(heap_memory, sizeof heap_memory);   // then fa_malloc & co. as usual

       // engines: a heap per frame, thrown away in one call
       fa_heap_t* frame = fa_heap_new();
       void* scratch = fa_heap_malloc(frame, 4096);
       fa_heap_reset(frame);                               // every block gone, pages kept

   CONFIGURATION MACROS
   Define these before including the header. "impl" means: only the translation unit that defines
   FASTALLOC_IMPLEMENTATION reads it; "all" means: every includer must agree.
     FASTALLOC_IMPLEMENTATION   impl  compile the implementation into this translation unit
     FASTALLOC_STATIC           all   give every public function static linkage (private copy)
     FASTALLOC_API              all   declaration prefix of public functions (default: extern,
                                      or static with FASTALLOC_STATIC); e.g. __declspec(dllexport)
     FASTALLOC_ASSERT(c)        impl  assertion used by debug checks (default: assert from <assert.h>;
                                      with FASTALLOC_NO_LIBC, __builtin_trap)
     FASTALLOC_MEMSET(d,c,n)    impl  memset replacement (default: memset; with FASTALLOC_NO_LIBC, a
                                      word-at-a-time loop of fastalloc's own)
     FASTALLOC_MEMCPY(d,s,n)    impl  memcpy replacement (same defaults)
     FASTALLOC_SET_ERRNO(e)     impl  how a failure reports its code (default: errno = e; with
                                      FASTALLOC_NO_LIBC, nothing: NULL is the only signal)
     FASTALLOC_NO_OS            impl  no operating system: no mmap, no threads, no clock. Memory comes
                                      only from regions (fa_init_region, fa_heap_new_in_region);
                                      until one exists every allocation fails with ENOMEM. Implies
                                      FASTALLOC_SINGLE_THREAD; segments default to 64 KiB of 1 KiB
                                      slices and medium pages to eight blocks.
     FASTALLOC_NO_LIBC          impl  no C library either: nothing outside this file is called (the
                                      object builds with -ffreestanding -nostdlib). Implies
                                      FASTALLOC_NO_OS. Not with FASTALLOC_OVERRIDE.
     FASTALLOC_SINGLE_THREAD    impl  one thread of control: no thread-local storage, no atomics, no
                                      pthreads. fa_thread_done only gives memory back.
     FASTALLOC_LOCK()           impl  with FASTALLOC_UNLOCK(): called around every public function,
     FASTALLOC_UNLOCK()               so tasks of an RTOS share one heap (a mutex, or masking
                                      interrupts). Never nested. Implies FASTALLOC_SINGLE_THREAD.
     FASTALLOC_DEBUG            impl  full invariant checks on every slow path and every free:
                                      double free, foreign pointers, list corruption and breaches
                                      of the heap thread rule abort through FASTALLOC_ASSERT.
                                      Slow; for tests and debugging.
     FASTALLOC_SECURE           impl  hardening for production (see SECURE MODE): encoded and
                                      checked free-list links, shuffled fresh free lists, an O(1)
                                      double-free check on every free, and aborts on frees of
                                      foreign and interior pointers, guard pages after OS
                                      segments and huge blocks. Costs ~22 instructions per malloc/free pair:
                                      1.3-2.1x on pure churn, 1.21x geomean over the bench suite,
                                      1.05-1.10x over python3, sqlite3 and lua5.4 preloaded
                                      (bench/results/secure.md); 8-byte requests take 16 bytes.
     FASTALLOC_GUARD_SAMPLE     impl  sampled guard pages for production (see GUARD PAGES): about
                                      one allocation in N (the macro's value; 0 or empty: 2^18) of
                                      at most 16 KiB gets a mapping of its own, its end against an
                                      inaccessible page, so an overflow past its usable size (the
                                      request rounded up to 16) faults at once; freed, it stays
                                      inaccessible in a quarantine of the last 16, so a use after
                                      free faults too. No instruction on the fast path; < 1 % at
                                      the default rate. A bare -DFASTALLOC_GUARD_SAMPLE is 1 (every
                                      such allocation: debugging). Needs page protection: an
                                      #error with FASTALLOC_NO_OS and on wasm.
     FASTALLOC_OVERRIDE         impl  also define malloc, free, calloc, realloc, reallocarray,
                                      aligned_alloc, posix_memalign, memalign, valloc, pvalloc,
                                      malloc_usable_size, malloc_trim, glibc's __libc_* names and, in
                                      C++, every operator new/delete: fastalloc becomes the
                                      process's allocator (see `make lib` for LD_PRELOAD). POSIX and
                                      wasm only: on Windows the C runtime allocates from its own
                                      heap inside its functions, so this is an #error there.
     FASTALLOC_NO_CPP           all   C++ includers do not get namespace fa (the C++ section at the
                                      end of the declarations), which needs <new> and <type_traits>
     FASTALLOC_STATS            impl  count bytes zeroed and copied and pages moved (fa_stats_get);
                                      OS-level and region counters are always kept.
     FASTALLOC_ON_ALLOC(p,size,heap)  impl  profiler hook: every block handed to the caller, after
                                      it is the caller's (size: the bytes asked for; heap: the
                                      fa_heap_t* it came from, the thread heap for fa_malloc & co.).
                                      Default: nothing, and no instruction anywhere.
     FASTALLOC_ON_FREE(p,heap)  impl  profiler hook: every block taken back, before it goes (heap:
                                      the owner of its page; NULL for a huge block of a thread heap
                                      or a block of an exited thread). fa_heap_reset and
                                      fa_heap_destroy report each block they free, from a walk of
                                      the heap's live blocks made only when this hook is defined (a
                                      reset then costs a look at every block, not only every page).
                                      realloc reports the old block freed and the result allocated,
                                      also when it stays in place (the same pointer twice); a failed
                                      realloc reports the old block allocated again, with its usable
                                      size. A growing arena's chunks are reported as blocks of its
                                      heap; an arena's own blocks are not fastalloc's and are not.
                                      fastalloc's own records (a first-class heap's) are not either.
                                      Both hooks run on the calling thread and must not call
                                      fastalloc (a reset reports huge blocks under its global lock).
     FASTALLOC_VALGRIND         impl  tell valgrind's memcheck what fastalloc does, through the client
                                      requests of <valgrind/memcheck.h> (see MEMORY TOOLS). Off by
                                      default; AddressSanitizer builds are told without asking.
     FASTALLOC_SEGMENT_SHIFT    impl  log2 of the segment size (default 22: 4 MiB; 16 without an OS).
                                      Huge blocks (above half a segment) get their own mapping, or
                                      a run of segments in a region.
     FASTALLOC_SLICE_SHIFT      impl  log2 of the slice size, the unit pages are made of (default
                                      16: 64 KiB; 10 without an OS). 8 to 64 slices per segment;
                                      at least 12 (4 KiB) with an OS, 10 without; at most 18. The
                                      earlier name FASTALLOC_PAGE_SHIFT is still read.
     FASTALLOC_REGION_SLICE_SHIFT impl  with an OS, the slice size of segments cut from regions,
                                      which may be small and are scarce (default 10: 1 KiB slices,
                                      64 KiB segments); without an OS regions use
                                      FASTALLOC_SLICE_SHIFT
     FASTALLOC_PAGE_LINES       impl  cache lines per page descriptor: 2 (the default on 64-bit
                                      targets with threads) puts what other threads read (owner,
                                      their free list, size) on one line and what the owner writes
                                      on every malloc and free on the next, so a thread freeing
                                      another's blocks does not pull that line away from it at
                                      every malloc; 1 (the default elsewhere) keeps descriptors at
                                      64 bytes (40 on 32-bit targets): segment headers half the
                                      size, which small slices feel, above all a hosted region's
                                      (its 64 KiB segments keep 59 KiB for pages instead of 55).
                                      2 needs a 64-bit target.
     FASTALLOC_RETIRE_CYCLES    impl  slow-path heartbeats an empty page is kept for reuse before it
                                      goes back to its segment (default 16, a quarter of that for
                                      pages of several slices; 0 = at once)
     FASTALLOC_ZERO_TRACKING    impl  1 (default): know which memory reads zero and never clear it
                                      again; 0: clear every zeroing allocation (for comparison)
     FASTALLOC_PURGE_DELAY_MS   impl  free memory in segments is purged (MADV_DONTNEED) and the
                                      spare segment unmapped once this many ms pass without more
                                      memory going back (another delay while the heap's new pages
                                      took a quarter of it since), and the pool of empty segments (what
                                      exited threads and destroyed heaps left) cut to 2 purged
                                      ones once this many ms pass without another arriving
                                      (default 10; 0 = at the next slow path; -1 = only in
                                      fa_collect). Region memory is never purged.
     FASTALLOC_PURGE_DECOMMITS  impl  1: a purge also decommits (Windows MEM_DECOMMIT; POSIX
                                      PROT_NONE), so purged memory stops counting against the
                                      commit limit, and a page laid on it commits it again.
                                      Default 1 on Windows, 0 elsewhere.
     FASTALLOC_HUGE_PAGES       impl  Linux: once fastalloc has this many MiB mapped, or the heap
                                      asking holds a quarter of that in segments, new segments
                                      are mapped 2 MiB-aligned and advised MADV_HUGEPAGE
                                      (transparent huge pages), and so are segments mapped for a
                                      block of 1 MiB or more and huge blocks of 2 to 64 MiB from
                                      the start, so fresh memory faults in 2 MiB at a
                                      time: far fewer page faults and TLB misses (README, Huge
                                      pages). Default 32 (8 MiB per heap: from a heap's third
                                      segment): a small program's segments, and a thread's first
                                      two, never get them, so it stays lean. 0: from the first
                                      segment; -1: never, huge blocks included. The price is
                                      resident memory: a touched segment tends to be resident
                                      whole. Only a hint: the system's THP
                                      mode "never", or prctl(PR_SET_THP_DISABLE) in the process,
                                      turns it off. Ignored on other systems.
     FASTALLOC_PORTABLE_POSIX   impl  on Linux, build the portable POSIX backend (what macOS and the
                                      BSDs get): no mremap, no MAP_NORESERVE, purge by mapping fresh
                                      pages over the range. For testing that backend.

   PLATFORMS
     The OS layer (>>os) and the threads layer (>>threads) are the only code that knows the
     platform: Linux (mmap, mremap, MADV_DONTNEED), other POSIX (macOS, the BSDs: mmap only),
     Windows (VirtualAlloc; thread exit through a fiber-local storage callback, no DLL needed),
     WebAssembly (wasm32-wasi: memory.grow, single-threaded), and none (FASTALLOC_NO_OS). Compilers:
     GCC, Clang, MSVC and clang-cl, as C or C++. On wasm, beside the C library's malloc fastalloc
     takes its memory from that malloc (wasi-libc's assumes it alone grows linear memory); with
     FASTALLOC_OVERRIDE it grows linear memory itself.

   API                                                   (all functions are thread-safe)
     void*  fa_malloc(size_t size)                       size bytes, or NULL+ENOMEM
     void*  fa_zalloc(size_t size)                       same, reading zero
     void*  fa_calloc(size_t count, size_t size)         count*size zeroed bytes; overflow: ENOMEM
     void*  fa_malloc_aligned(size_t size, size_t align) align: any power of two, else EINVAL
     void*  fa_zalloc_aligned(size_t size, size_t align) same, reading zero
     void*  fa_realloc(void* p, size_t size)             keeps min(old,new) bytes; NULL p = malloc
     void*  fa_rezalloc(void* p, size_t size)            realloc whose growth reads zero (p must
                                                         come from a zeroing function)
     void*  fa_recalloc(void* p, size_t count, size_t size)  rezalloc of count*size
     void*  fa_realloc_aligned(void* p, size_t size, size_t align)   realloc keeping alignment
     void*  fa_rezalloc_aligned(void* p, size_t size, size_t align)  rezalloc keeping alignment
     void   fa_free(void* p)                             NULL does nothing; any thread may free
     size_t fa_usable_size(const void* p)                bytes usable at p (>= size asked); NULL
                                                         or not fastalloc's: 0
     size_t fa_good_size(size_t size)                    usable size fa_malloc(size) gives at least
                                                         (its size class in the thread heap's
                                                         geometry); 0 when no block that large
                                                         can exist (about PTRDIFF_MAX)
     char*  fa_strdup(const char* s)                     copy of s; NULL s: NULL+EINVAL
     char*  fa_strndup(const char* s, size_t n)          copy of at most n chars, NUL-terminated
     void   fa_collect(bool force)                       give this thread's free memory back; with
                                                         force, at once and including memory of
                                                         exited threads
     void   fa_thread_done(void)                         release this thread's heaps now (for
                                                         threads whose exit cannot be seen)
     void   fa_stats_get(fa_stats_t* out)                process-wide counters
   Regions and first-class heaps:
     bool   fa_init_region(void* mem, size_t size)       make [mem, mem+size) the memory of every
                                                         thread heap; before any allocation, once.
                                                         false+EINVAL (unusable), false+EBUSY (late)
     fa_heap_t* fa_heap_new(void)                        a heap of the calling thread; NULL+ENOMEM
                                                         (with threads, also the thread heap, once)
     fa_heap_t* fa_heap_new_in_region(void* mem, size_t size)   a heap living entirely in
                                                         [mem, mem+size); NULL+EINVAL if unusable
     void*  fa_heap_malloc(fa_heap_t* h, size_t size)    as fa_malloc, from h (NULL h: EINVAL)
     void*  fa_heap_zalloc(fa_heap_t* h, size_t size)    as fa_zalloc, from h
     void*  fa_heap_calloc(fa_heap_t* h, size_t count, size_t size)   as fa_calloc, from h
     void*  fa_heap_realloc(fa_heap_t* h, void* p, size_t size)  as fa_realloc; a moved block
                                                         comes from h
     void*  fa_heap_malloc_aligned(fa_heap_t* h, size_t size, size_t align)   from h
     size_t fa_heap_usable_size(const fa_heap_t* h, const void* p)   fa_usable_size of a block of
                                                         h (debug builds check it is h's)
     void   fa_heap_reset(fa_heap_t* h)                  free every block of h at once; h keeps its
                                                         pages for the next round
     void   fa_heap_destroy(fa_heap_t* h)                free every block of h at once and h itself;
                                                         all its memory goes back (a region is the
                                                         caller's again)
     void   fa_heap_delete(fa_heap_t* h)                 h goes away, its blocks stay valid and now
                                                         belong to the thread heap
     void   fa_heap_collect(fa_heap_t* h)                give back h's empty pages (after a reset)
     bool   fa_heap_check(const fa_heap_t* h)            every invariant of h holds (NULL: the thread
                                                         heap); any build, by h's thread; reads only
     bool   fa_heap_visit(fa_heap_t* h, fa_visit_fn visit, void* arg)   visit(block, usable, arg)
                                                         for every live block of h (NULL: the thread
                                                         heap; its huge blocks are no heap's); visit
                                                         returns false to stop. true: walked to the
                                                         end; false: stopped, or EINVAL (visit NULL).
                                                         By h's thread; visit must not call fastalloc
     bool   fa_heap_stats(fa_heap_t* h, fa_heap_stats_t* out)   h's figures (NULL: the thread
                                                         heap): live blocks, pages by tier, huge
                                                         blocks, committed and reserved bytes; region
                                                         heaps: free bytes, largest free block,
                                                         fragmentation. By h's thread; EINVAL (out NULL)
   Arenas (see ARENAS):
     fa_arena_t* fa_arena_init(void* mem, size_t size)   a fixed arena over [mem, mem+size), record
                                                         inside; any alignment, from ~100 bytes;
                                                         NULL+EINVAL if too small
     fa_arena_t* fa_arena_new(fa_heap_t* h, size_t chunk)  an arena that grows in chunks of at least
                                                         `chunk` bytes from h (NULL: the thread heap)
     void   fa_arena_delete(fa_arena_t* a)               a growing arena's chunks go back
     void*  fa_arena_alloc(fa_arena_t* a, size_t size)   16-byte aligned; full: NULL+ENOMEM (inline)
     void*  fa_arena_alloc_aligned(a, size, align)       any power of two, else EINVAL
     void*  fa_arena_zalloc(fa_arena_t* a, size_t size)  reading zero
     void*  fa_arena_grow(fa_arena_t* a, void* p, size_t size)  resize the last block in place;
                                                         another block: EINVAL; no room: ENOMEM
     size_t fa_arena_mark(a), fa_arena_used(a)           bytes taken so far (inline)
     void   fa_arena_rewind(fa_arena_t* a, size_t mark)  back to a mark
     void   fa_arena_reset(fa_arena_t* a)                back to empty
     size_t fa_arena_left(const fa_arena_t* a)           bytes left in the current chunk

   RULES
   - fa_malloc(0) returns a unique, freeable block. fa_realloc(p, 0) returns a minimal block and
     releases p.
   - Blocks of 16 bytes or more are 16-byte aligned (8 when size >= 8). The whole usable size may
     be written.
   - Every failure is NULL with errno set: ENOMEM for sizes over PTRDIFF_MAX, count*size overflow
     and exhausted memory (a full region included); EINVAL for a bad alignment, a missing heap or
     an unusable region. A failed realloc leaves p untouched.
   - A pointer fastalloc never handed out (from another allocator, the stack, static memory):
     fa_free leaves it alone, fa_usable_size says 0, fa_realloc fails with EINVAL; a FASTALLOC_DEBUG
     or FASTALLOC_SECURE build aborts, and a memory tool reports it (see MEMORY TOOLS). (Without an OS, a pointer outside every region; with one, anything the page map
     does not know.) An interior pointer of a fastalloc block, or freeing twice, is undefined; a
     FASTALLOC_DEBUG or FASTALLOC_SECURE build catches both.
   - The zero promise: a block from a zeroing function (fa_zalloc, fa_calloc, fa_zalloc_aligned,
     fa_heap_zalloc, fa_heap_calloc, fa_rezalloc*, fa_recalloc) reads zero up to fa_usable_size
     everywhere the caller has not written. fa_rezalloc keeps it: growing from the size last asked
     for to n, [that size, n) reads zero - except bytes the caller wrote past the size it asked for
     (into the slack up to fa_usable_size), which keep what was written, in every tier: a block
     that does not know its requested size cannot tell them from data (and huge blocks, which do,
     keep growth over fresh OS pages free of clearing by trusting it). Shrinking gives up what lies
     past the new size: it reads zero again when the block grows. The chain must be rezalloc's: a
     plain fa_realloc that shrinks the block keeps what lies past the new size, so a rezalloc that
     grows it later may hand those old bytes back. realloc and rezalloc keep every byte up to
     min(old usable size, new size).

   MEMORY TOOLS
   Built with AddressSanitizer (-fsanitize=address: detected, nothing to define) or under valgrind
   with FASTALLOC_VALGRIND, fastalloc tells the tool what it does, and the tool judges its blocks as
   it judges malloc's. A block handed out is addressable for the size asked (a zero-size block for
   one byte); its slack, an aligned block's lead, free blocks, blocks a reset freed and memory never
   handed out are not, so a write one byte past the size asked, a use after free, a double free and
   a free of a pointer fastalloc did not hand out (or of an interior one) are reported, with the
   tool's stack traces (tests/test_corrupt.c shows each). fa_usable_size makes the whole usable size
   addressable, as the rules let the caller write it. To memcheck a block resized in place, or
   whose usable size was asked, counts as initialised. An overflow that lands in the next live block
   is not seen (there are no redzones); neither is a use after free of a huge block in a region.
   make test runs every suite, the LD_PRELOAD programs and the benchmark smoke pass under both with
   no report (README, Memory tools). Preloaded under memcheck, libfastalloc needs
   --soname-synonyms=somalloc=nouserintercepts, or memcheck replaces its malloc with its own.
   The default build compiles all of it away.

   SECURE MODE
   FASTALLOC_SECURE makes the misuse an attacker builds on stop the program (FASTALLOC_ASSERT, then
   a trap, so it stops with NDEBUG too) instead of corrupting the heap:
   - a free block's link is stored as link ^ key ^ rotate(block address), the key its page's own: a
     secret drawn each time slices become a page, from a seed taken once per process from
     address-space entropy (ASLR) and the clock (no OS random source: that needs the C library),
     kept in the segment header. A key worked out from one page opens that page alone;
   - a free block carries a tag (its address ^ its page's key, rotated) in its second word while
     free. malloc checks the tag of every block it hands out and clears it, so an overflow into the
     next free block's link or a write after free into a link, which decodes to an address the
     writer cannot aim without the key, aborts; so does a list that loops back, self-linked or
     longer (the block met again has lost its tag): no spinning, no block handed out twice. Blocks
     other threads freed carry the tag too, so their links are checked the same way when handed
     out (the owner takes their list in unread on 64-bit targets: see >>pages, thread_free word);
   - the tag makes a double free abort in O(1), whichever threads free (the owner confirms a hit
     by finding the block on its lists, so stale bytes cannot cause a false abort); requests up to
     8 bytes take 16-byte blocks for it;
   - a free of a pointer the page map does not know (foreign), of a page not in use, or of an
     interior pointer (not a block start, past a huge block's start) aborts: a block start is told
     by one multiply (an exact-division test) and a compare with the page's capacity. On the
     owner's fast path a one-slice page's start is the pointer's slice; a page of several slices
     is tagged apart (>>free) and takes its start from its descriptor;
   - fresh blocks are threaded in a random order (random start, random stride coprime with the
     count), so neighbours are not predictable;
   - on Windows and POSIX every OS segment of the page tiers is followed by a guard page (its
     mapping is one inaccessible OS page longer), so a linear overflow off a segment's end faults.
     Regions, wasm and FASTALLOC_NO_OS have no page protection: no guard there.
   - every huge block on the OS ends in a guard page too (its mapping is one inaccessible OS page
     longer), so a write one byte past its usable size faults; realloc through the OS (mremap)
     moves the guard page to the new end (two more protection changes); a block that reuses a
     bigger mapping from the huge cache gets a guard page right after its last page.
   Not covered: an overflow into a live block's data
   (no redzones), a use after free that does not touch the link or the tag, and an attacker who
   can read a free block and knows its address and link (that leaks its page's key). FASTALLOC_DEBUG's
   checks replace the free checks when both are on. Cost: about 22 instructions per small
   malloc/free pair (about 6 on malloc, 16 on a free): code that only allocates and frees pays most
   of its time again (1.3-2.1x), code that uses its memory 0-25 %. The bench suite's geomean is
   1.22x on a quiet machine (1.26x at the previous design's 42, 1.28x at 51; bench/results/secure.md,
   `make bench-secure`).
   The default build is unchanged
   (the same instructions on every path).

   GUARD PAGES (FASTALLOC_GUARD_SAMPLE=N)
   A production build can catch overflows and uses after free at their first access, by chance, at
   a small cost: about one allocation in N of at most 16 KiB (not aligned beyond 16 bytes, not in a
   region) becomes a sampled block, alone in its own mapping with its end (the request rounded up
   to 16: up to 15 bytes of slack) against a page with no access. Any thread may free it; freed, its
   whole mapping loses access and waits in a quarantine of the 16 freed last, then serves a later
   sample. A realloc moves it (unless the 16-rounded size stays). It counts as a small block:
   fa_usable_size is the rounded request (so fa_good_size of sizes up to 16 KiB is the request
   rounded to 16 in these builds), fa_heap_visit and fa_heap_stats list it with the heap it came
   from (a thread heap's too, until the thread ends), reset and destroy free it. fa_stats_t's
   guard_samples counts samples. At most 1024 sampled blocks live at once (memory, and the map
   count limit); past that nothing is sampled. Each sample costs two protection changes and a few
   page faults; the rate is counted in blocks the slow path hands to the fast path, so the fast path
   is untouched. The default N, 2^18, keeps the cost under 1 % on the benchmark suite
   (`make bench` workloads, README).

   SEEING MEMORY
   - fa_heap_visit and fa_heap_stats run on the heap's own thread (a first-class heap's maker; NULL
     is the caller's thread heap). The visitor must not call fastalloc: the walk holds the global
     lock while it visits huge blocks. It gets the pointer the caller holds and fa_usable_size of it
     (under a memory tool only the size asked is addressable, unless fa_usable_size was called).
   - Exact while other threads free the heap's blocks: the walk first takes in the frees that reached
     the heap (delayed frees), then each page's cross-thread list just before it reads that page. A
     block whose free had not reached its page when the walk took that page in is reported live (it
     was live an instant before); one whose free had is not. Frees on the heap's own thread are
     always seen. fa_heap_stats counts the same blocks from page counts (pages that served aligned
     blocks are walked), so its live_blocks and live_bytes equal what a visit at that moment sums.
     A thread heap's block freed by another thread reaches its page when that thread's gathering for
     the page goes out (>>free: when full, at the freeing thread's next slow-path malloc, fa_collect
     or exit); until then it counts as live. First-class heaps' blocks are never gathered.
   - A thread heap's huge blocks belong to no heap (any thread frees them, and they outlive it):
     neither function sees them. A first-class heap lists its own.

   FIRST-CLASS HEAPS AND REGIONS
   - Thread rule: a heap belongs to the thread that made it. Only that thread allocates from it,
     resets, destroys, deletes or collects it (a FASTALLOC_DEBUG build aborts otherwise). Any thread
     may fa_free its blocks; frees meant to happen before a reset or destroy must have returned
     before it starts. With FASTALLOC_LOCK there is one thread of control and any task may use any
     heap under the lock.
   - Costs: reset and destroy touch each page (or segment) once, never each block; huge blocks go
     back whole. A thread that ends deletes the heaps it made (their blocks stay valid).
   - A region needs no alignment and any size that holds a segment header, a slice and its
     bookkeeping (about 14 KiB for a region heap, 10 KiB with FASTALLOC_PAGE_LINES 1; 64 KiB keeps
     80 % for 32-byte blocks on 64-bit, 86 % with one-line descriptors):
     fastalloc rounds its start up to 64 bytes and cuts it into region segments (64 slices of
     FASTALLOC_REGION_SLICE_SHIFT) counted from there, with an OS or without. Regions may nest (a
     region in a block of another heap or region) and sit side by side; destroying one gives its
     memory back as it was. With an OS the page map finds a region from any of its addresses, so
     fa_free, fa_realloc and fa_usable_size work on its blocks from any thread; a free there costs
     a few more instructions than on OS memory (the region then gives the page).
   - All of a region heap's bookkeeping (its record, a bit per segment, the heap) lives at the end
     of the region: its blocks take no OS call and no memory outside it. (With threads, a thread's
     first heap of any kind also makes its thread heap, whose record comes from a pool the OS
     provides 16 records at a time.) fa_init_region stays possible until some heap without a
     region of its own has taken memory from the OS. Region memory is never assumed to read
     zero and never purged. fa_heap_destroy makes it the caller's again; after fa_heap_delete it
     belongs to fastalloc for good.
   - Heaps that share a region (fa_heap_new after fa_init_region) each keep their empty pages for
     a few heartbeats; fa_heap_collect hands them over at once. A heap that runs out first gives
     back its own empty pages and tries again, so memory freed in one size class serves another.
   - Worst-case work in region mode: fa_free is O(1) (with an OS, plus one step per region nested
     around the block's; without one, plus one compare per region created after the block's own). A malloc that misses its page walks the pages of that size
     class, the segments of the heap and the segment bits of the region (64 per word), and threads
     at most 8 KiB of fresh blocks; at exhaustion it also walks the heap's pages once. Nothing is
     proportional to the number of blocks.

   ARENAS
   - An arena hands out memory by moving a pointer (fa_arena_alloc inlines to a handful of
     instructions) and gives it all back at once: fa_arena_reset, or fa_arena_rewind to a mark. No
     single block is freed: fa_free and fa_realloc must never see an arena block (a FASTALLOC_DEBUG
     build aborts). For a task with a budget: a fixed arena over a 4 KiB stack buffer, a region, or
     a heap block; when it is full a request fails with ENOMEM, and the task can rerun one tier up.
   - An arena belongs to one thread of control. It is not a heap: it lives inside memory someone
     else owns (a static or stack buffer, a heap's or a region heap's block, another arena's
     block), which outlives it; a growing arena (fa_arena_new) takes chunks from its heap, under
     that heap's thread rule, and fa_arena_delete gives them back.
*/
#ifndef FASTALLOC_H
#define FASTALLOC_H

#include <stddef.h>
#include <stdbool.h>

#ifndef FASTALLOC_API
#  if defined(FASTALLOC_STATIC) && (defined(__GNUC__) || defined(__clang__))
#    define FASTALLOC_API static __attribute__((unused))
#  elif defined(FASTALLOC_STATIC)
#    define FASTALLOC_API static
#  else
#    define FASTALLOC_API extern
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Process-wide counters. Fields marked [S] count only in FASTALLOC_STATS builds (else 0). */
typedef struct fa_stats_s {
    size_t mapped_bytes;     /* bytes currently mapped from the OS                         */
    size_t mapped_peak;      /* highest mapped_bytes seen                                  */
    size_t os_map_calls;     /* mappings made (segments and huge blocks)                   */
    size_t os_unmap_calls;   /* mappings released                                          */
    size_t os_purge_calls;   /* ranges whose physical memory was handed back (madvise)     */
    size_t os_remap_calls;   /* huge blocks resized by the OS without copying (mremap, or in place) */
    size_t segments_live;    /* segments currently mapped, huge ones included              */
    size_t segments_abandoned; /* segments of exited threads waiting to be reclaimed       */
    size_t pages_acquired;   /* [S] pages carved from segments                            */
    size_t pages_retired;    /* [S] pages given back to their segment                     */
    size_t bytes_zeroed;     /* [S] bytes the allocator set to zero                        */
    size_t bytes_copied;     /* [S] bytes the allocator copied (realloc)                   */
    size_t region_bytes;     /* bytes of caller regions in use (whole segments)            */
    size_t region_peak;      /* highest region_bytes seen                                  */
    size_t metadata_bytes;   /* fastalloc's own records from the OS (thread heap records, the
                                page map's leaves): never given back, not in mapped_bytes   */
    size_t guard_samples;    /* blocks sampled onto a guard page so far (FASTALLOC_GUARD_SAMPLE) */
} fa_stats_t;

/* One heap's figures (fa_heap_stats), as of the call: cross-thread frees that reached the heap are
   taken in first (see fa_heap_visit). Pages are small, medium or large by the tier of their
   blocks (>>pages): small blocks share one-slice pages, medium ones multi-slice pages of several
   blocks, large ones a page each. */
typedef struct fa_heap_stats_s {
    size_t live_blocks;      /* blocks handed out and not freed, huge ones included (what
                                fa_heap_visit reports)                                      */
    size_t live_bytes;       /* their usable bytes (fa_usable_size of each)                 */
    size_t page_bytes;       /* bytes of the slices of its pages in use (live or free blocks) */
    size_t pages_small;      /* pages in use, by tier                                       */
    size_t pages_medium;
    size_t pages_large;
    size_t huge_blocks;      /* huge blocks it lists (a first-class heap's; a thread heap's
                                huge blocks belong to no heap and are not counted)          */
    size_t huge_bytes;       /* their usable bytes                                          */
    size_t committed_bytes;  /* bytes of its segments (the spare one included) and huge blocks
                                that count against the system's commit limit: all but the
                                slices a purge decommitted (FASTALLOC_PURGE_DECOMMITS). Whether
                                the OS has faulted them in is the OS's to say (RSS)         */
    size_t reserved_bytes;   /* address space of its segments and huge blocks               */
    size_t region_bytes;     /* a heap with a region of its own: the region's size; else 0   */
    size_t free_bytes;       /* such a heap: bytes it could hand out without the OS or another
                                heap: free blocks of its pages (empty pages' included), free
                                slices of its segments, free windows of the region less the
                                segment header each run of them needs; else 0               */
    size_t largest_free;     /* such a heap: the largest size fa_heap_malloc hands out now as
                                one block from that memory, empty pages kept for reuse left
                                where they are (fa_heap_collect gives them back first); a
                                request of one region slice more fails. Else 0 (unknown)     */
    size_t fragmentation;    /* per mille of free_bytes that largest_free cannot take:
                                1000 * (free_bytes - largest_free) / free_bytes; 0 when nothing
                                is free or there is no region                               */
} fa_heap_stats_t;

/* A visitor of fa_heap_visit: a live block, the pointer the caller holds, and its usable size;
   returning false stops the walk. */
typedef bool (*fa_visit_fn)(void* block, size_t usable, void* arg);

FASTALLOC_API void*  fa_malloc(size_t size);
FASTALLOC_API void*  fa_zalloc(size_t size);
FASTALLOC_API void*  fa_calloc(size_t count, size_t size);
FASTALLOC_API void*  fa_malloc_aligned(size_t size, size_t alignment);
FASTALLOC_API void*  fa_zalloc_aligned(size_t size, size_t alignment);
FASTALLOC_API void*  fa_realloc(void* p, size_t size);
FASTALLOC_API void*  fa_rezalloc(void* p, size_t size);
FASTALLOC_API void*  fa_recalloc(void* p, size_t count, size_t size);
FASTALLOC_API void*  fa_realloc_aligned(void* p, size_t size, size_t alignment);
FASTALLOC_API void*  fa_rezalloc_aligned(void* p, size_t size, size_t alignment);
FASTALLOC_API void   fa_free(void* p);
FASTALLOC_API size_t fa_usable_size(const void* p);
FASTALLOC_API size_t fa_good_size(size_t size);
FASTALLOC_API char*  fa_strdup(const char* s);
FASTALLOC_API char*  fa_strndup(const char* s, size_t n);
FASTALLOC_API void   fa_collect(bool force);
FASTALLOC_API void   fa_thread_done(void);
FASTALLOC_API void   fa_stats_get(fa_stats_t* out);

/* Regions and first-class heaps (see FIRST-CLASS HEAPS AND REGIONS above). */
typedef struct fa_heap_s fa_heap_t;
FASTALLOC_API bool       fa_init_region(void* mem, size_t size);
FASTALLOC_API fa_heap_t* fa_heap_new(void);
FASTALLOC_API fa_heap_t* fa_heap_new_in_region(void* mem, size_t size);
FASTALLOC_API void       fa_heap_destroy(fa_heap_t* heap);
FASTALLOC_API void       fa_heap_reset(fa_heap_t* heap);
FASTALLOC_API void       fa_heap_delete(fa_heap_t* heap);
FASTALLOC_API void       fa_heap_collect(fa_heap_t* heap);
FASTALLOC_API void*      fa_heap_malloc(fa_heap_t* heap, size_t size);
FASTALLOC_API void*      fa_heap_zalloc(fa_heap_t* heap, size_t size);
FASTALLOC_API void*      fa_heap_calloc(fa_heap_t* heap, size_t count, size_t size);
FASTALLOC_API void*      fa_heap_realloc(fa_heap_t* heap, void* p, size_t size);
FASTALLOC_API void*      fa_heap_malloc_aligned(fa_heap_t* heap, size_t size, size_t alignment);
FASTALLOC_API size_t     fa_heap_usable_size(const fa_heap_t* heap, const void* p);
FASTALLOC_API bool       fa_heap_check(const fa_heap_t* heap);
FASTALLOC_API bool       fa_heap_visit(fa_heap_t* heap, fa_visit_fn visit, void* arg);
FASTALLOC_API bool       fa_heap_stats(fa_heap_t* heap, fa_heap_stats_t* out);

/* Bump arenas (see ARENAS above). The record is public only so that the bump path inlines: its
   fields are fastalloc's. */
typedef struct fa_arena_chunk_s fa_arena_chunk_t;
typedef struct fa_arena_s {
    unsigned char* top;          /* next block; 16-byte aligned                            */
    unsigned char* end;          /* end of the memory blocks may use now                   */
    unsigned char* last;         /* the last block, the one fa_arena_grow resizes          */
    unsigned char* base;         /* where blocks start in the current chunk                */
    size_t before;               /* bytes of earlier chunks: a mark counts from the first  */
    fa_arena_chunk_t* chunk;     /* the current chunk of a growing arena; NULL: fixed      */
    fa_heap_t* parent;           /* a growing arena's heap (NULL: the thread heap)         */
    size_t chunk_size;
} fa_arena_t;
FASTALLOC_API fa_arena_t* fa_arena_init(void* mem, size_t size);
FASTALLOC_API fa_arena_t* fa_arena_new(fa_heap_t* parent, size_t chunk_size);
FASTALLOC_API void        fa_arena_delete(fa_arena_t* arena);
FASTALLOC_API void*       fa_arena_alloc_aligned(fa_arena_t* arena, size_t size, size_t alignment);
FASTALLOC_API void*       fa_arena_zalloc(fa_arena_t* arena, size_t size);
FASTALLOC_API void*       fa_arena_grow(fa_arena_t* arena, void* p, size_t size);
FASTALLOC_API void        fa_arena_rewind(fa_arena_t* arena, size_t mark);
FASTALLOC_API void        fa_arena_reset(fa_arena_t* arena);
FASTALLOC_API size_t      fa_arena_left(const fa_arena_t* arena);

/* The bump path, inline: round up to 16 bytes, and take them if the chunk has them. */
static inline void* fa_arena_alloc(fa_arena_t* arena, size_t size) {
    size_t rounded = (size + 15) & ~(size_t)15;
    if (rounded >= size && rounded != 0 && rounded <= (size_t)(arena->end - arena->top)) {
        unsigned char* p = arena->top;
        arena->last = p;
        arena->top = p + rounded;
        return p;
    }
    return fa_arena_alloc_aligned(arena, size, 16);
}
/* A mark: bytes the arena holds now (the total over its chunks); fa_arena_rewind goes back to it. */
static inline size_t fa_arena_mark(const fa_arena_t* arena) {
    return arena->before + (size_t)(arena->top - arena->base);
}
static inline size_t fa_arena_used(const fa_arena_t* arena) { return fa_arena_mark(arena); }

#ifdef __cplusplus
}
#ifndef FASTALLOC_NO_CPP
/* =====================================================================================================
   >>cpp  C++: namespace fa                (C++11; the std::pmr resources from C++17 with <memory_resource>)
   After the C declarations, outside extern "C"; every C++ includer gets it (examples/cpp/ uses it)
   unless it defines FASTALLOC_NO_CPP (no C++ standard library: freestanding, or MSVC-mode builds
   against C headers only).
     fa::heap               owns a first-class heap of the calling thread: fa_heap_new when made
                            (std::bad_alloc on failure), fa_heap_destroy when it goes; reset(); move-only
     fa::allocator<T>       a standard allocator: from a heap (fa_heap_malloc), or, made without one,
                            from fastalloc's thread heaps (fa_malloc: any thread may use it). Two are
                            equal when they use the same heap. It moves with the memory on move
                            assignment and swap, and stays on copy assignment (the copy goes to its
                            own heap).
     fa::heap_resource      a std::pmr::memory_resource over a heap (or the thread heaps); release()
                            resets the heap: every block of it goes, whoever holds it
     fa::arena_resource     a std::pmr::memory_resource over a bump arena: deallocate does nothing,
                            release() rewinds (as std::pmr::monotonic_buffer_resource); its own
                            growing arena (fa_arena_new) or one the caller made (fa_arena_init)
   The heap thread rule carries over: an allocator or resource bound to a heap allocates, and the
   heap is reset or destroyed, only on the heap's thread; memory may be deallocated on any thread.
   Failure throws std::bad_alloc (std::bad_array_new_length for a count that overflows); built
   without exceptions, it calls std::abort. No RTTI is needed.
   ===================================================================================================== */
#ifndef FASTALLOC_CPP_INCLUDED
#define FASTALLOC_CPP_INCLUDED
#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#if __cplusplus >= 201703L || (defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#  if __has_include(<memory_resource>)
#    include <memory_resource>
#    define FASTALLOC_CPP_PMR 1
#  endif
#endif

namespace fa {
namespace detail {

[[noreturn]] inline void out_of_memory(bool bad_length = false) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
    if (bad_length) throw std::bad_array_new_length();
    throw std::bad_alloc();
#else
    (void)bad_length;
    std::abort();
#endif
}

/* From `heap` (NULL: the thread heaps). fa_malloc's blocks are 16-byte aligned from 16 bytes and
   8-byte aligned from 8 (RULES); other alignments take the aligned call. */
inline void* allocate(fa_heap_t* heap, std::size_t bytes, std::size_t align) {
    std::size_t natural = bytes >= 16 ? 16 : bytes >= 8 ? 8 : 1;
    void* p;
    if (align <= natural)
        p = heap != nullptr ? fa_heap_malloc(heap, bytes) : fa_malloc(bytes);
    else
        p = heap != nullptr ? fa_heap_malloc_aligned(heap, bytes, align) : fa_malloc_aligned(bytes, align);
    if (p == nullptr) out_of_memory();
    return p;
}

}  // namespace detail

class heap {
public:
    heap() : heap_(fa_heap_new()) {
        if (heap_ == nullptr) detail::out_of_memory();
    }
    ~heap() {
        if (heap_ != nullptr) fa_heap_destroy(heap_);
    }
    heap(heap&& other) noexcept : heap_(other.heap_) { other.heap_ = nullptr; }
    heap& operator=(heap&& other) noexcept {
        if (this != &other) {
            if (heap_ != nullptr) fa_heap_destroy(heap_);
            heap_ = other.heap_;
            other.heap_ = nullptr;
        }
        return *this;
    }
    heap(const heap&) = delete;
    heap& operator=(const heap&) = delete;

    fa_heap_t* get() const noexcept { return heap_; }
    void reset() noexcept { fa_heap_reset(heap_); }      /* every block of the heap goes at once */

private:
    fa_heap_t* heap_;
};

template <class T>
class allocator {
public:
    using value_type = T;
    using propagate_on_container_copy_assignment = std::false_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;
    template <class U>
    struct rebind {
        using other = allocator<U>;
    };

    allocator() noexcept : heap_(nullptr) {}
    explicit allocator(fa_heap_t* heap) noexcept : heap_(heap) {}
    explicit allocator(const fa::heap& heap) noexcept : heap_(heap.get()) {}
    template <class U>
    allocator(const allocator<U>& other) noexcept : heap_(other.get_heap()) {}

    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) detail::out_of_memory(true);
        return static_cast<T*>(detail::allocate(heap_, n * sizeof(T), alignof(T)));
    }
    void deallocate(T* p, std::size_t) noexcept { fa_free(p); }
    fa_heap_t* get_heap() const noexcept { return heap_; }

private:
    fa_heap_t* heap_;
};

template <class T, class U>
bool operator==(const allocator<T>& a, const allocator<U>& b) noexcept {
    return a.get_heap() == b.get_heap();
}
template <class T, class U>
bool operator!=(const allocator<T>& a, const allocator<U>& b) noexcept {
    return a.get_heap() != b.get_heap();
}

#ifdef FASTALLOC_CPP_PMR
class heap_resource : public std::pmr::memory_resource {
public:
    heap_resource() noexcept : heap_(nullptr) {}                  /* the thread heaps: any thread */
    explicit heap_resource(fa_heap_t* heap) noexcept : heap_(heap) {}
    explicit heap_resource(const fa::heap& heap) noexcept : heap_(heap.get()) {}
    heap_resource(const heap_resource&) = delete;
    heap_resource& operator=(const heap_resource&) = delete;

    fa_heap_t* get_heap() const noexcept { return heap_; }
    void release() noexcept {
        if (heap_ != nullptr) fa_heap_reset(heap_);
    }

protected:
    void* do_allocate(std::size_t bytes, std::size_t align) override { return detail::allocate(heap_, bytes, align); }
    void do_deallocate(void* p, std::size_t, std::size_t) override { fa_free(p); }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

private:
    fa_heap_t* heap_;
};

class arena_resource : public std::pmr::memory_resource {
public:
    /* A growing arena of its own: chunks of at least `chunk` bytes from `heap` (NULL: the thread heap). */
    explicit arena_resource(fa_heap_t* heap = nullptr, std::size_t chunk = 64 * 1024)
        : arena_(fa_arena_new(heap, chunk)), owned_(true) {
        if (arena_ == nullptr) detail::out_of_memory();
    }
    /* The caller's arena, e.g. fa_arena_init over a buffer: full means std::bad_alloc. */
    explicit arena_resource(fa_arena_t* arena) noexcept : arena_(arena), owned_(false) {}
    ~arena_resource() override {
        if (owned_) fa_arena_delete(arena_);
    }
    arena_resource(const arena_resource&) = delete;
    arena_resource& operator=(const arena_resource&) = delete;

    fa_arena_t* get_arena() const noexcept { return arena_; }
    void release() noexcept { fa_arena_reset(arena_); }

protected:
    void* do_allocate(std::size_t bytes, std::size_t align) override {
        void* p = align <= 16 ? fa_arena_alloc(arena_, bytes) : fa_arena_alloc_aligned(arena_, bytes, align);
        if (p == nullptr) detail::out_of_memory();
        return p;
    }
    void do_deallocate(void*, std::size_t, std::size_t) override {}
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

private:
    fa_arena_t* arena_;
    bool owned_;
};
#endif  // FASTALLOC_CPP_PMR

}  // namespace fa
#endif  // FASTALLOC_CPP_INCLUDED
#endif /* FASTALLOC_NO_CPP */
#endif /* __cplusplus */
#endif /* FASTALLOC_H */

#ifdef FASTALLOC_IMPLEMENTATION
#ifndef FASTALLOC_IMPLEMENTATION_DONE
#define FASTALLOC_IMPLEMENTATION_DONE
/* The implementation follows the data's path, one object per section; each section is greppable by
   its tag:
     >>config    configuration switches, their checks, and the sizes derived from them
     >>platform  compiler shim, atomics, bit scans, and the libc-free memset/memcpy
     >>threads   owner ids, the global lock, thread-exit and fork hooks (or their single-thread stubs)
     >>types     every struct and enum, and the forward declarations
     >>os        the OS layer: map, unmap, purge, remap, clock
     >>regions   caller memory as the other source of segments
     >>segments  segments: layout, link/unlink, new/release/discard, pool, adopt/abandon, purge
     >>pages     size classes and pages: layout, lazy free lists, cross-thread lists, delay states
     >>queues    a heap's page queues, the direct table, full pages, retirement
     >>huge      blocks above FA__LARGE_MAX: layout, mapping, cache, tracking, resize, free
     >>guard     sampled blocks with a guard page (FASTALLOC_GUARD_SAMPLE): slots, quarantine, rate
     >>heaps     heaps: records, memory source, finding a page, heartbeat, thread life, first-class
     >>malloc    malloc paths: fast, from the bin's page, slow, aligned
     >>free      free paths: fast, local, remote (delayed), huge
     >>realloc   zeroing and realloc: in place, huge, move
     >>collect   purge and collect
     >>debug     invariant checks (fa_heap_check, FASTALLOC_DEBUG) and statistics
     >>api       public entry points
     >>override  the C library's malloc names (FASTALLOC_OVERRIDE)
   A malloc that misses its page reads upward: >>malloc (fast, from_bin, slow) -> >>heaps (find a
   page: scan the bin's queue, a fresh page, an abandoned segment, a new segment) -> >>segments ->
   >>regions or >>os. A free: >>free -> >>pages (local or thread list) -> >>queues (retire). */

/* =====================================================================================================
   >>config  CONFIGURATION
   Invariants: sizes are powers of two; a segment holds 8 to 64 slices, so one 64-bit word maps its
   slices; the segment header fits in its first slices and leaves room for the largest page. The
   switches nest: FASTALLOC_NO_LIBC implies FASTALLOC_NO_OS, which (like FASTALLOC_LOCK) implies
   FASTALLOC_SINGLE_THREAD. Every libc call goes through a macro the user may override; with
   FASTALLOC_NO_LIBC nothing outside this file is called at all.
   ===================================================================================================== */
#if defined(FASTALLOC_NO_LIBC) && !defined(FASTALLOC_NO_OS)
#  define FASTALLOC_NO_OS
#endif
#if (defined(FASTALLOC_NO_OS) || defined(FASTALLOC_LOCK)) && !defined(FASTALLOC_SINGLE_THREAD)
#  define FASTALLOC_SINGLE_THREAD
#endif
#if defined(FASTALLOC_LOCK) != defined(FASTALLOC_UNLOCK)
#  error "fastalloc: define both FASTALLOC_LOCK() and FASTALLOC_UNLOCK(), or neither"
#endif
#ifndef FASTALLOC_LOCK
#  define FASTALLOC_LOCK()   ((void)0)
#  define FASTALLOC_UNLOCK() ((void)0)
#endif
#if defined(FASTALLOC_OVERRIDE) && defined(_WIN32)
#  error "fastalloc: FASTALLOC_OVERRIDE is for POSIX and wasm: the Windows C runtime allocates from its own heap inside (strdup, fopen...), and its blocks would reach fastalloc's free; call the fa_ functions instead"
#endif
#if defined(FASTALLOC_OVERRIDE) && defined(FASTALLOC_NO_LIBC)
#  error "fastalloc: FASTALLOC_OVERRIDE replaces the C library's malloc, and FASTALLOC_NO_LIBC says there is none"
#endif

/* The platform, decided once: everything below the >>threads and >>os layers reads only these.
   FA__WINDOWS: Win32 (MSVC, clang-cl, MinGW). FA__WASM: WebAssembly (memory.grow, one thread).
   FA__LINUX: POSIX with the Linux extensions (mremap, MADV_DONTNEED reads zero, MAP_NORESERVE).
   FA__POSIX: any other POSIX system (macOS, the BSDs), or Linux built with FASTALLOC_PORTABLE_POSIX. */
#if defined(FASTALLOC_NO_OS)
#  define FA__NO_OS_BACKEND 1
#elif defined(_WIN32)
#  define FA__WINDOWS 1
#elif defined(__wasm__)
#  define FA__WASM 1
#  ifndef FASTALLOC_SINGLE_THREAD
#    define FASTALLOC_SINGLE_THREAD   /* wasm32-wasi has one thread */
#  endif
#elif defined(__linux__) && !defined(FASTALLOC_PORTABLE_POSIX)
#  define FA__LINUX 1
#else
#  define FA__POSIX 1
#endif

#if defined(FA__LINUX) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE       /* MAP_ANONYMOUS, madvise, mremap under strict -std=c11 */
#elif (defined(FA__POSIX) || defined(FA__WASM)) && !defined(_DEFAULT_SOURCE)
#  define _DEFAULT_SOURCE   /* MAP_ANONYMOUS, clock_gettime under strict -std=c11 (glibc, musl, wasi-libc) */
#endif
#include <stdint.h>
#ifndef FASTALLOC_NO_LIBC
#  include <errno.h>
#  include <string.h>
#  include <assert.h>
#endif
#if defined(FA__WINDOWS)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  ifndef NOMINMAX
#    define NOMINMAX
#  endif
#  include <windows.h>
#elif defined(FA__LINUX) || defined(FA__POSIX)
#  include <sys/mman.h>
#  include <unistd.h>
#  include <time.h>
#  if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#    define MAP_ANONYMOUS MAP_ANON
#  endif
#elif defined(FA__WASM) && !defined(FASTALLOC_NO_LIBC)
#  include <time.h>
#  include <stdlib.h>      /* aligned_alloc: see >>os, WebAssembly */
#endif
#if defined(__linux__) && !defined(FA__NO_OS_BACKEND)
/* When libc headers were included before this one under strict -std=cNN, _DEFAULT_SOURCE came too
   late: supply the Linux values (x86, Arm and RISC-V share them). */
#  ifndef MAP_ANONYMOUS
#    define MAP_ANONYMOUS 0x20
#  endif
#  ifndef MAP_NORESERVE
#    define MAP_NORESERVE 0x4000
#  endif
#  ifndef MADV_DONTNEED
#    define MADV_DONTNEED 4
#    ifdef __cplusplus
extern "C"
#    endif
int madvise(void* addr, size_t length, int advice);
#  endif
#  ifndef MADV_HUGEPAGE
#    define MADV_HUGEPAGE 14
#  endif
#  ifndef MREMAP_MAYMOVE
#    define MREMAP_MAYMOVE 1
#    define MREMAP_FIXED 2
#    ifdef __cplusplus
extern "C"
#    endif
void* mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...);
#  endif
#  ifndef CLOCK_MONOTONIC
#    define CLOCK_MONOTONIC 1
#    ifdef __cplusplus
extern "C"
#    endif
int clock_gettime(int clock, struct timespec* now);
#  endif
#endif
#if !defined(FASTALLOC_SINGLE_THREAD) && !defined(FA__WINDOWS)
#  include <pthread.h>
#  include <sched.h>
#endif

/* Error codes: errno's where the C library has one; the usual values otherwise. */
#if defined(ENOMEM) && defined(EINVAL) && defined(EBUSY)
#  define FA__ENOMEM ENOMEM
#  define FA__EINVAL EINVAL
#  define FA__EBUSY  EBUSY
#else
#  define FA__ENOMEM 12
#  define FA__EINVAL 22
#  define FA__EBUSY  16
#endif
#ifndef FASTALLOC_SET_ERRNO
#  ifdef FASTALLOC_NO_LIBC
#    define FASTALLOC_SET_ERRNO(e) ((void)(e))
#  else
#    define FASTALLOC_SET_ERRNO(e) ((void)(errno = (e)))
#  endif
#endif
#ifndef FASTALLOC_ASSERT
#  ifdef FASTALLOC_NO_LIBC
#    define FASTALLOC_ASSERT(c) ((c) ? (void)0 : FA__TRAP())
#  else
#    define FASTALLOC_ASSERT(c) assert(c)
#  endif
#endif
#ifndef FASTALLOC_MEMSET
#  ifdef FASTALLOC_NO_LIBC
#    define FASTALLOC_MEMSET(d, c, n) fa__fill_bytes((d), (c), (n))
#  else
#    define FASTALLOC_MEMSET(d, c, n) memset((d), (c), (n))
#  endif
#endif
#ifndef FASTALLOC_MEMCPY
#  ifdef FASTALLOC_NO_LIBC
#    define FASTALLOC_MEMCPY(d, s, n) fa__copy_bytes((d), (s), (n))
#  else
#    define FASTALLOC_MEMCPY(d, s, n) memcpy((d), (s), (n))
#  endif
#endif
/* Profiler hooks: nothing unless the user defines them, so that the default build is unchanged. */
#if defined(FASTALLOC_ON_ALLOC) || defined(FASTALLOC_ON_FREE)
#  define FA__HOOKS 1
#else
#  define FA__HOOKS 0
#endif
#ifndef FASTALLOC_ON_ALLOC
#  define FASTALLOC_ON_ALLOC(p, size, heap) ((void)0)
#endif
#ifdef FASTALLOC_ON_FREE
#  define FA__HOOK_FREES 1
#else
#  define FA__HOOK_FREES 0
#  define FASTALLOC_ON_FREE(p, heap) ((void)0)
#endif
/* Debug-only checks of preconditions the code relies on; free in other builds (not evaluated). */
#ifdef FASTALLOC_DEBUG
#  define FA__DEBUG_ASSERT(c) FASTALLOC_ASSERT(c)
#else
#  define FA__DEBUG_ASSERT(c) ((void)sizeof((c) ? 1 : 0))
#endif
#ifndef FASTALLOC_SEGMENT_SHIFT
#  ifdef FASTALLOC_NO_OS
#    define FASTALLOC_SEGMENT_SHIFT 16   /* regions: 64 KiB segments of 1 KiB slices */
#  else
#    define FASTALLOC_SEGMENT_SHIFT 22
#  endif
#endif
/* FASTALLOC_SLICE_SHIFT sets the slice size; FASTALLOC_PAGE_SHIFT is its earlier name. */
#if !defined(FASTALLOC_SLICE_SHIFT) && defined(FASTALLOC_PAGE_SHIFT)
#  define FASTALLOC_SLICE_SHIFT FASTALLOC_PAGE_SHIFT
#endif
#ifndef FASTALLOC_SLICE_SHIFT
#  ifdef FASTALLOC_NO_OS
#    define FASTALLOC_SLICE_SHIFT 10
#  else
#    define FASTALLOC_SLICE_SHIFT 16
#  endif
#endif
/* Caller regions may be small and memory there is scarce: with an OS, their segments have slices of
   their own size (FASTALLOC_REGION_SLICE_SHIFT, 1 KiB); without one, regions are all there is and
   use FASTALLOC_SLICE_SHIFT. */
#ifdef FASTALLOC_NO_OS
#  if defined(FASTALLOC_REGION_SLICE_SHIFT) && FASTALLOC_REGION_SLICE_SHIFT != FASTALLOC_SLICE_SHIFT
#    error "fastalloc: without an OS, regions use FASTALLOC_SLICE_SHIFT; leave FASTALLOC_REGION_SLICE_SHIFT undefined"
#  endif
#  undef FASTALLOC_REGION_SLICE_SHIFT
#  define FASTALLOC_REGION_SLICE_SHIFT FASTALLOC_SLICE_SHIFT
#elif !defined(FASTALLOC_REGION_SLICE_SHIFT)
#  define FASTALLOC_REGION_SLICE_SHIFT 10
#endif
#ifndef FASTALLOC_RETIRE_CYCLES
#  define FASTALLOC_RETIRE_CYCLES 16
#endif
#ifndef FASTALLOC_ZERO_TRACKING
#  define FASTALLOC_ZERO_TRACKING 1
#endif
#ifndef FASTALLOC_PURGE_DELAY_MS
#  define FASTALLOC_PURGE_DELAY_MS 10
#endif
/* A purge decommits (Windows: MEM_DECOMMIT; POSIX: PROT_NONE as well as the page release) so the
   purged range stops counting against the system's commit limit; it is committed again when a page
   is laid on it. Windows has no cheaper way to drop pages that then read zero. */
#ifndef FASTALLOC_PURGE_DECOMMITS
#  if defined(FA__WINDOWS)
#    define FASTALLOC_PURGE_DECOMMITS 1
#  else
#    define FASTALLOC_PURGE_DECOMMITS 0
#  endif
#endif
/* FASTALLOC_HUGE_PAGES: from how many MiB mapped (or a quarter of that held by the heap asking)
   segments get transparent huge pages (>>os). Not from the start, because the kernel then backs
   memory 2 MiB at a time and a small program's resident memory would jump several-fold; a program
   that maps tens of MiB, or a heap that filled two segments, gains more from the fewer faults than
   it pays. Segments mapped for a block of a MiB or more, and mid-sized huge blocks, get them from
   the start (-1: never). Only Linux has the advice. */
#ifndef FASTALLOC_HUGE_PAGES
#  define FASTALLOC_HUGE_PAGES 32
#endif
#define FA__HUGE_PAGES_FROM_MIB (FASTALLOC_HUGE_PAGES + 0)
#if FA__HUGE_PAGES_FROM_MIB < -1
#  error "fastalloc: FASTALLOC_HUGE_PAGES is -1 (never) or the MiB mapped from which huge pages are used"
#endif
/* FASTALLOC_GUARD_SAMPLE: about one allocation in N (its value; 0 or empty: the default, 2^18) of
   at most FA__GUARD_MAX bytes gets a mapping of its own with a guard page after it (see >>guard).
   A bare -DFASTALLOC_GUARD_SAMPLE is 1 to the compiler: every such allocation (debugging only). It
   needs page protection from the OS, so it is an error where there is none (FASTALLOC_NO_OS, wasm). */
#ifdef FASTALLOC_GUARD_SAMPLE
#  if defined(FASTALLOC_NO_OS) || defined(__wasm__)
#    error "fastalloc: FASTALLOC_GUARD_SAMPLE needs page protection (mprotect, or VirtualFree decommit on Windows): not with FASTALLOC_NO_OS or on WebAssembly"
#  endif
#  define FA__GUARD_SAMPLE_VALUE_ FASTALLOC_GUARD_SAMPLE + 0   /* empty: 0, the default below */
#  if FA__GUARD_SAMPLE_VALUE_ == 0
#    define FA__GUARD_RATE ((int64_t)1 << 18)
#  elif FA__GUARD_SAMPLE_VALUE_ < 1
#    error "fastalloc: FASTALLOC_GUARD_SAMPLE is a rate N >= 1 (one allocation in N), or empty for the default"
#  else
#    define FA__GUARD_RATE ((int64_t)(FASTALLOC_GUARD_SAMPLE))
#  endif
#  define FA__GUARD_SAMPLING 1
#else
#  define FA__GUARD_SAMPLING 0
#endif
/* Two-line page descriptors (>>types) only pay where other threads free into a thread's pages. */
#if !defined(FASTALLOC_PAGE_LINES) && UINTPTR_MAX > 0xFFFFFFFFu && !defined(FASTALLOC_SINGLE_THREAD)
#  define FA__PAGE_LINES 2
#elif !defined(FASTALLOC_PAGE_LINES)
#  define FA__PAGE_LINES 1
#elif FASTALLOC_PAGE_LINES + 0 == 1 || (FASTALLOC_PAGE_LINES + 0 == 2 && UINTPTR_MAX > 0xFFFFFFFFu)
#  define FA__PAGE_LINES (FASTALLOC_PAGE_LINES)
#elif FASTALLOC_PAGE_LINES + 0 == 2
#  error "fastalloc: FASTALLOC_PAGE_LINES 2 needs a 64-bit target"
#  define FA__PAGE_LINES 1   /* the error alone, not others it would cause */
#else
#  error "fastalloc: FASTALLOC_PAGE_LINES is 1 or 2"
#  define FA__PAGE_LINES 1
#endif
#if FASTALLOC_SEGMENT_SHIFT - FASTALLOC_SLICE_SHIFT > 6 || FASTALLOC_SEGMENT_SHIFT - FASTALLOC_SLICE_SHIFT < 3
#  error "fastalloc: a segment must hold 8 to 64 slices (3 <= SEGMENT_SHIFT - SLICE_SHIFT <= 6)"
#endif
/* Slices are the unit memory goes back to the OS in, so with an OS they are at least its page. */
#if FASTALLOC_SLICE_SHIFT < 12 && !defined(FASTALLOC_NO_OS)
#  error "fastalloc: FASTALLOC_SLICE_SHIFT must be at least 12 (4 KiB slices); 10 with FASTALLOC_NO_OS"
#endif
#if FASTALLOC_SLICE_SHIFT < 10 || FASTALLOC_REGION_SLICE_SHIFT < 10
#  error "fastalloc: slices are at least 1 KiB (FASTALLOC_SLICE_SHIFT, FASTALLOC_REGION_SLICE_SHIFT >= 10)"
#endif
/* A page's block counts are 16-bit: a one-slice page of 8-byte blocks must hold fewer than 2^16. */
#if FASTALLOC_SLICE_SHIFT > 18 || FASTALLOC_REGION_SLICE_SHIFT > FASTALLOC_SLICE_SHIFT
#  error "fastalloc: FASTALLOC_SLICE_SHIFT is at most 18, and FASTALLOC_REGION_SLICE_SHIFT at most that"
#endif
#if FASTALLOC_PURGE_DELAY_MS < -1
#  error "fastalloc: FASTALLOC_PURGE_DELAY_MS is -1 (never), 0 (next heartbeat) or a delay in ms"
#endif
#if FASTALLOC_RETIRE_CYCLES < 0 || FASTALLOC_RETIRE_CYCLES > 255
#  error "fastalloc: FASTALLOC_RETIRE_CYCLES must be 0..255"
#endif
#if !defined(__GNUC__) && !defined(__clang__) && !defined(_MSC_VER)
#  error "fastalloc: needs GCC, Clang or MSVC (atomics and bit scans: see >>platform)"
#endif

/* Sizes of the OS geometry (FASTALLOC_SLICE_SHIFT); a region's are the same multiples of its slice
   (see fa__geometry_*). FA__LARGE_MAX is the largest block of the page tiers in any geometry. */
#define FA__SLICE_BITS         (FASTALLOC_SEGMENT_SHIFT - FASTALLOC_SLICE_SHIFT)  /* log2 slices per segment */
#define FA__SEGMENT_SIZE       ((size_t)1 << FASTALLOC_SEGMENT_SHIFT)
#define FA__SLICE_SIZE         ((size_t)1 << FASTALLOC_SLICE_SHIFT)
#define FA__SLICES             (1u << FA__SLICE_BITS)
#define FA__ALL_SLICES         (FA__SLICES == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (FA__SLICES & 63)) - 1))
#define FA__SEGMENT_MASK       (FA__SEGMENT_SIZE - 1)
#define FA__SMALL_MAX          (FA__SLICE_SIZE / (FASTALLOC_SLICE_SHIFT == FASTALLOC_REGION_SLICE_SHIFT ? 8 : 32)) /* fa__geometry_small_max */
#define FA__MEDIUM_PAGE_SLICES (FA__SLICES / 8)
#define FA__MEDIUM_MAX         (FA__MEDIUM_PAGE_SLICES * FA__SLICE_SIZE / 8)
#define FA__LARGE_MAX          (FA__SEGMENT_SIZE / 2)               /* above: a block of its own      */
#define FA__TWO_GEOMETRIES     (FASTALLOC_REGION_SLICE_SHIFT != FASTALLOC_SLICE_SHIFT)
#define FA__DIRECT_MAX         1024                                 /* sizes served by the direct table */
#define FA__DIRECT_SLOTS       (FA__DIRECT_MAX / 8 + 1)
#define FA__BIN_MAX            (4 * (FASTALLOC_SEGMENT_SHIFT - 5) - 3) /* fa__bin_of(FA__LARGE_MAX), checked at start-up */
#define FA__BIN_FULL           (FA__BIN_MAX + 1)                    /* queue of pages with no free block */
#define FA__EXTEND_BYTES       ((size_t)8192)                        /* lazy free-list growth step     */
#define FA__QUICK_REFILLS      64    /* slow-path refills of the current page between two heartbeats */
#define FA__RETAINED_MAX       32    /* empty pages a heap keeps for reuse, all bins together        */
#define FA__RETAIN_BIN_SLICES  8     /* per bin; the last page of a bin is always kept                */
#define FA__REMOTE_SLOTS       (FA__THREADS ? 16 : 1) /* other threads' pages a thread heap gathers
                                                         frees for at once (no threads: never used) */
#define FA__REMOTE_BATCH_BYTES 4096  /* a gathering goes to its page once it holds this many bytes     */
#define FA__PTRDIFF_MAX        ((size_t)PTRDIFF_MAX)

/* =====================================================================================================
   >>platform  COMPILER SHIM
   Everything that depends on the compiler rather than the OS: branch hints, inlining, traps, thread-
   local storage, overflow checks, bit scans and atomics. GCC and Clang use their builtins (the
   atomics work in C and C++ alike, and ThreadSanitizer knows them); MSVC, and clang-cl, which
   defines _MSC_VER, use MSVC's intrinsics only, so a GNU extension cannot slip into that path.
   A single thread of control (tasks sharing it take turns under FASTALLOC_LOCK, which orders
   memory) uses plain loads and stores, so cores without exclusive access instructions need no
   runtime support.
   ===================================================================================================== */
#define FA__STATIC_ASSERT(c, name) typedef char fa__static_assert_##name[(c) ? 1 : -1]
#if defined(_MSC_VER)
#  include <intrin.h>
#  define FA__MSVC 1
#  define fa__likely(x)   (x)
#  define fa__unlikely(x) (x)
#  define fa__prefetch(p) ((void)(p))
#  define FA__NOINLINE    __declspec(noinline)
#  define FA__INLINE      static __forceinline
#  define FA__TRAP()      __fastfail(7)        /* FAST_FAIL_FATAL_APP_EXIT */
#  define FA__UNUSED
#  define FA__THREAD_LOCAL __declspec(thread)
#  define FA__LINE_ALIGNED __declspec(align(64))
#else
#  define fa__likely(x)   __builtin_expect(!!(x), 1)
#  define fa__unlikely(x) __builtin_expect(!!(x), 0)
#  define fa__prefetch(p) __builtin_prefetch(p)   /* a hint: never faults, NULL included */
#  define FA__NOINLINE    __attribute__((noinline))
#  define FA__INLINE      static inline __attribute__((always_inline))
#  define FA__TRAP()      __builtin_trap()
#  define FA__UNUSED      __attribute__((unused))
#  define FA__LINE_ALIGNED __attribute__((aligned(64)))
/* Initial-exec TLS where the object format has it (ELF): one segment-register load, even in a
   shared library (an LD_PRELOAD build). */
#  if defined(__ELF__)
#    define FA__THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
#  else
#    define FA__THREAD_LOCAL __thread
#  endif
#endif
/* A path inlined into its hottest callers for speed, but kept as one copy in a build for size
   (-Os, as firmware is built): there each copy costs more than the calls it saves. */
#if defined(__OPTIMIZE_SIZE__)
#  define FA__INLINE_HOT static
#else
#  define FA__INLINE_HOT FA__INLINE
#endif

/* ---- atomics --------------------------------------------------------------------------------------- */
#if defined(FASTALLOC_SINGLE_THREAD) && !defined(FA__MSVC)
#  define fa__load_relaxed(p)      (*(p))
#  define fa__load_acquire(p)      (*(p))
#  define fa__store_relaxed(p, v)  ((void)(*(p) = (v)))
#  define fa__store_release(p, v)  ((void)(*(p) = (v)))
#  define fa__exchange(p, v)       __extension__({ __typeof__(*(p)) fa__old_ = *(p); *(p) = (v); fa__old_; })
#  define fa__cas(p, expected, v)  __extension__({ bool fa__ok_ = *(p) == *(expected); \
                                       if (fa__ok_) *(p) = (v); else *(expected) = *(p); fa__ok_; })
#  define fa__add_fetch(p, v)      (*(p) += (v))
#  define fa__sub_fetch(p, v)      (*(p) -= (v))
#elif !defined(FA__MSVC)
#  define fa__load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#  define fa__load_acquire(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#  define fa__store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#  define fa__store_release(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#  define fa__exchange(p, v)       __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#  define fa__cas(p, expected, v)  __atomic_compare_exchange_n((p), (expected), (v), 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#  define fa__add_fetch(p, v)      __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#  define fa__sub_fetch(p, v)      __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#else
/* MSVC: every atomic object is one byte or one machine word (a pointer, uintptr_t, size_t or int of
   its size). Loads and stores of aligned words are atomic; volatile keeps the compiler from merging
   or tearing them, and the barriers order them (on Arm64 with dmb, on x86 the compiler alone). The
   read-modify-write operations are the Interlocked intrinsics, full barriers on every target.
   FA__TYPEOF gives the macros their operand's type back: __typeof__ in C (clang-cl; MSVC 17.9 and
   later), decltype in C++. */
#  ifdef __cplusplus
template <class T> struct fa__msvc_deref { typedef T type; };
template <class T> struct fa__msvc_deref<T&> { typedef T type; };
#    define FA__TYPEOF(x) fa__msvc_deref<decltype(x)>::type
#  else
#    define FA__TYPEOF(x) __typeof__(x)
#  endif
#  if defined(_M_ARM64) || defined(_M_ARM)
#    define fa__msvc_fence() __dmb(0xB)        /* _ARM64_BARRIER_ISH */
#  else
#    define fa__msvc_fence() _ReadWriteBarrier()
#  endif
FA__INLINE uintptr_t fa__msvc_load(const volatile void* p, size_t size) {
    uintptr_t v = size == 1 ? (uintptr_t)*(const volatile unsigned char*)p
                : size == 2 ? (uintptr_t)*(const volatile unsigned short*)p
                : size == 4 ? (uintptr_t)*(const volatile unsigned long*)p : (uintptr_t)*(const volatile unsigned __int64*)p;
    fa__msvc_fence();
    return v;
}
FA__INLINE void fa__msvc_store(volatile void* p, uintptr_t v, size_t size) {
    fa__msvc_fence();
    if (size == 1) *(volatile unsigned char*)p = (unsigned char)v;
    else if (size == 2) *(volatile unsigned short*)p = (unsigned short)v;
    else if (size == 4) *(volatile unsigned long*)p = (unsigned long)v;
    else *(volatile unsigned __int64*)p = (unsigned __int64)v;
}
FA__INLINE uintptr_t fa__msvc_exchange(volatile void* p, uintptr_t v, size_t size) {
    if (size == 1) return (uintptr_t)(unsigned char)_InterlockedExchange8((volatile char*)p, (char)v);
    if (size == 4) return (uintptr_t)(unsigned long)_InterlockedExchange((volatile long*)p, (long)v);
    return (uintptr_t)_InterlockedExchange64((volatile __int64*)p, (__int64)v);
}
FA__INLINE bool fa__msvc_cas(volatile void* p, void* expected, uintptr_t v, size_t size) {
    if (size == 1) {
        char want = *(char*)expected, seen = _InterlockedCompareExchange8((volatile char*)p, (char)v, want);
        *(char*)expected = seen;
        return seen == want;
    }
    if (size == 4) {
        long want = *(long*)expected, seen = _InterlockedCompareExchange((volatile long*)p, (long)v, want);
        *(long*)expected = seen;
        return seen == want;
    }
    __int64 want = *(__int64*)expected, seen = _InterlockedCompareExchange64((volatile __int64*)p, (__int64)v, want);
    *(__int64*)expected = seen;
    return seen == want;
}
FA__INLINE uintptr_t fa__msvc_add(volatile void* p, uintptr_t v, size_t size) {
    if (size == 4) return (uintptr_t)(unsigned long)_InterlockedExchangeAdd((volatile long*)p, (long)v) + v;
    return (uintptr_t)_InterlockedExchangeAdd64((volatile __int64*)p, (__int64)v) + v;
}
#  define fa__load_relaxed(p)      ((FA__TYPEOF(*(p)))fa__msvc_load((p), sizeof(*(p))))
#  define fa__load_acquire(p)      fa__load_relaxed(p)
#  define fa__store_relaxed(p, v)  fa__msvc_store((p), (uintptr_t)(v), sizeof(*(p)))
#  define fa__store_release(p, v)  fa__store_relaxed(p, v)
#  define fa__exchange(p, v)       ((FA__TYPEOF(*(p)))fa__msvc_exchange((p), (uintptr_t)(v), sizeof(*(p))))
#  define fa__cas(p, expected, v)  fa__msvc_cas((p), (void*)(expected), (uintptr_t)(v), sizeof(*(p)))
#  define fa__add_fetch(p, v)      ((FA__TYPEOF(*(p)))fa__msvc_add((p), (uintptr_t)(v), sizeof(*(p))))
#  define fa__sub_fetch(p, v)      ((FA__TYPEOF(*(p)))fa__msvc_add((p), (uintptr_t)0 - (uintptr_t)(v), sizeof(*(p))))
#endif

FA__INLINE size_t fa__align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
FA__INLINE bool fa__is_pow2(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

/* ---- overflow checks and bit scans in the target's word size (on 32-bit cores the 64-bit builtins
   would be libgcc calls) ------------------------------------------------------------------------ */
#if defined(FA__MSVC)
FA__INLINE bool fa__add_overflow(uintptr_t a, uintptr_t b, uintptr_t* sum) { *sum = a + b; return *sum < a; }
#  if SIZE_MAX > 0xffffffffu
FA__INLINE bool fa__mul_overflow(size_t a, size_t b, size_t* product) {
    unsigned __int64 high;
    *product = _umul128(a, b, &high);
    return high != 0;
}
FA__INLINE unsigned fa__msb(size_t n) { unsigned long i; _BitScanReverse64(&i, n); return (unsigned)i; }
FA__INLINE unsigned fa__ctz64(uint64_t n) { unsigned long i; _BitScanForward64(&i, n); return (unsigned)i; }
#  else
FA__INLINE bool fa__mul_overflow(size_t a, size_t b, size_t* product) {
    unsigned __int64 wide = (unsigned __int64)a * b;
    *product = (size_t)wide;
    return (wide >> 32) != 0;
}
FA__INLINE unsigned fa__msb(size_t n) { unsigned long i; _BitScanReverse(&i, (unsigned long)n); return (unsigned)i; }
FA__INLINE unsigned fa__ctz64(uint64_t n) {
    unsigned long i;
    if (_BitScanForward(&i, (unsigned long)n)) return (unsigned)i;
    _BitScanForward(&i, (unsigned long)(n >> 32));
    return 32u + (unsigned)i;
}
#  endif
#else
#  define fa__add_overflow(a, b, sum)     __builtin_add_overflow((a), (b), (sum))
#  define fa__mul_overflow(a, b, product) __builtin_mul_overflow((a), (b), (product))
#  if SIZE_MAX > 0xffffffffu
FA__INLINE unsigned fa__msb(size_t n) { return 63u - (unsigned)__builtin_clzll((unsigned long long)n); }
FA__INLINE unsigned fa__ctz64(uint64_t n) { return (unsigned)__builtin_ctzll((unsigned long long)n); }
#  else
FA__INLINE unsigned fa__msb(size_t n) { return 31u - (unsigned)__builtin_clz((unsigned)n); }
FA__INLINE unsigned fa__ctz64(uint64_t n) {
    uint32_t low = (uint32_t)n;
    return low != 0 ? (unsigned)__builtin_ctz(low) : 32u + (unsigned)__builtin_ctz((uint32_t)(n >> 32));
}
#  endif
#endif
/* Bits set in a slice mask (rare paths: a loop over the set bits serves). */
static size_t fa__bit_count(uint64_t bits) {
    size_t n = 0;
    for (; bits != 0; bits &= bits - 1) n++;
    return n;
}
static void* fa__fail(int err) { FASTALLOC_SET_ERRNO(err); return NULL; }

/* The heap is corrupted beyond use (a block freed twice, a write after free): stop here, in every
   build, rather than loop forever or hand one block out twice. A debug build says why first. */
#ifdef FASTALLOC_DEBUG
#  define FA__CORRUPTED(why) (FASTALLOC_ASSERT(!"fastalloc: heap corrupted: " why), FA__TRAP())
#else
#  define FA__CORRUPTED(why) FA__TRAP()
#endif
/* FASTALLOC_SECURE: misuse it detects stops the program in every build of it (the assertion says
   why when assertions are on, the trap stops it when they are not). */
#define FA__SECURE_FAIL(why) (FASTALLOC_ASSERT(!why), FA__TRAP())

#ifdef FASTALLOC_NO_LIBC
/* Freestanding replacements for memset and memcpy, a word at a time where alignment allows. GCC
   would turn the loops back into calls to the very functions a freestanding program may lack. They
   are unused when the user supplies FASTALLOC_MEMSET/FASTALLOC_MEMCPY of their own. */
#  if defined(FA__MSVC)
typedef uintptr_t fa__word_t;
#  else
typedef uintptr_t __attribute__((may_alias)) fa__word_t;
#  endif
#  if defined(__GNUC__) && !defined(__clang__)
#    define FA__NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#  else
#    define FA__NO_LIBCALLS
#  endif
static FA__NO_LIBCALLS FA__UNUSED void* fa__fill_bytes(void* dst, int c, size_t n) {
    unsigned char* d = (unsigned char*)dst;
    fa__word_t word = (fa__word_t)(unsigned char)c * (UINTPTR_MAX / 255u);
    for (; n != 0 && ((uintptr_t)d & (sizeof(fa__word_t) - 1)) != 0; n--) *d++ = (unsigned char)c;
    for (; n >= sizeof(fa__word_t); n -= sizeof(fa__word_t), d += sizeof(fa__word_t)) *(fa__word_t*)(void*)d = word;
    for (; n != 0; n--) *d++ = (unsigned char)c;
    return dst;
}
static FA__NO_LIBCALLS FA__UNUSED void* fa__copy_bytes(void* dst, const void* src, size_t n) {
    unsigned char* d = (unsigned char*)dst;
    const unsigned char* s = (const unsigned char*)src;
    if ((((uintptr_t)d ^ (uintptr_t)s) & (sizeof(fa__word_t) - 1)) == 0) {
        for (; n != 0 && ((uintptr_t)d & (sizeof(fa__word_t) - 1)) != 0; n--) *d++ = *s++;
        for (; n >= sizeof(fa__word_t); n -= sizeof(fa__word_t), d += sizeof(fa__word_t), s += sizeof(fa__word_t))
            *(fa__word_t*)(void*)d = *(const fa__word_t*)(const void*)s;
    }
    for (; n != 0; n--) *d++ = *s++;
    return dst;
}
#endif

/* Process-wide counters (see fa_stats_t). FA__STAT counts always; FA__XSTAT only with FASTALLOC_STATS
   because it sits on paths that run per allocation. */
static fa_stats_t fa__stats;
#define FA__STAT(field, n) ((void)fa__add_fetch(&fa__stats.field, (size_t)(n)))
#ifdef FASTALLOC_STATS
#  define FA__XSTAT(field, n) FA__STAT(field, n)
#else
#  define FA__XSTAT(field, n) ((void)0)
#endif

/* Moves a byte counter and the peak that goes with it. */
static void fa__note_bytes(size_t* counter, size_t* peak_counter, ptrdiff_t delta) {
    size_t now = fa__add_fetch(counter, (size_t)delta);
    size_t peak = fa__load_relaxed(peak_counter);
    while (now > peak && !fa__cas(peak_counter, &peak, now)) { }
}

/* =====================================================================================================
   >>threads  THREADS
   The only code that knows about threads: the thread-local heap pointer, owner ids and keys, the
   global lock, the thread-exit callback, fork handlers and the once-per-process start. FASTALLOC_SINGLE_THREAD
   replaces each with a stub in one place. Owner ids are handed out once per thread from a counter
   and never reused, so neither a thread that exits nor a fork (whose child may give a new thread a
   dead thread's stack and thread pointer) can make one thread take another's segments for its own.
   Ids are even and start at 2: the other values tag pages and page-map entries that the free fast
   path must not take (FA__NO_OWNER: no owner, or not now; FA__DISPATCH or 0: a map entry that is
   not a page), and a thread that has no id yet holds FA__NO_ID, which no page or entry holds. A
   page's xowner holds its owner's key, not its id (fa__thread_key): the thread pointer where the
   compiler reads it in one instruction, else the id; keys are what the free fast path compares,
   ids what every other owner test compares. The global lock guards the rare shared state:
   abandoned segments, the segment pool, the huge cache, thread heap records, region windows and
   the huge blocks of first-class heaps; a second lock, the page map's leaves. Backends: single
   thread (stubs), Windows, POSIX threads.
   ===================================================================================================== */
#define FA__NO_OWNER ((uintptr_t)1)
#define FA__DISPATCH ((uintptr_t)3)
#define FA__NO_ID    ((uintptr_t)5)
/* A secure build's tag for a page of several slices: its owner's key with the top bit flipped (see
   fa__page_owner_tag). Keys are even and below the top bit (ids from the counter; thread pointers,
   which are user-space addresses), so no key and none of the odd tags above is such a tag. */
#ifdef FASTALLOC_SECURE
#  define FA__SPAN_OWNER ((uintptr_t)1 << (8 * sizeof(uintptr_t) - 1))
#else
#  define FA__SPAN_OWNER ((uintptr_t)0)
#endif
static uintptr_t fa__thread_id_counter;

/* Two spinlocks, whose waiters yield the processor: the global lock over the rare shared state, and
   the page map's lock over making its leaves, which code under the global lock may need (the map's
   lock is always taken second). */
#define FA__SPINLOCK(yield)                                                                            \
    static int fa__global_lock_word, fa__map_lock_word;                                              \
    static void fa__spin_lock(int* word) {                                                           \
        while (fa__exchange(word, 1) != 0)                                                           \
            while (fa__load_relaxed(word) != 0) yield;                                               \
    }                                                                                                \
    static void fa__lock(void) { fa__spin_lock(&fa__global_lock_word); }                             \
    static void fa__unlock(void) { fa__store_release(&fa__global_lock_word, 0); }                    \
    static void fa__map_lock(void) { fa__spin_lock(&fa__map_lock_word); }                            \
    static void fa__map_unlock(void) { fa__store_release(&fa__map_lock_word, 0); }

#if defined(FASTALLOC_SINGLE_THREAD)
#  define FA__THREADS 0
#  define FA__TLS
#  define fa__yield() ((void)0)
static void fa__lock(void) { }
static void fa__unlock(void) { }
#  define fa__map_lock() ((void)0)
#  define fa__map_unlock() ((void)0)
#  define FA__LOCK_HELD() true
/* A single thread never ends: there is no exit callback to register or to arm. */
static void fa__threads_init(void (*on_exit)(void*)) { (void)on_exit; }
static void fa__thread_exit_arm(void* value) { (void)value; }
static void fa__once(void (*init)(void)) {
    static bool done;
    if (!done) { init(); done = true; }
}
#elif defined(FA__WINDOWS)
/* Windows: the thread-exit callback is a fiber-local storage callback, which the system runs for
   every thread that armed it (and which needs no DLL, unlike DllMain's THREAD_DETACH). There is no
   fork. */
#  define FA__THREADS 1
#  define FA__TLS FA__THREAD_LOCAL
#  define fa__yield() ((void)SwitchToThread())
FA__SPINLOCK(fa__yield())
#  define FA__LOCK_HELD() (fa__load_relaxed(&fa__global_lock_word) != 0)
static DWORD fa__fls_index = FLS_OUT_OF_INDEXES;
static void (*fa__on_thread_exit)(void*);
static void WINAPI fa__fls_callback(void* value) { if (value != NULL) fa__on_thread_exit(value); }
static void fa__threads_init(void (*on_exit)(void*)) {
    fa__on_thread_exit = on_exit;
    fa__fls_index = FlsAlloc(fa__fls_callback);
}
static void fa__thread_exit_arm(void* value) {
    if (fa__fls_index != FLS_OUT_OF_INDEXES) FlsSetValue(fa__fls_index, value);
}
/* 0: not run, 1: running, 2: done. */
static int fa__once_state;
static void fa__once(void (*init)(void)) {
    if (fa__load_acquire(&fa__once_state) == 2) return;
    int expected = 0;
    if (fa__cas(&fa__once_state, &expected, 1)) { init(); fa__store_release(&fa__once_state, 2); return; }
    while (fa__load_acquire(&fa__once_state) != 2) fa__yield();
}
#else
/* POSIX threads: the thread-exit callback is a key destructor, which runs with the value the
   thread armed. */
#  define FA__THREADS 1
#  define FA__TLS FA__THREAD_LOCAL
#  define fa__yield() sched_yield()
FA__SPINLOCK(fa__yield())
#  define FA__LOCK_HELD() (fa__load_relaxed(&fa__global_lock_word) != 0)

/* fork() copies the locks in whatever state another thread left them: hold them across the fork.
   The child's other threads are gone, and their pages must not keep keys a new thread may get. */
static void fa__map_disown_others(void);
static void fa__fork_prepare(void) { fa__lock(); fa__map_lock(); }
static void fa__fork_parent(void) { fa__map_unlock(); fa__unlock(); }
static void fa__fork_child(void) { fa__map_disown_others(); fa__map_unlock(); fa__unlock(); }

static pthread_key_t fa__thread_exit_key;
static void fa__threads_init(void (*on_exit)(void*)) {
    pthread_key_create(&fa__thread_exit_key, on_exit);
    pthread_atfork(fa__fork_prepare, fa__fork_parent, fa__fork_child);
}
static void fa__thread_exit_arm(void* value) { pthread_setspecific(fa__thread_exit_key, value); }
static pthread_once_t fa__process_once = PTHREAD_ONCE_INIT;
static void fa__once(void (*init)(void)) { pthread_once(&fa__process_once, init); }
#endif

static FA__TLS uintptr_t fa__tls_thread_id = FA__NO_ID;
FA__INLINE uintptr_t fa__thread_id(void) { return fa__tls_thread_id; }
static uintptr_t fa__thread_id_ensure(void) {
    if (fa__tls_thread_id == FA__NO_ID) fa__tls_thread_id = fa__add_fetch(&fa__thread_id_counter, (uintptr_t)2);
    return fa__tls_thread_id;
}

/* The key a page's xowner holds for the thread that owns it: on 64-bit Linux, where the compiler
   reads the thread pointer in one instruction (x86-64 with GCC 11+ or clang 14+, Arm64 with GCC
   7+ or clang 14+, RISC-V with GCC 11+), the thread pointer itself, so a shared library's free
   needs no load of its TLS offset (preloaded: one instruction fewer on every free); elsewhere the
   id. (32-bit targets keep ids: their thread pointers may have the top bit set, which a secure
   build's FA__SPAN_OWNER tag flips.) A thread pointer is unique among live threads (aligned, so
   even, and never a tag value) but comes back for a later thread:
   a thread's end gives its pages up (fa__segment_abandon), and a fork's child the pages of the
   threads that did not come along (fa__map_disown_others), so a key a page holds is a live
   thread's, except for a heap that a thread left without its exit callback (destructors that
   allocate after the last round): a later thread with the same pointer frees into its pages as
   their owner, alone, as the heap's thread would have. */
#define FA__TP_KEY 0
#if FA__THREADS && defined(__linux__) && SIZE_MAX > 0xffffffffu
#  if defined(__clang__)
#    if __clang_major__ >= 14 && (defined(__x86_64__) || defined(__aarch64__))
#      undef FA__TP_KEY
#      define FA__TP_KEY 1
#    endif
#  elif defined(__GNUC__) && !defined(__INTEL_COMPILER)
#    if (__GNUC__ >= 11 && (defined(__x86_64__) || defined(__riscv))) \
        || (__GNUC__ >= 7 && defined(__aarch64__))
#      undef FA__TP_KEY
#      define FA__TP_KEY 1
#    endif
#  endif
#endif
#if FA__TP_KEY
FA__INLINE uintptr_t fa__thread_key(void) { return (uintptr_t)__builtin_thread_pointer(); }
#else
FA__INLINE uintptr_t fa__thread_key(void) { return fa__thread_id(); }
#endif

/* Public entry points run under the user's lock hooks (FASTALLOC_LOCK); internal code never calls
   a public function, so the hooks are never taken twice. */
#define FA__SERIALIZED(type, expr) do { FASTALLOC_LOCK(); type fa__result_ = (expr); FASTALLOC_UNLOCK(); return fa__result_; } while (0)
#define FA__SERIALIZED_VOID(stmt)  do { FASTALLOC_LOCK(); stmt; FASTALLOC_UNLOCK(); } while (0)

/* =====================================================================================================
   >>types  TYPES, GEOMETRY AND FORWARD DECLARATIONS
   Blocks are bare memory with a link word while free. A page is a run of slices holding blocks of
   one size class; its descriptor (one or two cache lines) lives in its segment's header, never next
   to the blocks, so user writes cannot reach it. A segment is FA__SLICES slices, owned by one heap;
   the OS's segments and those cut from caller regions differ only in the slice size (their
   geometry). A heap owns segments and queues their pages by size class. Each struct's comments say
   who may write which field.
   ===================================================================================================== */
typedef struct fa__block_s { struct fa__block_s* next; } fa__block_t;
typedef struct fa__page_s fa__page_t;
typedef struct fa__segment_s fa__segment_t;
typedef struct fa_heap_s fa__heap_t;
typedef struct fa__region_s fa__region_t;

/* States of the low two bits of page->xthread_free: where a cross-thread free goes. */
enum { FA__DELAY_NONE = 0,     /* push onto the page's thread_free list                          */
       FA__DELAY_USE = 1,      /* page is full: the next freer tells the owning heap              */
       FA__DELAY_FREEING = 2,  /* a freer is telling the heap right now                           */
       FA__DELAY_NEVER = 3 };  /* no owner (abandoned) or owner leaving: page list only           */
#define FA__DELAY_MASK ((uintptr_t)3)

/* page->flags, read by any thread. IN_FULL and HAS_ALIGNED keep the free fast path off the page
   (xowner says FA__NO_OWNER). */
enum { FA__PAGE_IN_FULL = 1, FA__PAGE_HAS_ALIGNED = 2, FA__PAGE_IN_USE = 4 };
#define FA__PAGE_SLOW_FREE (FA__PAGE_IN_FULL | FA__PAGE_HAS_ALIGNED)
/* page->zero, the owner's alone. */
enum { FA__ZERO_FREE = 1,    /* every block on `free` reads zero past its link word */
       FA__ZERO_FRESH = 2 }; /* blocks never handed out yet read zero               */
enum { FA__SEGMENT_NORMAL = 0, FA__SEGMENT_HUGE = 1 };
#define FA__HEAD ((uint8_t)0x80)   /* slice_offset of a page's first entry: FA__HEAD | its index */

/* A page's first block is at the start of its first slice (fa__page_start) and its heap is its
   segment's heap. Only the owning heap's thread writes a page, except xthread_free (any thread,
   atomically); xowner is read by any thread. Two groups: what other threads' frees read (owner,
   thread_free, size, layout; written when the page changes state) and what the owner's malloc and
   free write every time. With FASTALLOC_PAGE_LINES 2 each group has a cache line of its own (128
   bytes): the owner's mallocs no longer take the line other threads' frees read away from them;
   their push onto thread_free still takes it from the owner, once per gathering. With 1 the same
   fields fill 64 bytes on 64-bit targets (40 on 32-bit ones). */
#if FA__PAGE_LINES == 2
#  define FA__OWNER_LINE FA__LINE_ALIGNED   /* the owner's fields start the second line */
#else
#  define FA__OWNER_LINE
#endif
#ifdef _MSC_VER
#  pragma warning(push)
#  pragma warning(disable : 4324)   /* padded for FA__OWNER_LINE and FA__PAGES_ALIGNED: that is the point */
#endif
struct fa__page_s {
    /* read by other threads */
    uintptr_t xowner;            /* atomic: the owner's key (>>threads) while its frees may take the
                                    fast path (not full, no aligned blocks; secure builds flip
                                    its top bit on pages of several slices, FA__SPAN_OWNER),
                                    else FA__NO_OWNER. First, so a page-map entry is a pointer
                                    to it.                                                   */
    uintptr_t xthread_free;      /* atomic: other threads' frees (64-bit: with their count,
                                    see fa__tf_head) | FA__DELAY_* state                     */
#ifdef FASTALLOC_SECURE
    uintptr_t key;               /* free-list key (see FASTALLOC_SECURE in >>track): set with
                                    the page, read by every malloc and free (another thread's
                                    too, to link its frees); prev moves out to make room     */
#endif
    uint32_t block_size;
    uint16_t capacity;           /* blocks threaded into lists so far (lazy)                 */
    uint16_t reserved;           /* blocks that fit                                         */
    uint8_t flags;               /* atomic: FA__PAGE_*, written by the owner only           */
    uint8_t bin;
    uint8_t slice_count;         /* slices of this page (entry of its first slice)           */
    uint8_t slice_offset;        /* first entry: FA__HEAD | its index; others: entries back  */
    /* the owner's */
    FA__OWNER_LINE uint16_t used; /* blocks out, including ones sitting in thread_free        */
    uint8_t retire_expire;       /* heartbeats left before an empty page goes back; != 0 iff
                                    the page is in its heap's retained set                  */
    uint8_t zero;                /* FA__ZERO_*                                              */
    fa__block_t* free;           /* malloc pops here                                        */
    fa__block_t* local_free;     /* owner's frees; merged into free when free runs dry       */
    fa__page_t* next;            /* heap queue links (prev: fa__page_prev)                   */
#ifndef FASTALLOC_SECURE
    fa__page_t* prev;
#endif
};

/* 64-bit targets: a descriptor starts a line (on 32-bit ones it is 40 bytes, and the header stays small). */
#if UINTPTR_MAX > 0xFFFFFFFFu
#  define FA__PAGES_ALIGNED FA__LINE_ALIGNED
#else
#  define FA__PAGES_ALIGNED
#endif
/* The header at a segment's start. Only the owning heap's thread changes it; other threads read
   thread_id and heap, and push onto its pages' xthread_free. */
struct fa__segment_s {
    uintptr_t thread_id;         /* atomic: owner's fa__thread_id, FA__NO_OWNER if none       */
    fa__heap_t* heap;            /* atomic: owner heap; NULL when abandoned, or huge and not
                                    a first-class heap's (those track their huge blocks)     */
    fa__segment_t* next;         /* links of the one list the segment is on: its heap's   */
    fa__segment_t* prev;         /* segments, the abandoned list, the segment pool, or (huge) its
                                    heap's huge blocks                                       */
    uintptr_t cookie;            /* checked in debug builds: the header was not overwritten   */
    size_t map_size;             /* bytes from the header on that belong to the segment      */
    fa__region_t* region;        /* where the memory came from; NULL: the OS                 */
    size_t huge_written;         /* huge: bytes from the block start the caller may have written */
    size_t huge_tail;            /* huge: bytes mapped past map_size, kept from a bigger cached
                                    mapping the block was cut from (not the block's)         */
    size_t huge_dirty;           /* huge: bytes from the header on that may be non-zero, past
                                    the block included (its tail, a cached mapping's body)   */
    uint64_t used_mask;          /* a bit per slice owned by a page or the header (or past the
                                    end of a region)                                         */
    uint64_t dirty_mask;         /* a bit per slice that may hold non-zero bytes              */
    uint64_t decommit_mask;      /* a bit per free slice a purge decommitted (FASTALLOC_PURGE_DECOMMITS) */
    uint64_t purge_at;           /* abandoned: clock_ms after which its free slices are purged
                                    (0: only by fa_collect)                                  */
    uint32_t page_count;         /* pages in use                                            */
    uint8_t kind;                /* FA__SEGMENT_*                                            */
    uint8_t slice_shift;         /* its geometry: FASTALLOC_SLICE_SHIFT or (regions)
                                    FASTALLOC_REGION_SLICE_SHIFT                             */
    uint8_t guarded;             /* 1: an inaccessible OS page follows map_size, unmapped with
                                    the segment (fa__segment_map; huge blocks, sampled ones) */
    uint8_t sampled;             /* 1: a sampled block's slot (>>guard): freed into the guard
                                    quarantine, never cached, resized or purged              */
    uint8_t gatherable;          /* atomic: 1 while a thread heap owns it (or its thread left):
                                    other threads may hold its blocks back (fa__free_remote) */
#ifdef FASTALLOC_SECURE
    fa__page_t* page_prevs[FA__SLICES + 1]; /* per page entry, its queue's prev link (fa__page_prev):
                                    the descriptor holds the free-list key in its place      */
#endif
    /* Entry per slice; in a region the extra one serves huge blocks that start exactly one segment
       after the header. On cache-line boundaries: a descriptor straddling two lines shared one with
       its neighbour, which another thread's page may be, and both lines moved between cores
       (compiled in, against descriptors at offset 104: prodcons-2/-4/-64 0.77/0.78/0.76x, larson-4
       0.84x, single-threaded workloads unchanged). */
    FA__PAGES_ALIGNED fa__page_t pages[FA__SLICES + 1];
};
#ifdef _MSC_VER
#  pragma warning(pop)
#endif
FA__STATIC_ASSERT(sizeof(fa__page_t) == 64 * FA__PAGE_LINES || sizeof(void*) < 8, page_descriptor_fills_its_lines);
FA__STATIC_ASSERT(FASTALLOC_SEGMENT_SHIFT <= 32, block_sizes_fit_32_bits);
FA__STATIC_ASSERT(offsetof(fa__segment_t, pages) % 64 == 0 || sizeof(void*) < 8, page_descriptors_start_on_a_cache_line);

/* ---- geometry: everything a slice size decides ------------------------------------------------------ */
FA__INLINE unsigned fa__seg_shift(const fa__segment_t* seg) {
    return FA__TWO_GEOMETRIES ? seg->slice_shift : (unsigned)FASTALLOC_SLICE_SHIFT;
}
FA__INLINE size_t fa__geometry_slice(unsigned shift) { return (size_t)1 << shift; }
FA__INLINE size_t fa__geometry_segment(unsigned shift) { return (size_t)FA__SLICES << shift; }
/* Small blocks share one-slice pages of at least 32 blocks in the OS geometry: with 8, pages of 2-8 KiB
   blocks filled after a handful of mallocs and every cross-thread free moved one between the full and
   the usable queue (rptest-2 ran twice as long). A region's geometry keeps 8 (memory is tight there). */
FA__INLINE size_t fa__geometry_small_max(unsigned shift) { return fa__geometry_slice(shift) / (shift == FASTALLOC_REGION_SLICE_SHIFT ? 8 : 32); }
FA__INLINE size_t fa__geometry_medium_max(unsigned shift) { return FA__MEDIUM_PAGE_SLICES * fa__geometry_slice(shift) / 8; }
FA__INLINE size_t fa__geometry_large_max(unsigned shift) { return fa__geometry_segment(shift) / 2; } /* above: huge */
FA__INLINE size_t fa__geometry_header_slices(unsigned shift) {
    return (sizeof(fa__segment_t) + fa__geometry_slice(shift) - 1) >> shift;
}
FA__INLINE uint64_t fa__geometry_header_mask(unsigned shift) {
    return ((uint64_t)1 << fa__geometry_header_slices(shift)) - 1;
}
#define FA__HEADER_SLICES ((sizeof(fa__segment_t) + FA__SLICE_SIZE - 1) / FA__SLICE_SIZE) /* OS geometry */
#define FA__HEADER_BYTES  (FA__HEADER_SLICES * FA__SLICE_SIZE)
FA__STATIC_ASSERT(FA__HEADER_SLICES <= FA__SLICES / 2 - 1, segment_header_leaves_room_for_large_pages);
FA__STATIC_ASSERT((sizeof(fa__segment_t) + ((size_t)1 << FASTALLOC_REGION_SLICE_SHIFT) - 1) / ((size_t)1 << FASTALLOC_REGION_SLICE_SHIFT)
                  <= FA__SLICES / 2 - 1, region_segment_header_leaves_room_for_large_pages);

/* ---- the page map (with an OS): address -> page ------------------------------------------------ */
/* A map entry is what the free path reads for an address: a pointer to a page's xowner, or to a
   dispatch record (xowner FA__DISPATCH) for memory that is not an OS page: caller regions, whose
   pages the region finds, and everything else ("not ours"). */
typedef struct fa__dispatch_s {
    uintptr_t xowner;            /* FA__DISPATCH                                            */
    const fa__region_t* region;  /* addresses inside it are its blocks; NULL: none          */
    uintptr_t prev;              /* the map entry this one covers (outside the region)      */
} fa__dispatch_t;

/* Caller memory that segments are cut from (see >>regions). Window bits change under the lock. */
#define FA__REGION_RUNS 4
struct fa__region_s {
    uint8_t* base;               /* first window                                            */
    uint8_t* limit;              /* end of what windows may use; the bookkeeping starts here */
    size_t window_count;         /* windows that begin below limit                          */
    uint64_t* window_bits;       /* a bit per window, set while in use                      */
    fa__region_t* next;          /* without an OS: the list the free path searches          */
    uintptr_t lo, hi;            /* the caller's memory                                     */
#ifndef FASTALLOC_NO_OS
    fa__dispatch_t dispatch[3];  /* map entries for its granules: inside, first, last        */
    struct {                     /* what the map said before, to put back on destroy       */
        uintptr_t first_granule, count, entry;
    } runs[FA__REGION_RUNS];
    size_t run_count;
#endif
};
#define FA__REGION_ALIGN ((uintptr_t)64)     /* region bases: blocks need 16, 64 is a cache line */

typedef struct fa__page_queue_s {
    fa__page_t* first;
    fa__page_t* last;
    uint16_t retained_slices;         /* of this bin's pages in heap->retained (at most
                                         FA__RETAINED_MAX pages of FA__SLICES) */
    uint8_t medium_slices;            /* a medium bin: slices of its next fresh page (>>pages);
                                         the two fit where a size_t was, so a heap in a region
                                         costs it no more */
} fa__page_queue_t;

enum { FA__HEAP_THREAD = 0, FA__HEAP_FIRST_CLASS = 1, FA__HEAP_GONE = 2 };  /* heap->kind */
/* Blocks this thread freed into one page of another thread's, not yet pushed there (>>free). */
typedef struct {
    fa__page_t* page;                 /* NULL: the slot is empty */
    fa__block_t* head;                /* linked through the blocks, tail last */
    fa__block_t* tail;
    uint32_t count;
} fa__remote_batch_t;
enum { FA__HOME_POOL = 0, FA__HOME_BLOCK = 1, FA__HOME_REGION = 2 };        /* where the record lives */

/* A heap. Only its thread touches it, except `delayed_free`, onto which other threads push blocks
   freed into its full pages, and `huge`, which any thread's free of a huge block changes under the
   global lock. */
struct fa_heap_s {
    fa__page_t* direct[FA__DIRECT_SLOTS]; /* word count -> first page of the matching bin */
    fa__page_queue_t queues[FA__BIN_FULL + 1];
    uintptr_t thread_id;
    uintptr_t thread_key;             /* what its pages' xowner holds (fa__thread_key) */
    fa__block_t* delayed_free;        /* atomic */
    fa__segment_t* segments;          /* owned segments with pages (doubly linked) */
    fa__segment_t* spare_segment;     /* one empty OS segment kept against map/unmap churn */
    fa__region_t* region;             /* where new segments come from; NULL: the default source */
    fa__segment_t* huge;              /* first-class heaps: their huge blocks; every heap: its
                                         sampled blocks (>>guard). Global lock */
    fa__heap_t* first_class;          /* thread heaps: the thread's first-class heaps */
    fa__heap_t* sibling_next;         /* first-class heaps: links of that list */
    fa__heap_t* sibling_prev;
    size_t quick_refills;             /* since the last heartbeat */
    uint64_t purge_at;                /* clock_ms after which free slices are purged; 0: none */
    size_t slices_retaken;            /* free slices not yet purged that its new pages took, ever */
    size_t retaken_at_deadline;       /* slices_retaken when purge_at was armed or moved on */
    size_t retained_count;
    fa__page_t* retained[FA__RETAINED_MAX]; /* empty pages kept for reuse: exactly those with retire_expire != 0 */
    fa__heap_t* pool_next;            /* free thread heap records */
    fa__remote_batch_t remote[FA__REMOTE_SLOTS]; /* thread heaps: frees gathered for other threads' pages */
    uint8_t kind;                     /* FA__HEAP_* */
    uint8_t home;                     /* FA__HOME_* */
    uint8_t slice_shift;              /* geometry of its segments; 0 until its source is known */
    uint8_t others_emptied;           /* 1: a page of it may be empty, its blocks all freed by
                                         other threads and waiting on its cross-thread list */
#if FA__GUARD_SAMPLING
    uint8_t guard_hold;               /* 1: no sample now (an aligned request is being served) */
    int64_t guard_countdown;          /* blocks to hand out before the next sample (>>guard) */
    uint64_t guard_rng;               /* xorshift state drawing the sampling intervals */
#endif
};

/* Functions used before their section defines them (the data path runs both ways: segments adopt
   pages into queues, pages release emptied segments). */
static bool fa__page_check(const fa__page_t* page);
static void fa__check_pop(const fa__page_t* page, fa__block_t* block);
static void fa__debug_mark_fresh(const fa__page_t* page, uint8_t* first, size_t count);
static void fa__check_handout(void* p);
static void fa__check_free(const void* p);
static void fa__region_release(fa__region_t* region, const void* start, size_t size);
static fa__segment_t* fa__segment_init(void* mem, size_t size, uint32_t kind, bool is_zero, fa__region_t* region);
static void fa__segment_release(fa__heap_t* heap, fa__segment_t* seg);
/* A sampled block's slot (>>guard); never one without FASTALLOC_GUARD_SAMPLE. */
#define fa__seg_sampled(seg) (FA__GUARD_SAMPLING && (seg)->sampled)
#if FA__GUARD_SAMPLING
static void fa__guard_retire(fa__segment_t* seg);
#else
#  define fa__guard_retire(seg) ((void)0)
#endif
static void fa__page_collect(fa__page_t* page);
static void fa__page_collect_thread_free(fa__page_t* page);
static void fa__page_set_delay(fa__page_t* page, uintptr_t state);
static void fa__page_set_owner(fa__page_t* page, uintptr_t owner);
static void fa__page_set_flags(fa__page_t* page, uint8_t flags);
static void fa__page_unsetup(fa__page_t* page);
static void fa__queue_push_back(fa__heap_t* heap, fa__page_queue_t* q, fa__page_t* page);
static void fa__heap_schedule_purge(fa__heap_t* heap);
static bool fa__heap_make_room(fa__heap_t* heap);
static fa__region_t* fa__heap_source(const fa__heap_t* heap);
static void fa__free_local(fa__page_t* page, fa__block_t* block);
static void fa__remote_flush_all(fa__heap_t* heap);
static void fa__free(void* p);
static void* fa__heap_malloc(fa__heap_t* heap, size_t size, bool zero);
static size_t fa__usable_size(const void* p);
static bool fa__heap_walk(fa__heap_t* heap, fa_visit_fn visit, void* arg);

/* =====================================================================================================
   >>track  MEMORY TOOLS: ADDRESSSANITIZER AND VALGRIND
   Built with AddressSanitizer (seen from __SANITIZE_ADDRESS__ or __has_feature) or with
   FASTALLOC_VALGRIND (memcheck's client requests, from <valgrind/memcheck.h>), fastalloc tells the
   tool what it does, so the tool judges its blocks as it judges malloc's. A block handed out is
   addressable for the size asked (one byte for size 0), the rest of it (slack, an aligned block's
   lead) is not; free blocks, blocks never handed out and the free slices of a segment are not
   either (the tool reports any access). fa_usable_size makes a block's whole usable size
   addressable, since the rules let the caller write all of it. The allocator's own accesses to
   memory the caller may not touch (free-list links, marks, canaries, clearing and copying in
   realloc) go through the quiet accessors here, which the tool does not check and which change no
   state. Memory that goes back to the OS or to a caller's region is made addressable again first,
   so that whoever maps it next starts clean (AddressSanitizer does not reset its shadow on munmap).
   Huge blocks on the OS are marked only where it is cheap: their slack, and their whole body only
   where the huge cache may keep them. Invariant: what is open of a block is a prefix from the
   pointer handed out (a block that grows in place closes what it gains until it is handed out
   again), so a resize touches only the bytes that change state. A free checks the pointer first (not fastalloc's, inside a
   block, already free) and has the tool report it (see >>debug). Invariant: everything here
   compiles to nothing unless a tool is on, and changes no behaviour when it is.
   ===================================================================================================== */
#if defined(__SANITIZE_ADDRESS__)
#  define FA__ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define FA__ASAN 1
#  endif
#endif
#ifndef FA__ASAN
#  define FA__ASAN 0
#endif
#if defined(FASTALLOC_VALGRIND) && !FA__ASAN
#  include <valgrind/memcheck.h>
#  define FA__VALGRIND 1
#else
#  define FA__VALGRIND 0
#endif
#define FA__TRACK (FA__ASAN || FA__VALGRIND)

#if FA__ASAN
#  include <sanitizer/asan_interface.h>
#  if defined(FA__MSVC)
#    define FA__QUIET __declspec(no_sanitize_address) __declspec(noinline)
#  else
#    define FA__QUIET __attribute__((no_sanitize_address, noinline))
#  endif
/* Word stores through volatile, so that no compiler turns the loops into memset or memcpy, which
   the sanitizer's runtime would check. */
static FA__QUIET uintptr_t fa__quiet_load(const void* p) { return *(const volatile uintptr_t*)p; }
static FA__QUIET void fa__quiet_store(void* p, uintptr_t v) { *(volatile uintptr_t*)p = v; }
static FA__QUIET void fa__quiet_fill(void* dst, size_t n) {
    volatile unsigned char* d = (volatile unsigned char*)dst;
    for (; n != 0 && ((uintptr_t)d & (sizeof(uintptr_t) - 1)) != 0; n--) *d++ = 0;
    for (; n >= sizeof(uintptr_t); n -= sizeof(uintptr_t), d += sizeof(uintptr_t)) *(volatile uintptr_t*)d = 0;
    for (; n != 0; n--) *d++ = 0;
}
static FA__QUIET void fa__quiet_copy(void* dst, const void* src, size_t n) {
    volatile unsigned char* d = (volatile unsigned char*)dst;
    const volatile unsigned char* s = (const volatile unsigned char*)src;
    for (; n != 0; n--) *d++ = *s++;
}
static void fa__track_open(const void* p, size_t n) { __asan_unpoison_memory_region(p, n); }
static void fa__track_close(const void* p, size_t n) { __asan_poison_memory_region(p, n); }
#elif FA__VALGRIND
/* memcheck checks every access: the allocator's own ones run with its reports off for this thread.
   A word read may be the caller's uninitialised data (an aligned mark looked for): it is compared,
   so it counts as defined. */
static uintptr_t fa__quiet_load(const void* p) {
    VALGRIND_DISABLE_ERROR_REPORTING;
    uintptr_t v = *(const volatile uintptr_t*)p;
    VALGRIND_ENABLE_ERROR_REPORTING;
    (void)VALGRIND_MAKE_MEM_DEFINED(&v, sizeof v);
    return v;
}
static void fa__quiet_store(void* p, uintptr_t v) {
    VALGRIND_DISABLE_ERROR_REPORTING;
    *(volatile uintptr_t*)p = v;
    VALGRIND_ENABLE_ERROR_REPORTING;
}
static void fa__quiet_fill(void* dst, size_t n) {
    VALGRIND_DISABLE_ERROR_REPORTING;
    FASTALLOC_MEMSET(dst, 0, n);
    VALGRIND_ENABLE_ERROR_REPORTING;
}
static void fa__quiet_copy(void* dst, const void* src, size_t n) {
    VALGRIND_DISABLE_ERROR_REPORTING;
    FASTALLOC_MEMCPY(dst, src, n);
    VALGRIND_ENABLE_ERROR_REPORTING;
}
static void fa__track_open(const void* p, size_t n) { (void)VALGRIND_MAKE_MEM_DEFINED(p, n); }
static void fa__track_close(const void* p, size_t n) { (void)VALGRIND_MAKE_MEM_NOACCESS(p, n); }
#endif

#if FA__TRACK
#  define fa__link_get(page, block)       ((void)(page), (fa__block_t*)fa__quiet_load(&(block)->next))
#  define fa__link_set(page, block, link) ((void)(page), fa__quiet_store(&(block)->next, (uintptr_t)(link)))
#  define fa__word_get(p, i)        fa__quiet_load((const uintptr_t*)(const void*)(p) + (i))
#  define fa__word_set(p, i, v)     fa__quiet_store((uintptr_t*)(void*)(p) + (i), (v))
#  define FA__FILL_ZERO(p, n)       fa__quiet_fill((p), (n))
#  define FA__COPY(d, s, n)         fa__quiet_copy((d), (s), (n))
#else
#  define fa__link_get(page, block)       ((void)(page), (block)->next)
#  define fa__link_set(page, block, link) ((void)(page), (void)((block)->next = (link)))
#  define fa__word_get(p, i)        (((const uintptr_t*)(const void*)(p))[i])
#  define fa__word_set(p, i, v)     ((void)(((uintptr_t*)(void*)(p))[i] = (v)))
#  define FA__FILL_ZERO(p, n)       FASTALLOC_MEMSET((p), 0, (n))
#  define FA__COPY(d, s, n)         FASTALLOC_MEMCPY((d), (s), (n))
#  define fa__track_open(p, n)      ((void)0)
#  define fa__track_close(p, n)     ((void)0)
#endif

/* FASTALLOC_SECURE: a free block's link word holds its link encoded with its page's secret key and
   the block's own address, link ^ (block * key) (the key is odd, so the product keeps every bit of
   the address; the multiply runs beside the link's load, off the chain from block to block, where a
   rotate and two xors sat on it), so a write of anything but the
   allocator's own encoding (an overflow from the block before, a write after free) decodes to an
   address an attacker cannot aim, which the next malloc finds without its block's tag (or
   fa__link_next finds out of reach) and the program stops there; a link copied from another block,
   or from another page, decodes wrong. Each page gets a fresh key when it is laid out
   (fa__page_setup), kept in its descriptor in the segment's header (fa__page_key), so the key a
   leak reveals opens that page alone. The keys come from one seed taken at the first
   segment's init (fa__secure_seed in >>segments); the page key also keys the double-free tag
   (>>debug), and the seed the order of fresh free lists (fa__page_extend). */
#ifdef FASTALLOC_SECURE
/* A 64-bit finaliser (xor-shift, multiply by odd constants): every input bit moves every output bit. */
static uint64_t fa__mix64(uint64_t x) {
    x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}
static struct { uintptr_t seed, order, counter; } fa__secure;
FA__INLINE uintptr_t fa__page_key(const fa__page_t* page);
/* The double-free tag of a free block of `page` (>>debug): its address plus the page key, one
   instruction; the two words of a free block xored together still do not cancel the key (and give
   the link), as a sum and a product mix it differently. */
FA__INLINE uintptr_t fa__secure_tag_key(uintptr_t key, const void* block) { return (uintptr_t)block + key; }
FA__INLINE uintptr_t fa__secure_tag(const fa__page_t* page, const void* block) { return fa__secure_tag_key(fa__page_key(page), block); }
FA__INLINE uintptr_t fa__secure_encode_key(uintptr_t key, const fa__block_t* block, const fa__block_t* link) {
    return (uintptr_t)link ^ ((uintptr_t)block * key);
}
FA__INLINE uintptr_t fa__secure_encode(const fa__page_t* page, const fa__block_t* block, const fa__block_t* link) {
    return fa__secure_encode_key(fa__page_key(page), block, link);
}
FA__INLINE fa__block_t* fa__secure_decode(const fa__page_t* page, const fa__block_t* block, uintptr_t stored) {
    return (fa__block_t*)fa__secure_encode(page, block, (const fa__block_t*)stored);   /* an involution */
}
#  undef fa__link_get
#  undef fa__link_set
#  if FA__TRACK
#    define fa__link_get(page, block)       fa__secure_decode((page), (block), fa__quiet_load(&(block)->next))
#    define fa__link_set(page, block, link) fa__quiet_store(&(block)->next, fa__secure_encode((page), (block), (link)))
#  else
#    define fa__link_get(page, block)       fa__secure_decode((page), (block), (uintptr_t)(block)->next)
#    define fa__link_set(page, block, link) ((void)((block)->next = (fa__block_t*)fa__secure_encode((page), (block), (link))))
#  endif
#endif

/* Blocks handed out and taken back (defined in >>debug, with the checks of a free). */
#if FA__TRACK
static void* fa__track_give(void* p, size_t size, bool zero);
static void* fa__track_regive(void* block, void* p, size_t size);
static bool fa__track_take(void* p);
static void fa__track_moved(void* from, void* to);
static void fa__track_shrink(void* p, size_t usable);
static void fa__track_release(const fa__segment_t* seg);
static void fa__track_drop(fa__heap_t* heap);
static size_t fa__usable_size_open(const void* p);
#  define FA__GIVEN(p, size, zero)       fa__track_give((p), (size), (zero))
#  define FA__REGIVEN(block, p, size)    fa__track_regive((block), (p), (size))
#  define FA__TAKEN(p)                   fa__track_take(p)
#else
#  define FA__GIVEN(p, size, zero)       (p)
#  define FA__REGIVEN(block, p, size)    (p)
#  define FA__TAKEN(p)                   true
#  define fa__usable_size_open(p)        fa__usable_size(p)
#  define fa__track_moved(from, to)      ((void)0)
#  define fa__track_shrink(p, usable)    ((void)0)
#  define fa__track_release(seg)         ((void)0)
#  define fa__track_drop(heap)           ((void)0)
#endif

/* =====================================================================================================
   >>os  OS LAYER
   The only code that talks to the operating system about memory. Map (reserve + commit, aligned so
   that (p + align_offset) is a multiple of align, reporting that the memory reads zero), unmap (always
   a whole mapping, from its start), purge (hand physical memory back, keep the address range; returns
   whether it reads zero once used again), commit (undo a purge that decommitted; see
   FASTALLOC_PURGE_DECOMMITS), resize in place, move without copying and reserve address space to move
   into (where the system can), a monotonic clock and the page size. On Linux fresh mid-sized huge
   blocks, and fresh segments once FASTALLOC_HUGE_PAGES MiB are mapped (or a quarter of that is held by
   the heap asking, or when mapped for a block of a MiB or more), are mapped huge-page-aligned
   and advised MADV_HUGEPAGE (fa__os_huge_page_for); all else keeps base pages.
   Backends: Linux (mmap, mremap, MADV_DONTNEED), portable POSIX (mmap only: macOS, the BSDs), Windows
   (VirtualAlloc), WebAssembly (memory.grow, which never gives memory back: unmapped ranges are kept
   for reuse). With FASTALLOC_NO_OS every call fails or does nothing, and caller memory (>>regions) is
   the only source of segments.
   ===================================================================================================== */
static size_t fa__os_page_size = 4096;

#ifndef FA__NO_OS_BACKEND
static void fa__os_note_mapped(ptrdiff_t delta) { fa__note_bytes(&fa__stats.mapped_bytes, &fa__stats.mapped_peak, delta); }

/* ---- the backends: fa__sys_* -------------------------------------------------------------------- */
/* fa__sys_map(size, align, offset, commit): a fresh mapping reading zero (address space only when
   !commit), or NULL. fa__sys_unmap: gives back a whole mapping. fa__sys_purge: drops the pages of a
   range inside a mapping; true when they read zero afterwards (with FASTALLOC_PURGE_DECOMMITS: and
   are decommitted until fa__sys_commit). */
#if defined(FA__WINDOWS)
static void fa__os_init(void) {
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    if (info.dwPageSize > 0) fa__os_page_size = info.dwPageSize;
}

/* VirtualAlloc aligns to 64 KiB only. For more, reserve an oversized range to learn where an aligned
   one is free, release it, and take the aligned part; another thread may take that address in
   between, so try again a few times. */
static void* fa__sys_map(size_t size, size_t align, size_t align_offset, bool commit) {
    DWORD type = commit ? (MEM_RESERVE | MEM_COMMIT) : MEM_RESERVE;
    DWORD prot = commit ? PAGE_READWRITE : PAGE_NOACCESS;
    void* p = VirtualAlloc(NULL, size, type, prot);
    if (p == NULL || ((uintptr_t)p + align_offset) % align == 0) return p;
    VirtualFree(p, 0, MEM_RELEASE);
    if (size > FA__PTRDIFF_MAX - align) return NULL;
    for (int attempt = 0; attempt < 8; attempt++) {
        void* probe = VirtualAlloc(NULL, size + align, MEM_RESERVE, PAGE_NOACCESS);
        if (probe == NULL) return NULL;
        uintptr_t aligned = fa__align_up((uintptr_t)probe + align_offset, align) - align_offset;
        VirtualFree(probe, 0, MEM_RELEASE);
        p = VirtualAlloc((void*)aligned, size, type, prot);
        if (p != NULL) return p;
    }
    return NULL;
}
static void fa__sys_unmap(void* p, size_t size) { (void)size; VirtualFree(p, 0, MEM_RELEASE); }
/* A guard page (FASTALLOC_SECURE, FASTALLOC_GUARD_SAMPLE) or a quarantined range: decommitted, so
   any access faults (released with the rest; fa__sys_commit makes it usable again, reading zero). */
#if defined(FASTALLOC_SECURE) || FA__GUARD_SAMPLING
static void fa__sys_guard(void* p, size_t size) { (void)VirtualFree(p, size, MEM_DECOMMIT); }
#define FA__SYS_GUARD 1
#endif

#if FASTALLOC_PURGE_DECOMMITS
static bool fa__sys_purge(void* p, size_t size) { return VirtualFree(p, size, MEM_DECOMMIT) != 0; }
#else
/* MEM_RESET lets the system drop the pages but not that they read zero: the range stays dirty. */
static bool fa__sys_purge(void* p, size_t size) { (void)VirtualAlloc(p, size, MEM_RESET, PAGE_READWRITE); return false; }
#endif
static bool fa__sys_commit(void* p, size_t size) { return VirtualAlloc(p, size, MEM_COMMIT, PAGE_READWRITE) != NULL; }

/* A reservation cannot grow, but the block can shrink by decommitting its tail and grow back into it
   (VirtualQuery says how much of the original reservation follows, uncommitted). */
static bool fa__sys_resize(void* p, size_t old_size, size_t new_size) {
    uint8_t* base = (uint8_t*)p;
    if (new_size <= old_size) return new_size == old_size || VirtualFree(base + new_size, old_size - new_size, MEM_DECOMMIT) != 0;
    MEMORY_BASIC_INFORMATION after;
    if (VirtualQuery(base + old_size, &after, sizeof(after)) == 0) return false;
    if (after.AllocationBase != p || after.State != MEM_RESERVE || after.RegionSize < new_size - old_size) return false;
    return fa__sys_commit(base + old_size, new_size - old_size);
}

static uint64_t fa__os_clock_ms(void) { return (uint64_t)GetTickCount64(); }

#elif defined(FA__WASM)
/* Linear memory only grows. Unmapped ranges go on a list (kept in the ranges themselves, which stay
   ours) and serve later maps first; a reused range is dirty. Fresh memory comes from memory.grow
   only where fastalloc is the program's one allocator (FASTALLOC_OVERRIDE, or FASTALLOC_NO_LIBC).
   Beside the C library's malloc it comes from that malloc instead: wasi-libc's dlmalloc takes linear
   memory for contiguous and would hand out, and overwrite, what memory.grow gave anyone else.
   Single-threaded (see >>config). */
#if defined(FASTALLOC_OVERRIDE) || defined(FASTALLOC_NO_LIBC)
#  define FA__WASM_GROWS 1
#else
#  define FA__WASM_GROWS 0
#endif
#define FA__WASM_PAGE ((size_t)65536)
typedef struct fa__wasm_span_s {
    struct fa__wasm_span_s* next;   /* address order, so that neighbours merge */
    size_t size;
} fa__wasm_span_t;
static fa__wasm_span_t* fa__wasm_spans;

static void fa__os_init(void) { fa__os_page_size = FA__WASM_PAGE; }

static void fa__wasm_keep(void* p, size_t size) {
    if (size == 0) return;
    fa__wasm_span_t* prev = NULL;
    fa__wasm_span_t* next = fa__wasm_spans;
    while (next != NULL && (uintptr_t)next < (uintptr_t)p) { prev = next; next = next->next; }
    fa__wasm_span_t* span = (fa__wasm_span_t*)p;
    span->size = size;
    span->next = next;
    if (next != NULL && (uint8_t*)span + size == (uint8_t*)next) {
        span->size += next->size;
        span->next = next->next;
    }
    if (prev == NULL) {
        fa__wasm_spans = span;
    } else if ((uint8_t*)prev + prev->size == (uint8_t*)span) {
        prev->size += span->size;
        prev->next = span->next;
    } else {
        prev->next = span;
    }
}

/* [start, start + size) out of the range [lo, lo + len), which is off the list: the rest is kept. */
static void* fa__wasm_carve(uintptr_t lo, size_t len, uintptr_t start, size_t size) {
    fa__wasm_keep((void*)lo, start - lo);
    fa__wasm_keep((void*)(start + size), lo + len - (start + size));
    return (void*)start;
}

FA__INLINE uintptr_t fa__wasm_place(uintptr_t lo, size_t align, size_t align_offset) {
    return fa__align_up(lo + align_offset, align) - align_offset;
}

/* A fresh range that holds an aligned placement of `size` bytes: *lo and *len. */
static bool fa__wasm_more(size_t size, size_t align, size_t align_offset, uintptr_t* lo, size_t* len, bool* is_zero) {
    if (size > SIZE_MAX / 2 - align) return false;
#if FA__WASM_GROWS
    uintptr_t top = __builtin_wasm_memory_size(0) * FA__WASM_PAGE;
    *len = fa__align_up(fa__wasm_place(top, align, align_offset) - top + size, FA__WASM_PAGE);
    if (__builtin_wasm_memory_grow(0, *len / FA__WASM_PAGE) == (size_t)-1) return false;
    *lo = top;
    *is_zero = true;
#else
    (void)align_offset;   /* any placement fits in size + align */
    *len = fa__align_up(size + align, FA__WASM_PAGE);
    *lo = (uintptr_t)aligned_alloc(FA__WASM_PAGE, *len);
    if (*lo == 0) return false;
    *is_zero = false;
#endif
    return true;
}

static void* fa__sys_map_dirty(size_t size, size_t align, size_t align_offset, bool* is_zero) {
    for (fa__wasm_span_t** link = &fa__wasm_spans; *link != NULL; link = &(*link)->next) {
        uintptr_t lo = (uintptr_t)*link, start = fa__wasm_place(lo, align, align_offset);
        size_t len = (*link)->size;
        if (start - lo <= len && len - (start - lo) >= size) {
            *link = (*link)->next;
            *is_zero = false;
            return fa__wasm_carve(lo, len, start, size);
        }
    }
    uintptr_t lo;
    size_t len;
    if (!fa__wasm_more(size, align, align_offset, &lo, &len, is_zero)) return NULL;
    return fa__wasm_carve(lo, len, fa__wasm_place(lo, align, align_offset), size);
}
static void fa__sys_unmap(void* p, size_t size) { fa__wasm_keep(p, size); }
static bool fa__sys_purge(void* p, size_t size) { (void)p; (void)size; return false; }
static bool fa__sys_commit(void* p, size_t size) { (void)p; (void)size; return true; }
/* Shrinking keeps the tail for reuse; growing works where the block ends linear memory. */
static bool fa__sys_resize(void* p, size_t old_size, size_t new_size) {
    uint8_t* end = (uint8_t*)p + old_size;
    if (new_size <= old_size) {
        fa__wasm_keep((uint8_t*)p + new_size, old_size - new_size);
        return true;
    }
    size_t more = new_size - old_size;
    if (!FA__WASM_GROWS || (uintptr_t)end != __builtin_wasm_memory_size(0) * FA__WASM_PAGE || more % FA__WASM_PAGE != 0) return false;
    return __builtin_wasm_memory_grow(0, more / FA__WASM_PAGE) != (size_t)-1;
}

static uint64_t fa__os_clock_ms(void) {
#if defined(FASTALLOC_NO_LIBC)
    return 0;   /* no clock: purge deadlines never fall due (and a purge gives nothing back here) */
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
#endif
}

#else /* POSIX */
#ifndef MAP_NORESERVE
#  define MAP_NORESERVE 0   /* overcommit is the BSDs' and macOS's default anyway */
#endif
static void fa__os_init(void) {
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) fa__os_page_size = (size_t)page;
}

/* The range the last whole mapping given back left (fa__sys_unmap), as a hint for the next: the
   system places a mapping at its hint when the range is free, so the next mapping of that size or
   less lands aligned in one call, where an over-map takes three (calloc-huge: each calloc(1 GiB) an
   mmap and two munmaps besides its own). Only a hint: anything may be mapped there since, and two
   threads that race on it only cost themselves a call. */
static uintptr_t fa__sys_hint_at;
static size_t fa__sys_hint_size;

/* Whether a mapping at `at` has (at + align_offset) a multiple of align, as fa__sys_map promises. */
FA__INLINE bool fa__sys_lands_aligned(uintptr_t at, size_t align, size_t align_offset) { return ((at + align_offset) & (align - 1)) == 0; }

/* Maps at the hint, or anywhere when the system's page alignment is all that is asked; otherwise
   (or when the hint was taken) over-maps by align and trims both ends: munmap may take any part of
   a mapping. */
static void* fa__sys_map(size_t size, size_t align, size_t align_offset, bool commit) {
    if (size > FA__PTRDIFF_MAX - align) return NULL;
    int prot = commit ? PROT_READ | PROT_WRITE : PROT_NONE, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    uintptr_t hint = fa__load_relaxed(&fa__sys_hint_at);
    bool at_hint = hint != 0 && size <= fa__load_relaxed(&fa__sys_hint_size) && fa__sys_lands_aligned(hint, align, align_offset);
    bool any_page = align <= fa__os_page_size && fa__sys_lands_aligned(0, align, align_offset);
    if (at_hint || any_page) {
        if (at_hint) fa__store_relaxed(&fa__sys_hint_at, (uintptr_t)0);
        void* at = mmap(at_hint ? (void*)hint : NULL, size, prot, flags, -1, 0);
        if (at != MAP_FAILED && fa__sys_lands_aligned((uintptr_t)at, align, align_offset)) return at;
        if (at != MAP_FAILED) munmap(at, size);
        else if (!at_hint) return NULL;
    }
    size_t total = size + align;
    void* raw = mmap(NULL, total, prot, flags, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t base = (uintptr_t)raw;
    uintptr_t p = fa__align_up(base + align_offset, align) - align_offset;
    size_t head = p - base, tail = total - head - size;
    if (head != 0) munmap(raw, head);
    if (tail != 0) munmap((void*)(p + size), tail);
    return (void*)p;
}
static void fa__sys_unmap(void* p, size_t size) {
    if (munmap(p, size) != 0) return;
    fa__store_relaxed(&fa__sys_hint_size, size);
    fa__store_relaxed(&fa__sys_hint_at, (uintptr_t)p);
}
/* A shrink in place unmaps the tail: all mremap would do, and munmap also takes a range that spans
   mappings of different protections (a guarded huge block's, >>huge), where valgrind's mremap
   refuses (under it every later realloc of such a block tried the shrink again). */
static bool fa__sys_shrink(void* p, size_t old_size, size_t new_size) {
    return new_size == old_size || munmap((uint8_t*)p + new_size, old_size - new_size) == 0;
}
static bool fa__sys_commit(void* p, size_t size) { return mprotect(p, size, PROT_READ | PROT_WRITE) == 0; }
/* A guard page (FASTALLOC_SECURE, FASTALLOC_GUARD_SAMPLE) or a quarantined range: no access at all
   (unmapped with the rest; fa__sys_commit gives access back, the contents kept). */
#if defined(FASTALLOC_SECURE) || FA__GUARD_SAMPLING
static void fa__sys_guard(void* p, size_t size) { (void)mprotect(p, size, PROT_NONE); }
#define FA__SYS_GUARD 1
#endif

#if defined(FA__LINUX)
/* MADV_DONTNEED rather than MADV_FREE: resident memory drops at once (what users measure) and the
   range reads zero afterwards, which the zero tracking relies on. */
static bool fa__sys_purge(void* p, size_t size) {
    if (madvise(p, size, MADV_DONTNEED) != 0) return false;
    return !FASTALLOC_PURGE_DECOMMITS || mprotect(p, size, PROT_NONE) == 0;
}
static bool fa__sys_resize(void* p, size_t old_size, size_t new_size) {
    if (new_size <= old_size) return fa__sys_shrink(p, old_size, new_size);
    return mremap(p, old_size, new_size, 0) != MAP_FAILED;
}
#  if FA__HUGE_PAGES_FROM_MIB >= 0
/* Only advice: where THP is compiled out or set to "never" it fails or does nothing, and the memory
   stays in base pages, which is still correct. */
static void fa__sys_advise_huge(void* p, size_t size) { (void)madvise(p, size, MADV_HUGEPAGE); }
#    define FA__SYS_HUGE_PAGES 1
#  endif
#else
/* Elsewhere MADV_DONTNEED may keep the old contents (macOS, the BSDs' MADV_FREE): map fresh pages
   over the range instead, which read zero everywhere. */
static bool fa__sys_purge(void* p, size_t size) {
    int prot = FASTALLOC_PURGE_DECOMMITS ? PROT_NONE : PROT_READ | PROT_WRITE;
    return mmap(p, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED;
}
/* Without mremap: shrink by unmapping the tail; grow by asking for the range right after the block
   as a hint, kept only if the system placed it exactly there. */
static bool fa__sys_resize(void* p, size_t old_size, size_t new_size) {
    uint8_t* end = (uint8_t*)p + old_size;
    if (new_size <= old_size) return fa__sys_shrink(p, old_size, new_size);
    size_t more = new_size - old_size;
    void* next = mmap(end, more, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (next == MAP_FAILED) return false;
    if (next == (void*)end) return true;
    munmap(next, more);
    return false;
}
#endif

/* Milliseconds on a clock that never jumps back; only the purge delay reads it, on every heartbeat
   with a purge pending, so the coarse clock where there is one (Linux, FreeBSD): the last tick's
   time, 5 ns a call instead of 23 for reading the time stamp counter (measured on x86-64 Linux),
   and a tick (1-10 ms) is precision enough for a delay of FASTALLOC_PURGE_DELAY_MS. */
#if defined(CLOCK_MONOTONIC_COARSE)
#  define FA__CLOCK CLOCK_MONOTONIC_COARSE
#elif defined(CLOCK_MONOTONIC_FAST)
#  define FA__CLOCK CLOCK_MONOTONIC_FAST
#else
#  define FA__CLOCK CLOCK_MONOTONIC
#endif
static uint64_t fa__os_clock_ms(void) {
    struct timespec now;
    clock_gettime(FA__CLOCK, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}
#endif

/* ---- the OS layer proper: every backend through the same accounting ------------------------------ */
static void* fa__os_map(size_t size, size_t align, size_t align_offset, bool* is_zero) {
#if defined(FA__WASM)
    void* p = fa__sys_map_dirty(size, align, align_offset, is_zero);
#else
    void* p = fa__sys_map(size, align, align_offset, true);
    *is_zero = true;
#endif
    if (p == NULL) return NULL;
    FA__STAT(os_map_calls, 1);
    fa__os_note_mapped((ptrdiff_t)size);
    return p;
}

/* Takes all access from a range (a guard page); nothing where pages cannot be protected. */
static void fa__os_guard(void* p, size_t size) {
#ifdef FA__SYS_GUARD
    fa__sys_guard(p, size);
#else
    (void)p; (void)size;
#endif
}

/* Memory for fastalloc's own records, kept for the life of the process; reads zero. */
static void* fa__os_map_metadata(size_t size) {
    bool is_zero = true;
#if defined(FA__WASM)
    void* p = fa__sys_map_dirty(size, 64, 0, &is_zero);   /* a page each would waste most of it */
#else
    void* p = fa__sys_map(size, fa__os_page_size, 0, true);
#endif
    if (p == NULL) return NULL;
    if (!is_zero) FASTALLOC_MEMSET(p, 0, size);
    FA__STAT(metadata_bytes, size);
    return p;
}

static void fa__os_unmap(void* p, size_t size) {
    fa__sys_unmap(p, size);
    FA__STAT(os_unmap_calls, 1);
    fa__os_note_mapped(-(ptrdiff_t)size);
}

static bool fa__os_purge(void* p, size_t size) {
    FA__STAT(os_purge_calls, 1);
    return fa__sys_purge(p, size);
}

/* Makes a range a purge decommitted usable again; false: the system is out of commit. */
static bool fa__os_commit(void* p, size_t size) { return fa__sys_commit(p, size); }

/* Resizes a mapping where it is; false when that is not possible (the caller moves or copies).
   Added pages read zero. */
static bool fa__os_resize(void* p, size_t old_size, size_t new_size) {
    if (!fa__sys_resize(p, old_size, new_size)) return false;
    FA__STAT(os_remap_calls, 1);
    fa__os_note_mapped((ptrdiff_t)new_size - (ptrdiff_t)old_size);
    return true;
}

/* Moving a mapping without copying needs mremap: Linux only. fa__os_reserve gives address space
   with (p + align_offset) a multiple of align to move into, or NULL where nothing can move. */
#if defined(FA__LINUX)
static void* fa__os_reserve(size_t size, size_t align, size_t align_offset) { return fa__sys_map(size, align, align_offset, false); }
static void fa__os_unreserve(void* p, size_t size) { munmap(p, size); }

/* Moves a mapping onto `target` (which it replaces) at its new size, moving page tables, not bytes.
   false: not possible (the caller unreserves the target). */
static bool fa__os_move(void* p, size_t old_size, size_t new_size, void* target) {
    if (mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target) == MAP_FAILED) return false;
    FA__STAT(os_remap_calls, 1);
    fa__os_note_mapped((ptrdiff_t)new_size - (ptrdiff_t)old_size);
    return true;
}
#else
static void* fa__os_reserve(size_t size, size_t align, size_t align_offset) { (void)size; (void)align; (void)align_offset; return NULL; }
static void fa__os_unreserve(void* p, size_t size) { (void)p; (void)size; }
static bool fa__os_move(void* p, size_t old_size, size_t new_size, void* target) { (void)p; (void)old_size; (void)new_size; (void)target; return false; }
#endif

#else /* FA__NO_OS_BACKEND */
static void fa__os_init(void) { }
static void* fa__os_map(size_t size, size_t align, size_t align_offset, bool* is_zero) {
    (void)size; (void)align; (void)align_offset; *is_zero = false;
    return NULL;
}
static bool fa__os_resize(void* p, size_t old_size, size_t new_size) { (void)p; (void)old_size; (void)new_size; return false; }
static void* fa__os_reserve(size_t size, size_t align, size_t align_offset) { (void)size; (void)align; (void)align_offset; return NULL; }
static void fa__os_unreserve(void* p, size_t size) { (void)p; (void)size; }
static void fa__os_unmap(void* p, size_t size) { (void)p; (void)size; }
static void* fa__os_map_metadata(size_t size) { (void)size; return NULL; }
static bool fa__os_purge(void* p, size_t size) { (void)p; (void)size; return false; }
static bool fa__os_commit(void* p, size_t size) { (void)p; (void)size; return true; }
static void fa__os_guard(void* p, size_t size) { (void)p; (void)size; }
static uint64_t fa__os_clock_ms(void) { return 0; }   /* no clock: purge deadlines never fall due */
#endif

/* FASTALLOC_HUGE_PAGES: whether a fresh mapping gets transparent huge pages, and the huge page size
   to align it to (0: it does not). The size is what one page-table page maps (a PMD: 2 MiB with
   4 KiB pages on x86-64, arm64 and riscv64); with 64 KiB base pages it is 512 MiB, larger than a
   segment, and no mapping asks.
   Segments: once FASTALLOC_HUGE_PAGES MiB are mapped, or once the heap asking already holds a
   quarter of that in segments (`heap_bytes`), or when the block the segment is mapped for
   (`block`) is half a huge page or more. A small program's few segments, and each thread's first
   ones in a program of many small threads, are mostly empty; a heap that filled two segments is
   allocating MiBs, and so is one asking for a block of a MiB, which tends to be used whole: they
   gain more from the fewer faults than they pay in resident memory.
   Huge blocks: from one huge page up to FA__HUGE_PAGES_MAX from the start, for the same reason; a
   bigger block is often a table touched sparsely (each touch would fault in 2 MiB). */
#define FA__HUGE_PAGES_MAX ((size_t)64 << 20)
#ifdef FA__SYS_HUGE_PAGES
static size_t fa__huge_pages_from(void) { return (size_t)FA__HUGE_PAGES_FROM_MIB << 20; }   /* a call: 0 draws no always-false warning */
#endif
/* How much a heap holds in segments from which its new ones get huge pages (0 where none do: then
   there is nothing to count). */
static size_t fa__huge_pages_heap_from(void) {
#ifdef FA__SYS_HUGE_PAGES
    return fa__huge_pages_from() / 4;
#else
    return 0;
#endif
}
static size_t fa__os_huge_page_for(size_t size, uint32_t kind, size_t heap_bytes, size_t block) {
#ifdef FA__SYS_HUGE_PAGES
    size_t huge_page = fa__os_page_size * (fa__os_page_size / sizeof(uint64_t));
    if (kind == FA__SEGMENT_NORMAL && heap_bytes < fa__huge_pages_heap_from() && block < huge_page / 2
        && fa__load_relaxed(&fa__stats.mapped_bytes) < fa__huge_pages_from()) return 0;
    bool wanted = kind == FA__SEGMENT_NORMAL || size <= FA__HUGE_PAGES_MAX;
    return wanted && size >= huge_page ? huge_page : 0;
#else
    (void)size; (void)kind; (void)heap_bytes; (void)block;
    return 0;
#endif
}

/* Asks for huge pages over a fresh mapping that fa__os_huge_page_for chose. */
static void fa__os_advise_huge(void* p, size_t size) {
#ifdef FA__SYS_HUGE_PAGES
    fa__sys_advise_huge(p, size);
#else
    (void)p; (void)size;
#endif
}

/* =====================================================================================================
   >>map  THE PAGE MAP (with an OS)
   How fa_free finds a block's page without trusting the pointer: an entry per granule
   (FASTALLOC_SLICE_SHIFT: an OS slice) of the address space, in two levels. An entry points at the
   xowner word of a page (the first word of its descriptor) for the slices of every page on OS
   memory and for the first granule of every huge block, or at a dispatch record: a caller region's
   (its blocks are found through the region) or the static "not ours" one. So the free fast path is
   two loads to the page and one compare of its xowner with the thread's key, segments need no
   alignment beyond their slices, and a pointer fastalloc does not know is recognised in every build.
   Entries are offsets from fixed statics so that zero means "not ours" and unmapped leaves read as
   the static empty leaf: the map needs no initialisation. Only owners of the memory an entry covers
   write it (page setup, huge blocks, region create/destroy); anyone reads. Leaves come from the OS
   and are never given back (one leaf word per 64 KiB of address space in use); they are made under
   the map's own lock, so code holding the global lock may extend the map (a huge block moving).
   Without an OS there is no map: memory is only in regions, found on fa__regions.
   ===================================================================================================== */
#ifndef FASTALLOC_NO_OS
#if SIZE_MAX > 0xffffffffu
#  define FA__MAP_ADDRESS_BITS 48       /* user space on x86-64, AArch64 and RISC-V (Sv48) */
#else
#  define FA__MAP_ADDRESS_BITS 32
#endif
#define FA__MAP_GRANULE_SHIFT FASTALLOC_SLICE_SHIFT
#define FA__MAP_ENTRY_BITS    (FA__MAP_ADDRESS_BITS - FA__MAP_GRANULE_SHIFT)
#define FA__MAP_LEAF_BITS     (FA__MAP_ENTRY_BITS / 2)   /* 64-bit: 512 KiB leaves, each for 4 GiB */
#define FA__MAP_TOP_BITS      (FA__MAP_ENTRY_BITS - FA__MAP_LEAF_BITS)
#define FA__MAP_LEAF_ENTRIES  ((size_t)1 << FA__MAP_LEAF_BITS)
#define FA__MAP_TOP_ENTRIES   ((size_t)1 << FA__MAP_TOP_BITS)

/* All zero, so it costs no space in the program file. Top entries (leaf address) and leaf entries
   (xowner address) are both stored as offsets from one base, the struct's start, so the free path
   needs the address of one static. At that base the empty leaf (what a top entry of 0 points at: all
   "not ours") and the "not ours" record (what a leaf entry of 0 points at) overlap: both are zeros
   that nothing writes. The record's xowner (0) matches no thread (see >>threads), and the free path
   takes 0 for FA__DISPATCH. */
#define FA__WORD_BITS (8 * sizeof(uintptr_t))
#if FA__TP_KEY
/* What a fork's child reads (fa__map_disown_others): a bit per leaf that exists (`made`, set under
   the map's lock) and, after each leaf's entries, a bit per chunk of 4 KiB of entries that was ever
   written (set before the entry: an entry whose write races with a fork is of a page that has
   handed out no block yet): the child reads what holds entries, not every word of the map. */
#  define FA__MAP_CHUNK_ENTRIES (4096 / sizeof(uintptr_t))
#  define FA__MAP_LEAF_CHUNKS   (FA__MAP_LEAF_ENTRIES > FA__MAP_CHUNK_ENTRIES ? FA__MAP_LEAF_ENTRIES / FA__MAP_CHUNK_ENTRIES : 1)
#  define FA__MAP_CHUNK_WORDS   ((FA__MAP_LEAF_CHUNKS + FA__WORD_BITS - 1) / FA__WORD_BITS)
/* Bit n of an array of words: its word, and its mask there. */
#  define FA__BIT_WORD(words, n) ((words)[(n) / FA__WORD_BITS])
#  define FA__BIT_MASK(n)        ((uintptr_t)1 << ((n) % FA__WORD_BITS))
#else
#  define FA__MAP_CHUNK_WORDS   0
#endif
static struct fa__map_s {
    union {
        uintptr_t empty_leaf[FA__MAP_LEAF_ENTRIES];
        fa__dispatch_t foreign;
    } base;
    uintptr_t top[FA__MAP_TOP_ENTRIES];
#if FA__TP_KEY
    uintptr_t made[(FA__MAP_TOP_ENTRIES + FA__WORD_BITS - 1) / FA__WORD_BITS];
#endif
} fa__map;

FA__INLINE size_t fa__map_top_index(uintptr_t a) {
    return (size_t)(a >> (FA__MAP_GRANULE_SHIFT + FA__MAP_LEAF_BITS)) & (FA__MAP_TOP_ENTRIES - 1);
}
FA__INLINE size_t fa__map_leaf_index(uintptr_t a) {
    /* where a leaf's index is the low word's top bits, the 32-bit shift needs no mask (x86-64:
       the index then scales in the address, one instruction fewer on every free) */
    if (FA__MAP_GRANULE_SHIFT + FA__MAP_LEAF_BITS == 32) return (size_t)((uint32_t)a >> FA__MAP_GRANULE_SHIFT);
    return (size_t)(a >> FA__MAP_GRANULE_SHIFT) & (FA__MAP_LEAF_ENTRIES - 1);
}
FA__INLINE uintptr_t fa__map_encode(const void* at) { return (uintptr_t)at - (uintptr_t)&fa__map.base; }
FA__INLINE uintptr_t* fa__map_decode(uintptr_t entry) { return (uintptr_t*)((uintptr_t)&fa__map.base + entry); }

/* The entry for address a: the xowner word of a page or of a dispatch record. The fast path of
   fa_free. Addresses above FA__MAP_ADDRESS_BITS wrap around (fastalloc never owns one). The leaf
   entry is read plainly: for a block that is live (the only pointer a caller may free or ask about)
   no thread writes its granule's entry, and the write that set it happened before the block was
   handed out, so there is no race (the same holds for its top entry, written once before); plain
   reads let the compiler fold them into adds (3 fewer instructions on every free than atomic loads). */
#if defined(__SANITIZE_THREAD__)
#  define FA__TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define FA__TSAN 1
#  endif
#endif
#ifdef FA__TSAN
/* ThreadSanitizer does not see the kernel order a munmap and a later mmap of the same addresses, so
   a thread's read of an entry and another's write for memory mapped there later look like a race;
   nor does it see that the loads through an entry depend on it (what hardware orders them by), so
   it is told with acquire what fa__map_set's release publishes. */
#  define fa__map_read(entry) fa__load_acquire(entry)
#else
#  define fa__map_read(entry) (*(entry))
#endif
FA__INLINE uintptr_t* fa__map_lookup(const void* p) {
    uintptr_t a = (uintptr_t)p, leaf = fa__map_read(&fa__map.top[fa__map_top_index(a)]);
    return fa__map_decode(fa__map_read((const uintptr_t*)fa__map_decode(leaf + fa__map_leaf_index(a) * sizeof(uintptr_t))));
}

/* The leaf that holds address a's entry, made if needed (NULL: out of memory). */
static uintptr_t* fa__map_leaf(uintptr_t a) {
    uintptr_t* slot = &fa__map.top[fa__map_top_index(a)];
    uintptr_t offset = fa__load_acquire(slot);
    if (offset == 0) {
        fa__map_lock();
        offset = *slot;
        if (offset == 0) {
            void* leaf = fa__os_map_metadata((FA__MAP_LEAF_ENTRIES + FA__MAP_CHUNK_WORDS) * sizeof(uintptr_t));
            if (leaf != NULL) {
                offset = fa__map_encode(leaf);
                fa__store_release(slot, offset);
#if FA__TP_KEY
                FA__BIT_WORD(fa__map.made, fa__map_top_index(a)) |= FA__BIT_MASK(fa__map_top_index(a));
#endif
            }
        }
        fa__map_unlock();
        if (offset == 0) return NULL;
    }
    return fa__map_decode(offset);
}

/* Makes sure every leaf for [p, p + size) exists, so that later writes cannot fail. */
static bool fa__map_reserve(const void* p, size_t size) {
    uintptr_t a = (uintptr_t)p, end = a + size;
    const uintptr_t leaf_span = (uintptr_t)FA__MAP_LEAF_ENTRIES << FA__MAP_GRANULE_SHIFT;
    for (uintptr_t at = a & ~(leaf_span - 1); at < end && at >= (a & ~(leaf_span - 1)); at += leaf_span)
        if (fa__map_leaf(at) == NULL) return false;
    return true;
}

/* Points the entries of the granules [first, first + count) (granule numbers) at `entry`; their
   leaves exist (fa__map_reserve). A release store: a reader that finds the entry also finds what it
   points at written (a region's dispatch record, the segment header), also on hardware that would
   otherwise let the entry be seen first. */
static void fa__map_set(uintptr_t first, uintptr_t count, uintptr_t entry) {
    for (uintptr_t g = first; g < first + count; g++) {
        uintptr_t* leaf = fa__map_leaf(g << FA__MAP_GRANULE_SHIFT);
        size_t i = (size_t)(g & (FA__MAP_LEAF_ENTRIES - 1));
#if FA__TP_KEY
        size_t chunk = i / FA__MAP_CHUNK_ENTRIES;
        uintptr_t* word = &FA__BIT_WORD(leaf + FA__MAP_LEAF_ENTRIES, chunk), bit = FA__BIT_MASK(chunk);
        uintptr_t seen = fa__load_relaxed(word);
        while ((seen & bit) == 0 && !fa__cas(word, &seen, seen | bit)) { }
#endif
        fa__store_release(&leaf[i], entry);
    }
}

FA__INLINE uintptr_t fa__map_granule(const void* p) { return (uintptr_t)p >> FA__MAP_GRANULE_SHIFT; }
/* Every granule that [p, p + size) touches says "not ours" again. */
FA__INLINE void fa__map_clear(const void* p, size_t size) {
    uintptr_t first = fa__map_granule(p);
    fa__map_set(first, fa__map_granule((const uint8_t*)p + size - 1) - first + 1, 0);
}

/* A fork's child: only the forking thread came along, and a thread the child starts may be given
   the thread pointer, hence the key, of one that did not (glibc hands their stacks out again).
   Every OS page that another thread's key marks is given up (FA__NO_OWNER), whatever state its
   heap was left in: frees into it take the generic path, where owners are told apart by ids, which
   are never reused. A region's own pages need nothing (with an OS their entries are dispatch
   records, which no key matches), but what its records keep of the entries they cover does: a
   region made in a block of an OS page gives that page's entries back when destroyed. Reads the
   `made` bits (8 KiB on 64-bit targets), and of each leaf its chunk bits and the chunks that were
   written (with 64 KiB slices 4 KiB per 32 MiB of address space fastalloc has used); writes only
   the descriptors it changes. */
#if FA__TP_KEY
static void fa__map_disown_entry(uintptr_t entry, uintptr_t mine) {
    if (entry == 0) return;
    uintptr_t* xowner = fa__map_decode(entry);
    uintptr_t tag = fa__load_relaxed(xowner);
    if (tag == FA__DISPATCH) {
        const fa__region_t* region = ((const fa__dispatch_t*)(void*)xowner)->region;
        for (size_t i = 0; i < region->run_count; i++) fa__map_disown_entry(region->runs[i].entry, mine);
        fa__map_disown_entry(region->dispatch[1].prev, mine);
        fa__map_disown_entry(region->dispatch[2].prev, mine);
        return;
    }
    if (tag != 0 && (tag & 1) == 0 && (tag & ~FA__SPAN_OWNER) != mine) fa__store_relaxed(xowner, FA__NO_OWNER);
}
static void fa__map_disown_others(void) {
    uintptr_t mine = fa__thread_key();
    for (size_t t = 0; t < FA__MAP_TOP_ENTRIES; t++) {
        if ((FA__BIT_WORD(fa__map.made, t) & FA__BIT_MASK(t)) == 0) continue;
        const uintptr_t* leaf = fa__map_decode(fa__map.top[t]);
        for (size_t chunk = 0; chunk < FA__MAP_LEAF_CHUNKS; chunk++) {
            if ((FA__BIT_WORD(leaf + FA__MAP_LEAF_ENTRIES, chunk) & FA__BIT_MASK(chunk)) == 0) continue;
            size_t end = (chunk + 1) * FA__MAP_CHUNK_ENTRIES;
            for (size_t i = chunk * FA__MAP_CHUNK_ENTRIES; i < end && i < FA__MAP_LEAF_ENTRIES; i++)
                fa__map_disown_entry(leaf[i], mine);
        }
    }
}
#else
FA__INLINE void fa__map_disown_others(void) { }   /* ids: a new thread never holds an old one's */
#endif
#endif

/* =====================================================================================================
   >>regions  REGIONS
   Caller memory as a source of segments beside the OS: any address, any size from a few KiB. A
   region is cut into windows of one region segment (FA__SLICES slices of
   FASTALLOC_REGION_SLICE_SHIFT) counted from its start: a window holds one segment, a run of
   windows one huge block. Its bookkeeping (this struct, a bit per window and, for a region heap,
   the heap itself) sits at the region's end, so nothing lives outside the caller's memory and the
   OS is never asked for anything. The last window may be partial: its slices past `limit` are never
   used. Region memory is never purged and never assumed to read zero. Window bits change under the
   global lock: any thread may free a huge block. The free path finds a region from an address
   through its dispatch records in the page map (with an OS), or on the newest-first list
   fa__regions (without one); the region's windows then give the segment.
   ===================================================================================================== */
#define FA__REGION_SHIFT        FASTALLOC_REGION_SLICE_SHIFT
#define FA__REGION_SLICE_SIZE   ((size_t)1 << FA__REGION_SHIFT)
#define FA__REGION_SEGMENT_SIZE ((size_t)FA__SLICES << FA__REGION_SHIFT)
#define FA__REGION_SEGMENT_MASK (FA__REGION_SEGMENT_SIZE - 1)
#define FA__REGION_HEADER_BYTES (((sizeof(fa__segment_t) + FA__REGION_SLICE_SIZE - 1) >> FA__REGION_SHIFT) << FA__REGION_SHIFT)
#define FA__REGION_MIN_WINDOW   (FA__REGION_HEADER_BYTES + FA__REGION_SLICE_SIZE)   /* a header and one page */

#ifdef FASTALLOC_NO_OS
/* Every region, newest first: a region made inside a block of another (a task's budget carved from
   the default region) is newer than it, so the first match is the innermost. */
static fa__region_t* fa__regions;
#endif

FA__INLINE bool fa__region_contains(const fa__region_t* region, const void* p) {
    return (uintptr_t)p - region->lo < region->hi - region->lo;
}

/* The segment a block of the region belongs to: the window at or below p - 1 (a huge block aligned
   to a window starts exactly one window after its header), or NULL in the bookkeeping. */
static fa__segment_t* fa__region_segment_of(const fa__region_t* region, const void* p) {
    uintptr_t a = (uintptr_t)p - 1, base = (uintptr_t)region->base;
    if (a < base || a >= (uintptr_t)region->limit) return NULL;
    return (fa__segment_t*)(base + ((a - base) & ~(uintptr_t)FA__REGION_SEGMENT_MASK));
}

#ifndef FASTALLOC_NO_OS
/* ---- the region in the page map ---------------------------------------------------------------- */
/* Granules wholly inside the region point at dispatch[0]; a granule it shares with other memory (at
   either end) at dispatch[1] or [2], which remember the entry they cover, so that addresses outside
   the region still find what they found before: a region may live in a block of another region or
   of an OS page. What the inner granules said before is kept in a few runs, put back on destroy. */
FA__INLINE uintptr_t fa__map_get(uintptr_t granule) {
    return fa__load_relaxed(&fa__map_leaf(granule << FA__MAP_GRANULE_SHIFT)[granule & (FA__MAP_LEAF_ENTRIES - 1)]);
}

/* Records what the granules [first, end) say now, in runs of equal entries; false if that takes
   more runs than a region keeps (the memory spans several blocks of fastalloc's: not the caller's). */
static bool fa__region_save_runs(fa__region_t* region, uintptr_t first, uintptr_t end) {
    region->run_count = 0;
    for (uintptr_t g = first; g < end; g++) {
        uintptr_t entry = fa__map_get(g);
        size_t n = region->run_count;
        if (n != 0 && region->runs[n - 1].entry == entry) { region->runs[n - 1].count++; continue; }
        if (n == FA__REGION_RUNS) return false;
        region->runs[n].first_granule = g;
        region->runs[n].count = 1;
        region->runs[n].entry = entry;
        region->run_count = n + 1;
    }
    return true;
}

/* Which granules a region covers: [inner_first, inner_end) wholly, and the shared ones (-1: none) at
   its start and its end (one, when the region lies inside a single granule). */
typedef struct fa__region_granules_s { uintptr_t inner_first, inner_end, shared_first, shared_last; } fa__region_granules_t;
#define FA__NO_GRANULE (~(uintptr_t)0)

static fa__region_granules_t fa__region_granules(const fa__region_t* region) {
    uintptr_t first = region->lo >> FA__MAP_GRANULE_SHIFT, last = (region->hi - 1) >> FA__MAP_GRANULE_SHIFT;
    bool lo_shared = (region->lo & (FA__SLICE_SIZE - 1)) != 0, hi_shared = (region->hi & (FA__SLICE_SIZE - 1)) != 0;
    fa__region_granules_t g = { first + lo_shared, last + 1 - hi_shared, lo_shared ? first : FA__NO_GRANULE,
                                hi_shared ? last : FA__NO_GRANULE };
    if (first == last && (lo_shared || hi_shared)) {
        g.inner_first = g.inner_end = first;
        g.shared_first = first;
        g.shared_last = FA__NO_GRANULE;
    }
    return g;
}

static void fa__region_map_edge(fa__dispatch_t* edge, uintptr_t granule) {
    if (granule == FA__NO_GRANULE) return;
    edge->prev = fa__map_get(granule);
    fa__map_set(granule, 1, fa__map_encode(&edge->xowner));
}

/* Points the region's granules at its dispatch records; false when the memory spans more of
   fastalloc's blocks than one. Under the global lock, the map's leaves already there. */
static bool fa__region_map(fa__region_t* region) {
    fa__region_granules_t g = fa__region_granules(region);
    if (!fa__region_save_runs(region, g.inner_first, g.inner_end)) return false;
    for (size_t k = 0; k < 3; k++) {
        region->dispatch[k].xowner = FA__DISPATCH;
        region->dispatch[k].region = region;
        region->dispatch[k].prev = 0;
    }
    fa__map_set(g.inner_first, g.inner_end - g.inner_first, fa__map_encode(&region->dispatch[0].xowner));
    fa__region_map_edge(&region->dispatch[1], g.shared_first);
    fa__region_map_edge(&region->dispatch[2], g.shared_last);
    return true;
}

/* Takes one of the region's shared granules out of the map: the entry it covered comes back, also
   where another region was made over it since (its record now covers this one's). */
static void fa__region_unmap_edge(const fa__dispatch_t* mine, uintptr_t granule) {
    if (granule == FA__NO_GRANULE) return;
    uintptr_t me = fa__map_encode(&mine->xowner), entry = fa__map_get(granule);
    if (entry == me) { fa__map_set(granule, 1, mine->prev); return; }
    for (fa__dispatch_t* d = (fa__dispatch_t*)fa__map_decode(entry); d->prev != 0; d = (fa__dispatch_t*)fa__map_decode(d->prev))
        if (d->prev == me) { d->prev = mine->prev; return; }
}

/* The region is the caller's again: every granule says what it said before the region. */
static void fa__region_unmap(fa__region_t* region) {
    fa__region_granules_t g = fa__region_granules(region);
    fa__lock();
    for (size_t i = 0; i < region->run_count; i++)
        fa__map_set(region->runs[i].first_granule, region->runs[i].count, region->runs[i].entry);
    fa__region_unmap_edge(&region->dispatch[1], g.shared_first);
    fa__region_unmap_edge(&region->dispatch[2], g.shared_last);
    fa__unlock();
}
#endif

/* Lays out a region over [mem, mem + size) with `extra` bytes for the caller (a heap) inside its
   bookkeeping, returned in *extra_at. NULL when not even one segment with one page fits (or, with an
   OS, when the page map cannot take it). */
static fa__region_t* fa__region_create(void* mem, size_t size, size_t extra, void** extra_at) {
    uintptr_t lo = (uintptr_t)mem, hi;
    if (mem == NULL || fa__add_overflow(lo, (uintptr_t)size, &hi)
        || lo > UINTPTR_MAX - FA__REGION_SEGMENT_SIZE - FA__REGION_ALIGN) return NULL;
    uintptr_t start = (lo + FA__REGION_ALIGN - 1) & ~(FA__REGION_ALIGN - 1);
    /* The region's start is its first window, unless it lies less than a header below a multiple
       of the window size: then no block aligned to the window size could start inside a header's
       window, so a region big enough for such blocks skips ahead to that multiple (losing less than
       a header) and keeps every alignment possible. */
    if ((start & FA__REGION_SEGMENT_MASK) > FA__REGION_SEGMENT_SIZE - FA__REGION_HEADER_BYTES
        && hi - start >= 2 * FA__REGION_SEGMENT_SIZE)
        start = (start + FA__REGION_SEGMENT_MASK) & ~(uintptr_t)FA__REGION_SEGMENT_MASK;
    uintptr_t base = start;
    if (base >= hi) return NULL;
    size_t windows = (size_t)((hi - base + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE);
    size_t bits_at = fa__align_up(sizeof(fa__region_t), sizeof(uint64_t));
    size_t own = fa__align_up(bits_at + (windows + 63) / 64 * sizeof(uint64_t), FA__REGION_ALIGN);
    if (hi - base < own + extra) return NULL;
    uintptr_t meta = (hi - own - extra) & ~(FA__REGION_ALIGN - 1);
    if (meta < base || meta - base < FA__REGION_MIN_WINDOW) return NULL;
    fa__region_t* region = (fa__region_t*)meta;
    region->base = (uint8_t*)base;
    region->limit = (uint8_t*)meta;
    region->lo = lo;
    region->hi = hi;
    region->window_count = (size_t)((meta - base + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE);
    region->window_bits = (uint64_t*)(meta + bits_at);
    FASTALLOC_MEMSET(region->window_bits, 0, (region->window_count + 63) / 64 * sizeof(uint64_t));
    *extra_at = (void*)(meta + own);
    region->next = NULL;
#ifdef FASTALLOC_NO_OS
    region->next = fa__regions;
    fa__regions = region;
#else
    if (!fa__map_reserve((void*)lo, size)) return NULL;
    fa__lock();
    bool mapped = fa__region_map(region);
    fa__unlock();
    if (!mapped) return NULL;
#endif
    return region;
}

/* A region heap was destroyed: its memory is the caller's again. */
static void fa__region_forget(fa__region_t* region) {
#ifdef FASTALLOC_NO_OS
    for (fa__region_t** at = &fa__regions; *at != NULL; at = &(*at)->next)
        if (*at == region) { *at = region->next; break; }
#else
    fa__region_unmap(region);
#endif
}

FA__INLINE bool fa__region_window_free(const fa__region_t* region, size_t i) {
    return ((region->window_bits[i / 64] >> (i % 64)) & 1) == 0;
}

static void fa__region_mark(fa__region_t* region, size_t first, size_t count, bool used) {
    FA__DEBUG_ASSERT(FA__LOCK_HELD());
    for (size_t i = first; i < first + count; i++) {
        uint64_t bit = (uint64_t)1 << (i % 64);
        if (used) region->window_bits[i / 64] |= bit;
        else region->window_bits[i / 64] &= ~bit;
    }
    ptrdiff_t bytes = (ptrdiff_t)(count * FA__REGION_SEGMENT_SIZE);
    fa__note_bytes(&fa__stats.region_bytes, &fa__stats.region_peak, used ? bytes : -bytes);
}

/* How many of the `count` windows from window i are free, counting until the first taken one. */
static size_t fa__region_free_run(const fa__region_t* region, size_t i, size_t count) {
    size_t run = 0;
    while (run < count && fa__region_window_free(region, i + run)) run++;
    return run;
}

/* A window for a normal segment: the first free one with room for a header and a page. Returns it
   and the segment's size in *size. */
static uint8_t* fa__region_take_segment(fa__region_t* region, size_t* size) {
    uint8_t* found = NULL;
    fa__lock();
    for (size_t i = 0; i < region->window_count && found == NULL; i++) {
        uint8_t* window = region->base + i * FA__REGION_SEGMENT_SIZE;
        size_t room = (size_t)(region->limit - window);
        if (!fa__region_window_free(region, i) || room < FA__REGION_MIN_WINDOW) continue;
        fa__region_mark(region, i, 1, true);
        found = window;
        *size = room < FA__REGION_SEGMENT_SIZE ? room : FA__REGION_SEGMENT_SIZE;
    }
    fa__unlock();
    return found;
}

/* The first run of free windows that holds a huge block of `block` bytes starting at *offset, past
   the header and inside the first window (the free path finds the header from there), at a
   multiple of `align`. Returns the first window and the segment's size in *size. */
static uint8_t* fa__region_take_huge(fa__region_t* region, size_t block, size_t align, size_t* offset, size_t* size) {
    uint8_t* found = NULL;
    fa__lock();
    for (size_t i = 0; i < region->window_count && found == NULL; i++) {
        if (!fa__region_window_free(region, i)) continue;
        uint8_t* window = region->base + i * FA__REGION_SEGMENT_SIZE;
        size_t room = (size_t)(region->limit - window);
        size_t off = (size_t)(fa__align_up((uintptr_t)window + FA__REGION_HEADER_BYTES, align) - (uintptr_t)window);
        if (off > FA__REGION_SEGMENT_SIZE || off > room || block > room - off) continue;
        size_t need = off + fa__align_up(block, FA__REGION_SLICE_SIZE);
        if (need > room) need = room;
        size_t count = (need + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE;
        size_t run = fa__region_free_run(region, i, count);
        if (run < count) { i += run; continue; }   /* no run can start before the taken window */
        fa__region_mark(region, i, count, true);
        found = window;
        *offset = off;
        *size = need;
    }
    fa__unlock();
    return found;
}

static void fa__region_release(fa__region_t* region, const void* start, size_t size) {
    size_t first = (size_t)((const uint8_t*)start - region->base) / FA__REGION_SEGMENT_SIZE;
    fa__lock();
    fa__region_mark(region, first, (size + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE, false);
    fa__unlock();
}

/* Resizes a segment that starts at `start` in place: growth takes the free windows after it (up to
   the region's limit), shrinking gives whole windows back. false: the windows it would need are
   taken. */
static bool fa__region_resize(fa__region_t* region, const void* start, size_t old_size, size_t new_size) {
    size_t first = (size_t)((const uint8_t*)start - region->base) / FA__REGION_SEGMENT_SIZE;
    size_t have = (old_size + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE;
    size_t need = (new_size + FA__REGION_SEGMENT_MASK) / FA__REGION_SEGMENT_SIZE;
    if (new_size > (size_t)(region->limit - (const uint8_t*)start)) return false;
    bool ok = true;
    fa__lock();
    if (need > have) {
        ok = fa__region_free_run(region, first + have, need - have) == need - have;
        if (ok) fa__region_mark(region, first + have, need - have, true);
    }
    if (need < have) fa__region_mark(region, first + need, have - need, false);
    fa__unlock();
    return ok;
}

static fa__segment_t* fa__region_new_segment(fa__region_t* region) {
    size_t size = 0;
    uint8_t* window = fa__region_take_segment(region, &size);
    return window == NULL ? NULL : fa__segment_init(window, size, FA__SEGMENT_NORMAL, false, region);
}

/* =====================================================================================================
   >>segments  SEGMENTS
   A segment is FA__SLICES slices of its geometry, its header in the first slices: the OS's are
   mapped aligned to their slice size, a region's are its windows. A page's descriptor knows its
   index in the header (slice_offset), so page and segment find each other by arithmetic; an address
   finds its page through the page map (with an OS) or its region. A segment is on exactly one list
   (seg->next): its heap's segments, the abandoned list (its thread exited), the pool (empty, between
   heaps) or, if huge, its first-class heap's huge blocks. A heap keeps one empty OS segment as its
   spare. Its memory goes back where it came from: the OS, or the region it records.
   ===================================================================================================== */
FA__INLINE size_t fa__page_index(const fa__page_t* page) { return (size_t)(page->slice_offset & (uint8_t)~FA__HEAD); }
FA__INLINE fa__segment_t* fa__page_segment(const fa__page_t* page) {
    return (fa__segment_t*)((uintptr_t)(page - fa__page_index(page)) - offsetof(fa__segment_t, pages));
}
/* The prev link of a page in its heap queue. A secure build keeps it in the segment's header, so
   that a one-line descriptor has room for the page's key, which every malloc and free reads (the
   two-line layout has the same fields, in lines of their own). */
FA__INLINE fa__page_t** fa__page_prev(const fa__page_t* page) {
    FA__DEBUG_ASSERT(page->slice_offset & FA__HEAD);
#ifdef FASTALLOC_SECURE
    return &fa__page_segment(page)->page_prevs[fa__page_index(page)];
#else
    return &((fa__page_t*)(uintptr_t)page)->prev;
#endif
}
#ifdef FASTALLOC_SECURE
FA__INLINE uintptr_t fa__page_key(const fa__page_t* page) { return page->key; }
#endif
/* The page a slice's entry belongs to: a first entry is the page, the others count back to it. */
FA__INLINE fa__page_t* fa__segment_page_of(fa__segment_t* seg, const void* p) {
    fa__page_t* entry = &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> fa__seg_shift(seg)];
    return (entry->slice_offset & FA__HEAD) ? entry : entry - entry->slice_offset;
}

/* ---- from a pointer to its page ------------------------------------------------------------------ */
/* fa__ptr_owner is where the free fast path looks: the xowner word of the block's page if that is
   quick to find (an OS page, through the page map; without an OS any page, through its region), else
   of a dispatch record, which no thread owns. fa__owner_page finishes the job: the page, through
   the regions the dispatch records cover, or NULL for a pointer fastalloc does not know. */
#ifndef FASTALLOC_NO_OS
FA__INLINE uintptr_t* fa__ptr_owner(const void* p) { return fa__map_lookup(p); }
#  define FA__PAGE_ALIGN FA__SLICE_SIZE      /* pages of the OS geometry start at slice multiples */
#else
static fa__dispatch_t fa__not_ours;         /* all zero: region NULL, prev 0 */
FA__INLINE uintptr_t* fa__ptr_owner(const void* p) {
    for (const fa__region_t* r = fa__regions; r != NULL; r = r->next) {
        if (!fa__region_contains(r, p)) continue;
        fa__segment_t* seg = fa__region_segment_of(r, p);
        return seg != NULL ? &fa__segment_page_of(seg, p)->xowner : &fa__not_ours.xowner;
    }
    return &fa__not_ours.xowner;
}
#  define FA__PAGE_ALIGN FA__REGION_ALIGN    /* pages start at slice multiples from a region's base */
#endif

/* The page behind a dispatch record (see fa__owner_page). */
static FA__NOINLINE fa__page_t* fa__dispatch_page(uintptr_t* owner, const void* p) {
    for (;;) {
        uintptr_t tag = fa__load_relaxed(owner);
        if (tag != FA__DISPATCH && tag != 0) return (fa__page_t*)(void*)owner;
        const fa__dispatch_t* d = (const fa__dispatch_t*)(void*)owner;
        if (d->region != NULL && fa__region_contains(d->region, p)) {
            fa__segment_t* seg = fa__region_segment_of(d->region, p);
            return seg != NULL ? fa__segment_page_of(seg, p) : NULL;
        }
        if (d->prev == 0) return NULL;
#ifndef FASTALLOC_NO_OS
        owner = fa__map_decode(d->prev);
#endif
    }
}

FA__INLINE fa__page_t* fa__owner_page(uintptr_t* owner, const void* p) {
    uintptr_t tag = fa__load_relaxed(owner);
    if (fa__likely(tag != FA__DISPATCH && tag != 0)) return (fa__page_t*)(void*)owner;
    return fa__dispatch_page(owner, p);
}

/* The page of a block of fastalloc's (NULL: not one of fastalloc's pointers). */
FA__INLINE fa__page_t* fa__ptr_page(const void* p) { return fa__owner_page(fa__ptr_owner(p), p); }
FA__INLINE fa__segment_t* fa__ptr_segment(const void* p) {
    const fa__page_t* page = fa__ptr_page(p);
    return page != NULL ? fa__page_segment(page) : NULL;
}

FA__INLINE uint64_t fa__span_bits(size_t idx, size_t count) {
    uint64_t bits = count >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << count) - 1);
    return bits << idx;
}

/* First index of `count` consecutive set bits in `free_bits`, or -1. Runs are grown by doubling. */
static int fa__span_find(uint64_t free_bits, size_t count) {
    uint64_t starts = free_bits;
    size_t run = 1;
    while (run < count && starts != 0) {
        size_t step = run < count - run ? run : count - run;
        starts &= starts >> step;
        run += step;
    }
    return starts == 0 ? -1 : (int)fa__ctz64(starts);
}

static uintptr_t fa__segment_cookie(const fa__segment_t* seg) { return (uintptr_t)seg ^ (uintptr_t)0x5fa11ac5c0ffeeULL; }

/* Writes the header of a segment of `size` bytes at `mem` (its geometry: the region's, or the
   OS's). Slices past `size` (the end of a region) count as used, so no page is ever placed there. */
#ifdef FASTALLOC_SECURE
/* The secret keys of FASTALLOC_SECURE, from one seed taken once: no OS random source (getrandom
   and /dev/urandom would need the C library, and a region build may have no OS), but address-space
   entropy (a stack address, the first segment's address, this file's statics and code, all moved
   by ASLR where there is ASLR) and the clock, mixed through fa__mix64. Whoever sets the seed
   first wins; every caller then derives the same keys from it (idempotent stores). */
static size_t fa__bin_size(size_t bin);
/* Per bin, the block size d = o * 2^shift (o odd) as inv, the inverse of o mod 2^64, and shift: an
   offset n is a multiple of d exactly when rotate_right(n * inv, shift) <= (2^64 - 1) / d, and the
   rotation is then n / d (Granlund and Montgomery's divisibility test). So one multiply and one
   compare with the page's capacity tell a block's start from every other address of a page (see
   fa__secure_off_grid): no division, no remainder. Two arrays rather than an array of pairs: the
   bin indexes both with the addressing mode's scale, no shift and add of its own. */
static struct { uint64_t inv[FA__BIN_MAX + 1]; uint8_t shift[FA__BIN_MAX + 1]; } fa__secure_grid;
static void fa__secure_seed(const void* mem) {
    for (size_t bin = 0; bin <= FA__BIN_MAX; bin++) {
        uint64_t d = fa__bin_size(bin);
        unsigned shift = fa__ctz64(d);
        uint64_t odd = d >> shift, inv = odd;   /* right to 3 bits; each Newton step doubles that */
        for (int i = 0; i < 5; i++) inv *= 2 - odd * inv;
        fa__secure_grid.inv[bin] = inv;   /* the same values whoever writes them */
        fa__secure_grid.shift[bin] = (uint8_t)shift;
    }
    uintptr_t seed = fa__load_relaxed(&fa__secure.seed);
    if (seed == 0) {
        uint64_t x = fa__mix64((uint64_t)(uintptr_t)&seed ^ 0x5ec0de5a17ed0001ULL);
        x = fa__mix64(x ^ (uint64_t)(uintptr_t)mem);
        x = fa__mix64(x ^ (uint64_t)(uintptr_t)&fa__secure);
        x = fa__mix64(x ^ (uint64_t)(uintptr_t)&fa__secure_seed);
        x = fa__mix64(x ^ fa__os_clock_ms());
        uintptr_t expected = 0;
        (void)fa__cas(&fa__secure.seed, &expected, (uintptr_t)x | 1);
        seed = fa__load_relaxed(&fa__secure.seed);
    }
    fa__store_relaxed(&fa__secure.order, (uintptr_t)fa__mix64((uint64_t)seed + 4));
}
/* A fresh secret for `salt` (a page key, a fresh list's order): a counter (racy across threads: it
   only needs to change) and the salt mixed twice, with the seed between, so one output that leaks
   (a page key an attacker worked out) does not give the seed by inverting fa__mix64, nor any other. */
static uint64_t fa__secure_next(uint64_t salt) {
    uintptr_t n = fa__load_relaxed(&fa__secure.counter) + 1;
    fa__store_relaxed(&fa__secure.counter, n);
    uint64_t x = fa__mix64((uint64_t)fa__load_relaxed(&fa__secure.order) ^ salt ^ ((uint64_t)n << 32));
    return fa__mix64(x ^ (uint64_t)fa__load_relaxed(&fa__secure.seed));
}
#else
#  define fa__secure_seed(mem) ((void)0)
#endif

/* FASTALLOC_SECURE on Windows and POSIX: an OS segment of the page tiers is mapped with a guard page
   after it (fa__segment_map, as huge blocks are), so a linear overflow off the segment's end faults
   instead of reaching the next mapping. After it rather than in its last slice: that slice stays
   usable, and with huge pages the segment's last 2 MiB can still be one (frag, secure: 1.75x the
   default build's time while the guard sat inside). Regions, wasm and builds without an OS have no
   guard (no page protection there). */
#if defined(FASTALLOC_SECURE) && defined(FA__SYS_GUARD)
#  define FA__SEGMENT_GUARD true
#else
#  define FA__SEGMENT_GUARD false
#endif

static fa__segment_t* fa__segment_init(void* mem, size_t size, uint32_t kind, bool is_zero, fa__region_t* region) {
    fa__secure_seed(mem);
    fa__segment_t* seg = (fa__segment_t*)mem;
    if (!is_zero) FASTALLOC_MEMSET(seg, 0, sizeof(fa__segment_t));
    seg->slice_shift = (uint8_t)(region != NULL ? FA__REGION_SHIFT : FASTALLOC_SLICE_SHIFT);
    size_t slices = size >> fa__seg_shift(seg);
    uint64_t header = fa__geometry_header_mask(fa__seg_shift(seg));
    seg->cookie = fa__segment_cookie(seg);
    seg->thread_id = FA__NO_OWNER;
    seg->map_size = size;
    seg->region = region;
    seg->kind = (uint8_t)kind;
    seg->used_mask = header | ~FA__ALL_SLICES | (slices < FA__SLICES ? ~fa__span_bits(0, slices) : 0);
    seg->dirty_mask = is_zero ? header : ~(uint64_t)0;
    seg->huge_dirty = is_zero ? 0 : size;
    seg->pages[0].slice_offset = FA__HEAD;
    if (kind == FA__SEGMENT_NORMAL) fa__track_close((uint8_t*)seg + (fa__geometry_header_slices(fa__seg_shift(seg)) << fa__seg_shift(seg)),
                                                    size - (fa__geometry_header_slices(fa__seg_shift(seg)) << fa__seg_shift(seg)));
    FA__STAT(segments_live, 1);
    return seg;
}

/* A segment of OS memory, its page-map leaves ready (so that setting up its pages cannot fail);
   *is_zero: it reads zero (always, but where the OS recycles, as wasm's memory.grow backend does).
   `guard`: the mapping is one inaccessible OS page longer, so an access one byte past `size` faults
   (the one layout of every guard page after a block: huge blocks in FASTALLOC_SECURE, >>guard's
   sampled blocks); where pages cannot be protected, a plain segment. `heap_bytes` and `block` (what
   the asking heap holds, the block the segment is for) choose huge pages (fa__os_huge_page_for). */
#ifdef FA__SYS_GUARD
#  define FA__CAN_GUARD 1
#else
#  define FA__CAN_GUARD 0
#endif
static fa__segment_t* fa__segment_map(size_t size, size_t align, size_t align_offset, uint32_t kind, bool guard,
                                      size_t heap_bytes, size_t block, bool* is_zero) {
    size_t extra = guard && FA__CAN_GUARD ? fa__os_page_size : 0;
    if (size > FA__PTRDIFF_MAX - extra) return NULL;
    size_t huge_page = fa__os_huge_page_for(size, kind, heap_bytes, block);
    void* mem = fa__os_map(size + extra, align > huge_page ? align : huge_page, align_offset, is_zero);
    if (mem == NULL) return NULL;
    if (extra != 0) fa__os_guard((uint8_t*)mem + size, extra);
    /* the guard page too: with advice that differs, the kernel keeps it a range of its own even
       once a resize lifts it (fa__huge_remap), and a resize cannot span two ranges */
    if (huge_page != 0) fa__os_advise_huge(mem, size + extra);
#ifndef FASTALLOC_NO_OS
    if (!fa__map_reserve(mem, size)) { fa__os_unmap(mem, size + extra); return NULL; }
#endif
    fa__segment_t* seg = fa__segment_init(mem, size, kind, *is_zero, NULL);
    seg->guarded = extra != 0;
    return seg;
}

/* The granules the page map points into a segment for: all its slices, or a huge block's first. */
static void fa__segment_unmap_granules(const fa__segment_t* seg) {
#ifndef FASTALLOC_NO_OS
    if (seg->region != NULL) return;
    if (seg->kind == FA__SEGMENT_HUGE) fa__map_clear((const uint8_t*)seg + seg->pages[0].block_size, 1);
    else fa__map_clear(seg, seg->map_size);
#else
    (void)seg;
#endif
}

/* Whether the page map says "not ours" for every granule of the segment (debug checks). */
static inline bool fa__segment_unmapped(const fa__segment_t* seg) {
#ifndef FASTALLOC_NO_OS
    for (uintptr_t g = fa__map_granule(seg); seg->region == NULL && g <= fa__map_granule((const uint8_t*)seg + seg->map_size - 1); g++)
        if (fa__load_relaxed(&fa__map_leaf(g << FA__MAP_GRANULE_SHIFT)[g & (FA__MAP_LEAF_ENTRIES - 1)]) != 0) return false;
#else
    (void)seg;
#endif
    return true;
}

/* Bytes of a segment's mapping: map_size, a huge block's tail, and its guard page if it has one. */
static size_t fa__segment_mapped(const fa__segment_t* seg) {
    return seg->map_size + seg->huge_tail + (seg->guarded ? fa__os_page_size : 0);
}

static bool fa__huge_untail(fa__segment_t* seg, size_t keep);

static void fa__segment_free(fa__segment_t* seg) {
    (void)fa__huge_untail(seg, 0);   /* a guarded tail it could not open goes back to the OS all the same */
    fa__track_release(seg);
    fa__sub_fetch(&fa__stats.segments_live, (size_t)1);
    fa__segment_unmap_granules(seg);
    FA__DEBUG_ASSERT(fa__segment_unmapped(seg));
    if (seg->region != NULL) fa__region_release(seg->region, seg, seg->map_size);
    else if (fa__seg_sampled(seg)) fa__guard_retire(seg);
    else fa__os_unmap(seg, fa__segment_mapped(seg));
}

/* The next run of set bits in *todo, which it leaves out of *todo; false when there is none. */
static bool fa__next_run(uint64_t* todo, size_t* first, size_t* count) {
    if (*todo == 0) return false;
    size_t start = fa__ctz64(*todo), end = start;
    while (end + 1 < 64 && (*todo >> (end + 1)) & 1) end++;
    *first = start;
    *count = end - start + 1;
    *todo &= ~fa__span_bits(start, *count);
    return true;
}

/* The slices a purge of `seg` would give back: free and possibly dirty (none in a region's). */
static uint64_t fa__segment_unpurged(const fa__segment_t* seg) {
    return seg->region != NULL ? 0 : ~seg->used_mask & seg->dirty_mask & FA__ALL_SLICES;
}

/* Hands physical memory of free, dirty slices back to the OS; they read zero afterwards. Never for
   region memory: it is the caller's, and on a file-backed or static array MADV_DONTNEED would bring
   back old contents rather than zeros. */
static void fa__segment_purge(fa__segment_t* seg) {
    uint64_t todo = fa__segment_unpurged(seg);
    size_t first, count;
    while (fa__next_run(&todo, &first, &count)) {
        if (!fa__os_purge((uint8_t*)seg + first * FA__SLICE_SIZE, count * FA__SLICE_SIZE)) continue;
        seg->dirty_mask &= ~fa__span_bits(first, count);
        if (FASTALLOC_PURGE_DECOMMITS) seg->decommit_mask |= fa__span_bits(first, count);
    }
}

/* When memory that just went free is purged: FASTALLOC_PURGE_DELAY_MS from now; 0 (-1: never but
   by fa_collect). The +1 keeps a deadline of "now" apart from 0. */
static uint64_t fa__purge_deadline(void) {
    return FASTALLOC_PURGE_DELAY_MS >= 0 ? fa__os_clock_ms() + (uint64_t)FASTALLOC_PURGE_DELAY_MS + 1 : 0;
}

/* Commits the slices of `span` a purge decommitted, before a page is laid on them; false: the
   system is out of commit (the slices stay free). */
static bool fa__segment_commit(fa__segment_t* seg, uint64_t span) {
    uint64_t todo = seg->decommit_mask & span;
    size_t first, count;
    while (fa__next_run(&todo, &first, &count)) {
        if (!fa__os_commit((uint8_t*)seg + first * FA__SLICE_SIZE, count * FA__SLICE_SIZE)) return false;
        seg->decommit_mask &= ~fa__span_bits(first, count);
    }
    return true;
}

/* A heap's two segment lists (heap->segments, and a first-class heap's huge blocks) are doubly
   linked through seg->next and seg->prev. */
static void fa__segment_list_push(fa__segment_t** head, fa__segment_t* seg) {
    seg->prev = NULL;
    seg->next = *head;
    if (*head != NULL) (*head)->prev = seg;
    *head = seg;
}

static void fa__segment_list_remove(fa__segment_t** head, fa__segment_t* seg) {
    if (seg->prev != NULL) seg->prev->next = seg->next; else *head = seg->next;
    if (seg->next != NULL) seg->next->prev = seg->prev;
    seg->next = seg->prev = NULL;
}

static void fa__segment_link(fa__heap_t* heap, fa__segment_t* seg) {
    fa__store_relaxed(&seg->gatherable, (uint8_t)(heap->kind == FA__HEAP_THREAD));
    fa__store_release(&seg->heap, heap);
    fa__segment_list_push(&heap->segments, seg);
    fa__store_release(&seg->thread_id, heap->thread_id);
}

static void fa__segment_unlink(fa__heap_t* heap, fa__segment_t* seg) { fa__segment_list_remove(&heap->segments, seg); }

/* The bytes of the segments on a list, counted up to `enough` (the list may be long). */
static size_t fa__segment_list_bytes(const fa__segment_t* seg, size_t enough) {
    size_t bytes = 0;
    for (; seg != NULL && bytes < enough; seg = seg->next) bytes += seg->map_size;
    return bytes;
}

/* ---- segment queues: the pool and the abandoned segments ----------------------------------------- */
/* Global queues of segments nobody owns, first in first out, under the global lock; `first` is
   also peeked at without it. */
typedef struct fa__segment_queue_s {
    fa__segment_t* first;
    fa__segment_t* last;
    size_t count;
} fa__segment_queue_t;

/* Appends a segment, unless the queue already holds `limit`; false then. */
static bool fa__segment_queue_put(fa__segment_queue_t* q, fa__segment_t* seg, size_t limit) {
    bool kept = false;
    fa__lock();
    if (q->count < limit) {
        seg->next = seg->prev = NULL;
        if (q->last != NULL) q->last->next = seg; else fa__store_relaxed(&q->first, seg);
        q->last = seg;
        fa__store_relaxed(&q->count, q->count + 1);
        kept = true;
    }
    fa__unlock();
    return kept;
}

static fa__segment_t* fa__segment_queue_take(fa__segment_queue_t* q) {
    if (fa__load_relaxed(&q->first) == NULL) return NULL;
    fa__lock();
    fa__segment_t* seg = q->first;
    if (seg != NULL) {
        fa__store_relaxed(&q->first, seg->next);
        if (seg->next == NULL) q->last = NULL;
        fa__store_relaxed(&q->count, q->count - 1);
        seg->next = NULL;
    }
    fa__unlock();
    return seg;
}

/* The pool: empty OS segments between heaps and threads. A destroyed heap, an exiting thread, a
   heap whose spare is taken and the reclaim of what exited threads left put their empty segments
   here (up to FA__POOL_SEGMENTS), and new segments come from here first, so heaps and threads that
   come and go do not unmap memory and fault it in again a moment later. The pool is a buffer
   against such bursts, not a store: FASTALLOC_PURGE_DELAY_MS after the latest arrival (each one
   pushes the deadline back, as memory going back to a heap does) the next heartbeat of any heap
   unmaps all but FA__POOL_KEEP of them and purges those (fa__pool_expire), so the next heap or
   thread still finds a segment without a mapping; fa_collect(true) and running out of memory
   unmap them all, and fa_collect purges them. Region segments never come here: they go
   back to their region. Sixteen hold what a round of eight exiting threads empties (two each):
   with eight, mstress-8's pool overflowed some 50 times a run, each segment unmapped there mapped
   again and faulted in by the next round's threads (112 huge-page faults a run against 35). */
#define FA__POOL_SEGMENTS 16
#define FA__POOL_KEEP     2
static fa__segment_queue_t fa__pool;
static uintptr_t fa__pool_expire_at;  /* atomic: when the pool is cut to FA__POOL_KEEP, clock_ms cut to a
                                         word and made odd (fa__clock_due); 0: never */

/* Whether the clock has reached `at`, a deadline truncated to a word (on 32-bit targets it wraps
   every 49 days: a deadline is at most a few seconds ahead, so the difference's sign tells). */
static bool fa__clock_due(uintptr_t at) { return (intptr_t)((uintptr_t)fa__os_clock_ms() - at) >= 0; }

static bool fa__pool_put(fa__segment_t* seg) {
    if (seg->region != NULL || !fa__segment_queue_put(&fa__pool, seg, FA__POOL_SEGMENTS)) return false;
    uint64_t at = fa__purge_deadline();
    if (at != 0) fa__store_relaxed(&fa__pool_expire_at, (uintptr_t)at | 1);
    return true;
}

static fa__segment_t* fa__pool_take(void) { return fa__segment_queue_take(&fa__pool); }

/* Purges the pooled segments' memory; they stay pooled. */
static void fa__pool_purge(void) {
    if (fa__load_relaxed(&fa__pool.first) == NULL) return;
    fa__lock();
    for (fa__segment_t* seg = fa__pool.first; seg != NULL; seg = seg->next) fa__segment_purge(seg);
    fa__unlock();
}

/* Gives pooled segments back to the OS, the oldest first, until `keep` are left; says whether it
   gave any. */
static bool fa__pool_unmap(size_t keep) {
    bool any = false;
    fa__segment_t* seg;
    while (fa__load_relaxed(&fa__pool.count) > keep && (seg = fa__pool_take()) != NULL) { fa__segment_free(seg); any = true; }
    return any;
}

/* A heartbeat's look at the pool: past its deadline, all but FA__POOL_KEEP pooled segments (the
   oldest first) are unmapped and the rest purged. The deadline is cleared first: a segment that
   arrives meanwhile sets it again once it is queued, so none is left behind without one. */
static void fa__pool_expire(void) {
    uintptr_t at = fa__load_relaxed(&fa__pool_expire_at);
    if (at == 0 || !fa__clock_due(at)) return;
    fa__store_relaxed(&fa__pool_expire_at, (uintptr_t)0);
    (void)fa__pool_unmap(FA__POOL_KEEP);
    fa__pool_purge();
}

/* The next page in use of a segment at or after slice *idx (NULL: none); *idx moves past it, so the
   caller may give the page back while walking. */
static fa__page_t* fa__segment_next_page(fa__segment_t* seg, size_t* idx) {
    while (*idx < FA__SLICES) {
        fa__page_t* page = &seg->pages[*idx];
        if (page->flags & FA__PAGE_IN_USE) { *idx += page->slice_count; return page; }
        (*idx)++;
    }
    return NULL;
}

/* ---- a heap's own segments --------------------------------------------------------------------- */
static void fa__segment_discard(fa__segment_t* seg);

/* A segment whose last page went back. A heap keeps one OS segment as its spare against map/unmap
   churn and pools the others for any heap (fa__segment_discard); region windows go straight back,
   so heaps sharing a region never hoard memory another one needs. */
static void fa__segment_release(fa__heap_t* heap, fa__segment_t* seg) {
    FA__DEBUG_ASSERT(seg->page_count == 0);
    fa__segment_unlink(heap, seg);
    fa__store_relaxed(&seg->thread_id, FA__NO_OWNER);
    if (seg->region != NULL) fa__segment_free(seg);
    else if (heap->spare_segment == NULL) heap->spare_segment = seg;
    else fa__segment_discard(seg);
}

/* A new segment for the heap, to hold a page of `block_size` blocks: its spare, else one from its
   memory source (a region's window, or the pool, or a fresh mapping). */
static fa__segment_t* fa__segment_new(fa__heap_t* heap, size_t block_size) {
    fa__segment_t* seg = heap->spare_segment;
    if (seg != NULL) heap->spare_segment = NULL;
    else {
        fa__region_t* source = fa__heap_source(heap);
        bool is_zero;
        if (source != NULL) seg = fa__region_new_segment(source);
        else if ((seg = fa__pool_take()) == NULL)
            seg = fa__segment_map(FA__SEGMENT_SIZE, FA__SLICE_SIZE, 0, FA__SEGMENT_NORMAL, FA__SEGMENT_GUARD,
                                  fa__segment_list_bytes(heap->segments, fa__huge_pages_heap_from()), block_size, &is_zero);
    }
    if (seg != NULL) fa__segment_link(heap, seg);
    return seg;
}

/* A segment the heap is done with, whatever its pages hold (fa_heap_destroy): emptied, then pooled
   or freed. */
static void fa__segment_discard(fa__segment_t* seg) {
    for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); idx < FA__SLICES; idx++) {
        seg->pages[idx].flags = 0;
        seg->pages[idx].xowner = FA__NO_OWNER;
    }
    seg->used_mask = fa__geometry_header_mask(fa__seg_shift(seg)) | ~FA__ALL_SLICES;   /* only OS segments (whole ones) are pooled */
    seg->page_count = 0;
    fa__store_relaxed(&seg->thread_id, FA__NO_OWNER);
    fa__store_relaxed(&seg->heap, (fa__heap_t*)NULL);
    if (!fa__pool_put(seg)) fa__segment_free(seg);
}

/* ---- abandoned segments: adopt, reclaim, abandon ------------------------------------------------ */
/* Segments of exited threads, waiting for a heap to adopt them (a queue: heartbeats visit each in
   turn). */
static fa__segment_queue_t fa__abandoned;

/* Takes over a segment of another heap (abandoned, or of a heap being deleted): its pages join this
   heap's queues as not full, empty ones go back. Switching every page's delay state to NONE waits
   out any other thread that is handing a block to the old heap. */
static void fa__segment_adopt(fa__heap_t* heap, fa__segment_t* seg) {
    fa__segment_link(heap, seg);
    fa__page_t* page;
    for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; ) {
        fa__page_set_delay(page, FA__DELAY_NONE);
        fa__page_set_flags(page, (uint8_t)(page->flags & ~FA__PAGE_IN_FULL));   /* and its owner */
        fa__page_collect(page);
        if (page->used == 0) fa__page_unsetup(page);
        else fa__queue_push_back(heap, &heap->queues[page->bin], page);
    }
    if (seg->page_count == 0) fa__segment_release(heap, seg);
}

/* Adopts one abandoned segment; false when there is none. */
static bool fa__heap_adopt_abandoned(fa__heap_t* heap) {
    fa__segment_t* seg = fa__segment_queue_take(&fa__abandoned);
    if (seg == NULL) return false;
    fa__segment_adopt(heap, seg);
    return true;
}

/* Takes in the frees other threads made into a segment nobody owns and gives its empty pages back
   (their pages keep DELAY_NEVER, so such frees only ever go to thread_free); says whether the
   segment is now empty. */
static bool fa__segment_collect_orphan(fa__segment_t* seg) {
    fa__page_t* page;
    for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; ) {
        fa__page_collect_thread_free(page);
        if (page->used == 0) fa__page_unsetup(page);
    }
    return seg->page_count == 0;
}

/* Heartbeat work on what exited threads left, up to `limit` segments: the frees other threads made
   into them are taken in, what emptied goes back (whole segments to the pool or their source), and
   the rest waits for a later visit or for a thread heap that needs a segment to adopt it
   (fa__heap_find_page), its free slices purged once the purge delay has passed since its thread
   left. So memory freed into an exited thread's segments goes back while any thread allocates, and
   a thread that starts soon after another ended takes over its memory without faulting it in again.
   (Adopting them here instead spreads a heap's pages over many half-used segments: 1.7x the
   resident memory in tests/test_longrun.c.) */
static void fa__abandoned_reclaim(size_t limit) {
    for (size_t n = 0; n < limit; n++) {
        fa__segment_t* seg = fa__segment_queue_take(&fa__abandoned);
        if (seg == NULL) return;
        if (fa__segment_collect_orphan(seg)) { fa__segment_discard(seg); continue; }
        if (seg->purge_at != 0 && fa__os_clock_ms() >= seg->purge_at) fa__segment_purge(seg);
        (void)fa__segment_queue_put(&fa__abandoned, seg, SIZE_MAX);
    }
}

/* Leaves a segment of an exiting thread's heap to whoever adopts it. Its free slices stay as they
   are for the purge delay: threads that come and go hand their memory on without a round trip
   through the OS. */
static void fa__segment_abandon(fa__heap_t* heap, fa__segment_t* seg) {
    fa__segment_unlink(heap, seg);
    seg->purge_at = fa__purge_deadline();
    fa__store_relaxed(&seg->thread_id, FA__NO_OWNER);
    fa__store_release(&seg->heap, (fa__heap_t*)NULL);
    fa__page_t* page;   /* the thread may go on (fa_thread_done): its frees into them must look first */
    for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; )
        fa__page_set_owner(page, FA__NO_OWNER);
    (void)fa__segment_queue_put(&fa__abandoned, seg, SIZE_MAX);
}

/* =====================================================================================================
   >>pages  PAGES AND SIZE CLASSES
   A page is a run of slices holding blocks of one size class (bin). Bins 1..5 are 8, 16, 32, 48 and
   64 bytes; above that there are four bins per power of two (80, 96, 112, 128, 160, ...), so the
   worst internal waste is under 20 % and every block of 16 bytes or more is 16-byte aligned within
   a slice-aligned page. Tiers, in a segment's geometry: small blocks (<= slice/32; slice/8 in a
   region's) get one-slice pages, medium ones (<= fa__geometry_medium_max) pages of just enough
   slices for two blocks at first (eight in a region's geometry), each next fresh page the bin needs
   while its other pages are full twice the last up to FA__MEDIUM_PAGE_SLICES, and half again after
   a page of the bin goes back (in a region they stay at the first size), large ones just enough slices
   for one block, or for the few blocks that fill their slices exactly; anything above fa__geometry_large_max is huge. Free lists are threaded lazily, FA__EXTEND_BYTES
   at a time, so untouched memory stays untouched. Invariant: capacity == used + |free| + |local_free|
   (blocks on thread_free still count as used until the owner collects them). xowner is the
   segment's owner while flags has neither IN_FULL nor HAS_ALIGNED and the page is in use, else
   FA__NO_OWNER.
   ===================================================================================================== */
FA__INLINE size_t fa__bin_of(size_t size) {
    size_t words = (size + 7) >> 3;
    if (words <= 1) return 1;
    if (words <= 8) return ((words + 1) >> 1) + 1;
    words--;
    unsigned b = fa__msb(words);
    return ((size_t)b << 2) + ((words >> (b - 2)) & 3) - 6;
}

/* Debug and secure builds give bin 1 (requests of up to 8 bytes) 16-byte blocks, so that every
   block can carry the freed-block canary or tag in its second word (see >>debug). */
#if defined(FASTALLOC_DEBUG) || defined(FASTALLOC_SECURE)
#  define FA__BIN1_BLOCK 16
#else
#  define FA__BIN1_BLOCK 8
#endif

/* The block size of a bin. */
static size_t fa__bin_size(size_t bin) {
    static const size_t exact[6] = { 8, FA__BIN1_BLOCK, 16, 32, 48, 64 };
    if (bin <= 5) return exact[bin];
    size_t k = bin + 6, b = k >> 2, q = k & 3;
    return ((5 + q) << (b - 2)) * 8;
}

/* The largest request that falls into a bin (its block size, but 8 for bin 1, whose blocks are
   bigger in debug builds). */
static size_t fa__bin_request_max(size_t bin) { return bin == 1 ? 8 : fa__bin_size(bin); }

/* Slices for the first page of blocks of `block_size` in a geometry (the fewest any page of them
   has). A medium page starts just big enough for two blocks (one slice: up to 32 KiB with an OS),
   in a region's geometry for eight: a thread that keeps a few blocks of each of twenty medium size
   classes would otherwise hold twenty pages of FA__MEDIUM_PAGE_SLICES (10 MiB of address space,
   faulted in whole where segments have huge pages), and in a 64 KiB region twelve such size classes
   would not even fit. Where pages grow (fa__fresh_page_slices) a bin in use soon has big ones, so
   the first can be as small as a slice allows; where they never grow (regions) the first size is
   the only one, and eight blocks keep the slow path rare. With the growth rule of
   fa__fresh_page_slices this took mstress-8's peak RSS from 93 to 75 MiB (blocks of 8 to 64 KiB,
   one allocation in a hundred, held a 2-8 slice page in each of a dozen classes per thread), with
   instructions unchanged there and on 4000 live blocks of 8-64 KiB; without that rule two blocks
   changed nothing, the bins grew back to the biggest pages. */
#define FA__MEDIUM_FIRST_BLOCKS 2
#define FA__REGION_MEDIUM_FIRST_BLOCKS 8
/* A large bin whose blocks leave more than a sixteenth of the fewest slices that hold one unused
   gets the smallest page of at most FA__LARGE_PACK_SLICES slices (and no bigger than the biggest
   large block's) that its blocks fill exactly: 80 KiB, 5 slices for 4 blocks; 96 KiB, 3 for 2;
   112 KiB, 7 for 4; 160 KiB, 5 for 2; 224 KiB, 7 for 2. Why: once huge pages back a segment
   (fa__os_huge_page_for), the rest of a block's last slice is resident like the block (calloc-fresh,
   6000 live blocks of 1..256 KiB, preloaded: peak RSS 506 MB with one block per page, 445 packed).
   A packed block cannot grow in place (fa__large_grow_in_place wants a page of one block): a realloc
   out of its size class copies at most 224 KiB. Not in a region's geometry, where a page bigger
   than one block could fail a request that one block's slices would serve. */
#define FA__LARGE_PACK_SLICES 8
static size_t fa__page_slices_for(size_t block_size, unsigned shift) {
    size_t slice = fa__geometry_slice(shift);
    if (block_size <= fa__geometry_small_max(shift)) return 1;
    if (block_size <= fa__geometry_medium_max(shift)) {
        size_t blocks = shift == FA__REGION_SHIFT ? FA__REGION_MEDIUM_FIRST_BLOCKS : FA__MEDIUM_FIRST_BLOCKS;
        return (blocks * block_size + slice - 1) >> shift;
    }
    size_t fewest = (block_size + slice - 1) >> shift;
    bool slack = ((fewest << shift) % block_size) * 16 > (fewest << shift);   /* more than a sixteenth unused */
    if (slack && shift != FA__REGION_SHIFT)   /* and never a page bigger than the biggest large block's */
        for (size_t slices = fewest; slices <= FA__LARGE_PACK_SLICES && (slices << shift) <= fa__geometry_large_max(shift); slices++)
            if ((slices << shift) % block_size == 0) return slices;
    return fewest;
}
/* Slices for the next fresh page of a bin in a heap: the first size, or a medium bin's grown one.
   A fresh medium page needed because the bin's other pages were all full makes the next twice its
   size, up to FA__MEDIUM_PAGE_SLICES, so a bin in heavy use soon sets up pages of that size (8 to
   204 blocks each). One that only replaces a page given back does not: a bin whose few blocks come
   and go would otherwise step up to the biggest pages (mstress-8: most of a thread's classes of 8
   to 64 KiB on 512 KiB pages holding one to six blocks); a page given back halves the size again
   (fa__medium_shrink). Region memory is scarce: pages in a
   region's geometry (which OS segments share where the two slice shifts are equal) never grow, so
   their bins' medium_slices stays 0. */
static size_t fa__fresh_page_slices(const fa__page_queue_t* q, size_t block_size, unsigned shift) {
    size_t first = fa__page_slices_for(block_size, shift);
    return q->medium_slices > first ? q->medium_slices : first;
}
static void fa__medium_grow(fa__page_queue_t* q, size_t block_size, size_t slices, unsigned shift) {
    if (shift == FA__REGION_SHIFT || block_size <= fa__geometry_small_max(shift) || block_size > fa__geometry_medium_max(shift)
        || slices >= FA__MEDIUM_PAGE_SLICES) return;
    size_t next = 2 * slices > FA__MEDIUM_PAGE_SLICES ? FA__MEDIUM_PAGE_SLICES : 2 * slices;
    if (next > q->medium_slices) q->medium_slices = (uint8_t)next;
}
/* A page of the bin goes back (it stayed empty while kept for reuse, or a collect took it): the
   bin had more room than its blocks used, so its next fresh page is half the grown size (below the
   first size it is the first size). Without this a class whose blocks come and go in threes and
   fours, once grown, kept making 512 KiB pages for them (mstress-8: blocks of 40-64 KiB, one
   allocation in a few hundred, on 4-8 slice pages holding 1-4 blocks each; peak RSS 75 -> 64 MiB).
   A bin in heavy use that gives a page back grows again once it outgrows the smaller one: 4000
   live blocks of 8-64 KiB replaced at random run 2.7 % more instructions. */
static void fa__medium_shrink(fa__page_queue_t* q) { q->medium_slices = (uint8_t)(q->medium_slices / 2); }

/* Where a page's first block is, with its segment known (or found: fa__page_start). */
FA__INLINE uint8_t* fa__page_start_in(const fa__segment_t* seg, const fa__page_t* page) {
    return (uint8_t*)(uintptr_t)seg + (fa__page_index(page) << fa__seg_shift(seg));
}
FA__INLINE uint8_t* fa__page_start(const fa__page_t* page) { return fa__page_start_in(fa__page_segment(page), page); }
FA__INLINE size_t fa__page_bytes(const fa__page_t* page) {
    return (size_t)page->slice_count << fa__seg_shift(fa__page_segment(page));
}
FA__INLINE bool fa__page_in_use(const fa__page_t* page) { return (fa__load_relaxed(&page->flags) & FA__PAGE_IN_USE) != 0; }

/* The link of a free block of `page`. FASTALLOC_SECURE checks it: NULL, or an address within a
   segment's size of the block (where the blocks of its page are) other than the block itself. A
   forged link, which decodes to an address an attacker without the key cannot aim, lands there with
   odds of 2^-37 or less on 64-bit targets; a self-linked list stops the program instead of handing
   one block out again and again. (An exact check against the page's blocks costs a page-start
   computation and a multiply on every malloc; fa_heap_check and debug builds make it.) */
#ifdef FASTALLOC_SECURE
#  define FA__SECURE_REACH (FA__SEGMENT_SIZE > FA__REGION_SEGMENT_SIZE ? FA__SEGMENT_SIZE : FA__REGION_SEGMENT_SIZE)
FA__INLINE fa__block_t* fa__link_next(const fa__page_t* page, const fa__block_t* block) {
    fa__block_t* next = fa__link_get(page, block);
    if (fa__unlikely(next != NULL && ((uintptr_t)next - (uintptr_t)block + FA__SECURE_REACH >= 2 * FA__SECURE_REACH || next == block)))
        FA__SECURE_FAIL("fastalloc: free list corrupted (a heap overflow, a write after free or a double free)");
    return next;
}
#else
#  define fa__link_next(page, block) fa__link_get(page, block)
#endif
/* The link malloc follows: a secure build without FASTALLOC_DEBUG checks the block it reaches for
   its tag when it is popped (fa__check_pop in >>debug), which catches what the reach check does and
   more, at no cost here. */
#if defined(FASTALLOC_SECURE) && !defined(FASTALLOC_DEBUG)
#  define FA__POP_NEXT(page, block) fa__link_get(page, block)
#else
#  define FA__POP_NEXT(page, block) fa__link_next(page, block)
#endif

/* Who may take the free fast path into the page: its segment's owner, unless the flags say the
   slow path must look (full, aligned blocks, not in use). */
static bool fa__page_fast_free(const fa__page_t* page) {
    return (page->flags & (FA__PAGE_SLOW_FREE | FA__PAGE_IN_USE)) == FA__PAGE_IN_USE;
}
/* The xowner word of the page for `key` (its owner's fa__thread_key, or FA__NO_OWNER). A secure
   build tags a page of several slices with the key ^ FA__SPAN_OWNER (>>threads): the owner's fast
   path then takes the page's start from its descriptor for the interior-pointer check, while a
   page of one slice, the common case, takes it from the pointer's low bits and pays nothing for
   the other kind (see fa__free). */
static uintptr_t fa__page_owner_tag(const fa__page_t* page, uintptr_t key) {
    if (!fa__page_fast_free(page)) return FA__NO_OWNER;
    return FA__SPAN_OWNER != 0 && page->slice_count != 1 && key != FA__NO_OWNER ? key ^ FA__SPAN_OWNER : key;
}
static void fa__page_set_owner(fa__page_t* page, uintptr_t key) {
    fa__store_relaxed(&page->xowner, fa__page_owner_tag(page, key));
}
/* The key of the thread whose heap owns `seg` (its owner, or a heap taking it over, asks). */
static uintptr_t fa__segment_owner_key(const fa__segment_t* seg) {
    if (fa__load_relaxed(&seg->thread_id) == FA__NO_OWNER) return FA__NO_OWNER;
    return fa__load_relaxed(&seg->heap)->thread_key;
}
static void fa__page_set_flags(fa__page_t* page, uint8_t flags) {
    fa__store_relaxed(&page->flags, flags);
    fa__page_set_owner(page, fa__segment_owner_key(fa__page_segment(page)));
}

/* The block an interior pointer belongs to; needed only on pages that served aligned requests. */
static fa__block_t* fa__page_block_of(const fa__page_t* page, const void* p) {
    uint8_t* start = fa__page_start(page);
    size_t offset = (size_t)((const uint8_t*)p - start);
    return (fa__block_t*)(start + (page->reserved == 1 ? 0 : offset - offset % page->block_size));
}

/* A block handed out aligned past its start says so in its first two words, slack the caller does
   not own (the pointer handed out is at least 16 bytes in): its address ^ FA__ALIGNED_TAG, then the
   offset. Every block sat on a free list before it was handed out, whose link overwrote the first
   word, so a block handed out plainly never carries a stale mark. The pointer the caller holds is
   thus known from the block alone (the hooks at reset, the memory tools, the debug checks). */
#define FA__ALIGNED_TAG ((uintptr_t)0xA11C4ED0B10C4ED5ULL)
static void fa__aligned_mark(fa__block_t* block, const uint8_t* aligned) {
    fa__word_set(block, 0, (uintptr_t)block ^ FA__ALIGNED_TAG);
    fa__word_set(block, 1, (uintptr_t)(aligned - (uint8_t*)block));
}
static uint8_t* fa__aligned_user(const fa__page_t* page, fa__block_t* block) {
    bool marked = (fa__load_relaxed(&page->flags) & FA__PAGE_HAS_ALIGNED) && fa__word_get(block, 0) == ((uintptr_t)block ^ FA__ALIGNED_TAG)
                  && fa__word_get(block, 1) < page->block_size;
    return (uint8_t*)block + (marked ? fa__word_get(block, 1) : 0);
}

#ifdef FASTALLOC_SECURE
/* Whether a and b (both > 0) share no factor: Stein's binary gcd, shifts and subtractions where
   Euclid's takes a division per step (every fresh stretch of a page asks). */
static bool fa__coprime(size_t a, size_t b) {
    if (((a | b) & 1) == 0) return false;
    a >>= fa__ctz64(a);   /* 2 is not common: its factors go */
    while (b != 0) {
        b >>= fa__ctz64(b);
        if (a > b) { size_t t = a; a = b; b = t; }
        b -= a;
    }
    return a == 1;
}
/* A number below n (at most 2^32) from 32 random bits, by a multiply instead of a remainder. */
FA__INLINE size_t fa__secure_below(uint32_t random, size_t n) { return (size_t)(((uint64_t)random * n) >> 32); }
/* Threads `count` fresh blocks in an order an attacker cannot predict: from a random block, a random
   stride coprime with the count visits each block once. Returns the list's head. */
static fa__block_t* fa__secure_thread(const fa__page_t* page, uint8_t* first, size_t count, size_t bs) {
    uint64_t r = fa__secure_next((uint64_t)(uintptr_t)first);
    size_t at = fa__secure_below((uint32_t)r, count), stride = count < 2 ? 1 : 1 + fa__secure_below((uint32_t)(r >> 32), count - 1);
    while (!fa__coprime(stride, count)) stride = stride + 1 < count ? stride + 1 : 1;
    /* the key read once: the stores into the blocks could alias the descriptor, for all the
       compiler knows; offsets from `first` step by the stride and wrap at the stretch's end */
    uintptr_t key = fa__page_key(page);
    size_t span = count * bs, step = stride * bs, off = at * bs;
    fa__block_t* head = (fa__block_t*)(void*)(first + off);
    /* each block gets its link and its free tag (>>debug) in one pass, one cache line each */
    for (size_t k = 1; k < count; k++) {
        size_t to = off + step < span ? off + step : off + step - span;
        fa__block_t* b = (fa__block_t*)(void*)(first + off);
        fa__word_set(b, 0, fa__secure_encode_key(key, b, (fa__block_t*)(void*)(first + to)));
        fa__word_set(b, 1, fa__secure_tag_key(key, b));
        off = to;
    }
    fa__block_t* last = (fa__block_t*)(void*)(first + off);
    fa__word_set(last, 0, fa__secure_encode_key(key, last, NULL));
    fa__word_set(last, 1, fa__secure_tag_key(key, last));
    return head;
}
#endif

/* Threads the next stretch of never-used blocks into `free`, which is empty. */
static void fa__page_extend(fa__page_t* page) {
    FA__DEBUG_ASSERT(page->free == NULL && page->capacity < page->reserved);
    size_t bs = page->block_size, left = (size_t)page->reserved - page->capacity;
    size_t count = FA__EXTEND_BYTES / bs;
    if (count < 4) count = 4;
    if (count > left) count = left;
    uint8_t* first = fa__page_start(page) + (size_t)page->capacity * bs;
#ifdef FASTALLOC_SECURE
    page->free = fa__secure_thread(page, first, count, bs);
#else
    uint8_t* last = first + (count - 1) * bs;
    for (uint8_t* b = first; b < last; b += bs) fa__link_set(page, (fa__block_t*)(void*)b, (fa__block_t*)(void*)(b + bs));
    fa__link_set(page, (fa__block_t*)(void*)last, NULL);
    page->free = (fa__block_t*)first;
#endif
    fa__debug_mark_fresh(page, first, count);
#ifdef FASTALLOC_SECURE
    fa__store_relaxed(&page->capacity, (uint16_t)(page->capacity + count));   /* read by other threads' frees */
#else
    page->capacity = (uint16_t)(page->capacity + count);
#endif
    page->zero = (page->zero & FA__ZERO_FRESH) ? (FA__ZERO_FRESH | FA__ZERO_FREE) : 0;
}

/* ---- the thread_free word ----------------------------------------------------------------------
   page->xthread_free holds other threads' frees as one list plus the FA__DELAY_* state in its low two
   bits; it is 0 apart from those bits exactly when the list is empty. On 64-bit targets it also
   counts the list: bits 32 and up hold the length, bits 2..31 the head as its offset from the page
   descriptor (blocks lie after their segment's header, within FASTALLOC_SEGMENT_SHIFT <= 32 bits of
   it, and offsets of 8-byte-aligned addresses keep the low bits clear). Why: the owner takes the
   whole list with one exchange and must subtract its length from `used`. Walking the list to count
   it reads every block right after another thread wrote its link, one cache miss after the other
   on a chain of dependent loads: in larson-2 on two cores that walk was 30 % of all samples. With
   the length in the word the owner splices the list in unread and the misses spread over the
   mallocs that pop the blocks. 32-bit targets have no room: they keep a plain pointer and walk. */
#define FA__TF_COUNTED (UINTPTR_MAX > 0xFFFFFFFFu)
#if FA__TF_COUNTED
#  define FA__TF_OFFSET_MASK ((uintptr_t)0xFFFFFFFFu & ~FA__DELAY_MASK)
FA__INLINE fa__block_t* fa__tf_head(const fa__page_t* page, uintptr_t tf) {
    uintptr_t offset = tf & FA__TF_OFFSET_MASK;
    return offset == 0 ? NULL : (fa__block_t*)((uintptr_t)page + offset);
}
/* The word with a chain of `count` blocks from `head` pushed in front of the list (the caller
   linked the chain's tail to the list's head). */
FA__INLINE uintptr_t fa__tf_push(const fa__page_t* page, uintptr_t tf, fa__block_t* head, uint32_t count) {
    return (((tf >> 32) + count) << 32) | ((uintptr_t)head - (uintptr_t)page) | (tf & FA__DELAY_MASK);
}
#else
FA__INLINE fa__block_t* fa__tf_head(const fa__page_t* page, uintptr_t tf) {
    (void)page;
    return (fa__block_t*)(tf & ~FA__DELAY_MASK);
}
FA__INLINE uintptr_t fa__tf_push(const fa__page_t* page, uintptr_t tf, fa__block_t* head, uint32_t count) {
    (void)page; (void)count;
    return (uintptr_t)head | (tf & FA__DELAY_MASK);
}
#endif

/* The length of a list taken from the thread_free word `tf`: read from the word where it counts (a
   debug build walks the list too and checks them against each other), else walked. The walk stops
   a list longer than the page, i.e. one that loops after a double free. */
static uint32_t fa__tf_length(const fa__page_t* page, uintptr_t tf) {
    uint32_t walked = 0;
    (void)page;
#if !FA__TF_COUNTED || defined(FASTALLOC_DEBUG)
    for (const fa__block_t* b = fa__tf_head(page, tf); b != NULL; b = fa__link_next(page, b))
        if (++walked > page->reserved) FA__CORRUPTED("a cross-thread free list longer than its page (double free?)");
#endif
#if FA__TF_COUNTED
    FA__DEBUG_ASSERT(walked == (uint32_t)(tf >> 32));
    return (uint32_t)(tf >> 32);
#else
    return walked;
#endif
}

/* Moves other threads' frees into the page's own lists, keeping the delay state bits. The list goes
   in unread where a list is empty: as local_free, or as free (which then no longer reads zero), as
   on a refill, where free ran dry. Only when both are in use (collecting a whole heap or segment)
   is it walked to its end, as many steps as it counts, to go in front of local_free. */
static void fa__page_collect_thread_free(fa__page_t* page) {
    uintptr_t tf = fa__load_relaxed(&page->xthread_free);
    if ((tf & ~FA__DELAY_MASK) == 0) return;
    while (!fa__cas(&page->xthread_free, &tf, tf & FA__DELAY_MASK)) { }
    fa__block_t* head = fa__tf_head(page, tf);
    uint32_t count = fa__tf_length(page, tf);
    page->used = (uint16_t)(page->used - count);
    if (page->local_free == NULL) {
        page->local_free = head;
    } else if (page->free == NULL) {
        page->free = head;
        page->zero &= (uint8_t)~FA__ZERO_FREE;
    } else {
        fa__block_t* tail = head;
        for (uint32_t n = count; --n != 0; ) tail = fa__link_next(page, tail);
        fa__link_set(page, tail, page->local_free);
        page->local_free = head;
    }
}

/* Makes `free` non-empty from the page's own lists if it can. */
static void fa__page_collect(fa__page_t* page) {
    fa__page_collect_thread_free(page);
    if (page->free == NULL && page->local_free != NULL) {
        page->free = page->local_free;
        page->local_free = NULL;
        page->zero &= (uint8_t)~FA__ZERO_FREE;
    }
}

/* Makes `free` non-empty if anything can: the page's own lists, then never-used blocks. */
static void fa__page_refill(fa__page_t* page) {
    fa__page_collect(page);
    if (page->free == NULL && page->capacity < page->reserved) fa__page_extend(page);
}

/* Sets the delay state; waits out a freer that is in the middle of telling the heap. */
static void fa__page_set_delay(fa__page_t* page, uintptr_t state) {
    uintptr_t tf = fa__load_relaxed(&page->xthread_free);
    for (;;) {
        if ((tf & FA__DELAY_MASK) == FA__DELAY_FREEING) {
            fa__yield();
            tf = fa__load_relaxed(&page->xthread_free);
            continue;
        }
        if (fa__cas(&page->xthread_free, &tf, (tf & ~FA__DELAY_MASK) | state)) return;
    }
}

/* With an OS, points the page map's entries for slices [idx, idx + count) of an OS segment at the
   page; region pages are found through their region. */
static void fa__page_map_slices(const fa__segment_t* seg, const fa__page_t* page, size_t idx, size_t count) {
#ifndef FASTALLOC_NO_OS
    if (seg->region == NULL) fa__map_set(fa__map_granule(seg) + idx, count, fa__map_encode(&page->xowner));
#else
    (void)seg; (void)page; (void)idx; (void)count;
#endif
}

/* The last `count` slices of a page, from `idx`, leave it (it shrinks, or a smaller page takes its
   place): their first descriptor, not in use, heads them and the page map points at it, so a stale
   pointer into them is no block's. */
static void fa__slices_split_off(fa__segment_t* seg, size_t idx, size_t count) {
    for (size_t i = 1; i < count; i++) seg->pages[idx + i].slice_offset = (uint8_t)i;
    seg->pages[idx].slice_offset = (uint8_t)(FA__HEAD | idx);
    fa__page_map_slices(seg, &seg->pages[idx], idx, count);
}

/* Lays out a fresh page of `bin` on `slices` free slices from slice `idx` of an owned segment. */
static fa__page_t* fa__page_setup(fa__segment_t* seg, size_t idx, size_t slices, size_t bin) {
    FA__DEBUG_ASSERT((seg->used_mask & fa__span_bits(idx, slices)) == 0);
    uint64_t span = fa__span_bits(idx, slices);
    fa__page_t* page = &seg->pages[idx];
    size_t bs = fa__bin_size(bin);
    for (size_t i = 1; i < slices; i++) seg->pages[idx + i].slice_offset = (uint8_t)i;
    page->slice_offset = (uint8_t)(FA__HEAD | idx);
    page->slice_count = (uint8_t)slices;
    page->block_size = (uint32_t)bs;
    page->reserved = (uint16_t)((slices << fa__seg_shift(seg)) / bs);
    page->capacity = 0;
    page->used = 0;
    page->free = NULL;
    page->local_free = NULL;
    fa__store_relaxed(&page->xthread_free, (uintptr_t)0);
    page->zero = FASTALLOC_ZERO_TRACKING && (seg->dirty_mask & span) == 0 ? (FA__ZERO_FRESH | FA__ZERO_FREE) : 0;
    page->retire_expire = 0;
    page->bin = (uint8_t)bin;
    page->next = NULL;
    *fa__page_prev(page) = NULL;
#ifdef FASTALLOC_SECURE
    /* a new key whenever the slices become a page: a key leaked before is of no use after */
    page->key = (uintptr_t)fa__secure_next((uint64_t)(uintptr_t)page) | 1;   /* odd: see fa__secure_encode */
#endif
    fa__page_set_flags(page, FA__PAGE_IN_USE);
    seg->used_mask |= span;
    seg->dirty_mask |= span;
    seg->page_count++;
    fa__page_map_slices(seg, page, idx, slices);
    FA__XSTAT(pages_acquired, 1);
    return page;
}

/* Gives an empty page's slices back to its segment (the caller handles an emptied segment). Its
   page-map entries stay: they point at a page not in use, which the free path rejects. */
static void fa__page_unsetup(fa__page_t* page) {
    FA__DEBUG_ASSERT(fa__page_in_use(page) && page->retire_expire == 0);
    fa__segment_t* seg = fa__page_segment(page);
    seg->used_mask &= ~fa__span_bits(fa__page_index(page), page->slice_count);
    fa__page_set_flags(page, 0);
    page->free = page->local_free = NULL;
    seg->page_count--;
    FA__XSTAT(pages_retired, 1);
}
/* =====================================================================================================
   >>queues  PAGE QUEUES AND RETIREMENT
   A heap queues its pages by bin (queues[1..FA__BIN_MAX]) plus one queue of full pages
   (queues[FA__BIN_FULL]); a page sits in exactly one queue while in use. The first page of a bin's
   queue is the one malloc serves from: the direct table (sizes up to FA__DIRECT_MAX) always points
   at it, or at the empty page. A full page leaves its bin queue; the first other-thread free into
   it tells the heap (delayed free), so it comes back without scanning. A page that empties is
   retired: kept in its queue (the retained set) for a few heartbeats before it goes back to its
   segment.
   ===================================================================================================== */
/* The page with no free block that empty bins and new threads point at (see fa__heap_empty). */
static fa__page_t fa__page_empty;

/* Points the direct-table slots of `bin` at its queue's first page. */
static void fa__queue_update_direct(fa__heap_t* heap, size_t bin) {
    if (bin == 0 || bin >= FA__BIN_FULL) return;
    size_t lo_words = bin == 1 ? 0 : fa__bin_request_max(bin - 1) / 8 + 1;
    if (lo_words > FA__DIRECT_MAX / 8) return;
    size_t hi = fa__bin_request_max(bin);
    size_t hi_words = (hi > FA__DIRECT_MAX ? FA__DIRECT_MAX : hi) / 8;
    fa__page_t* page = heap->queues[bin].first != NULL ? heap->queues[bin].first : &fa__page_empty;
    for (size_t w = lo_words; w <= hi_words; w++) heap->direct[w] = page;
}

FA__INLINE fa__page_queue_t* fa__queue_of(fa__heap_t* heap, const fa__page_t* page) {
    return &heap->queues[(page->flags & FA__PAGE_IN_FULL) ? FA__BIN_FULL : page->bin];
}

static void fa__queue_remove(fa__heap_t* heap, fa__page_queue_t* q, fa__page_t* page) {
    bool was_first = q->first == page;
    fa__page_t* prev = *fa__page_prev(page);
    if (prev != NULL) prev->next = page->next; else q->first = page->next;
    if (page->next != NULL) *fa__page_prev(page->next) = prev; else q->last = prev;
    page->next = NULL;
    *fa__page_prev(page) = NULL;
    if (was_first) fa__queue_update_direct(heap, (size_t)(q - heap->queues));
}

static void fa__queue_push_front(fa__heap_t* heap, fa__page_queue_t* q, fa__page_t* page) {
    *fa__page_prev(page) = NULL;
    page->next = q->first;
    if (q->first != NULL) *fa__page_prev(q->first) = page; else q->last = page;
    q->first = page;
    fa__queue_update_direct(heap, (size_t)(q - heap->queues));
}

static void fa__queue_push_back(fa__heap_t* heap, fa__page_queue_t* q, fa__page_t* page) {
    if (q->first == NULL) { fa__queue_push_front(heap, q, page); return; }
    page->next = NULL;
    *fa__page_prev(page) = q->last;
    q->last->next = page;
    q->last = page;
}

/* A full page that has room again goes back to the end of its bin queue, and other threads' frees
   into it go to its thread_free list again. */
static void fa__page_unfull(fa__heap_t* heap, fa__page_t* page) {
    fa__page_set_delay(page, FA__DELAY_NONE);
    fa__queue_remove(heap, &heap->queues[FA__BIN_FULL], page);
    fa__page_set_flags(page, (uint8_t)(page->flags & ~FA__PAGE_IN_FULL));
    fa__queue_push_back(heap, &heap->queues[page->bin], page);
}

/* A page whose blocks are all out leaves its bin queue; from now on the first other-thread free
   into it tells this heap (delayed free), so the page is found again without scanning. Frees that
   landed between the last collect and the switch to USE told nobody: if there are any, the page
   is not full after all and goes straight back (to the end of its bin queue). */
static void fa__page_to_full(fa__heap_t* heap, fa__page_t* page) {
    fa__queue_remove(heap, &heap->queues[page->bin], page);
    fa__page_set_flags(page, (uint8_t)(page->flags | FA__PAGE_IN_FULL));
    fa__queue_push_back(heap, &heap->queues[FA__BIN_FULL], page);
    fa__page_set_delay(page, FA__DELAY_USE);
    if ((fa__load_acquire(&page->xthread_free) & ~FA__DELAY_MASK) != 0) fa__page_unfull(heap, page);
}

/* The first page of the queue that has (or can be given) a free block, moved to the front; pages
   found full move to the full queue on the way. NULL: none. */
static fa__page_t* fa__queue_find_free(fa__heap_t* heap, fa__page_queue_t* q) {
    fa__page_t* page = q->first;
    while (page != NULL) {
        fa__page_t* next = page->next;
        fa__page_refill(page);
        if (page->free != NULL) {
            if (page != q->first) { fa__queue_remove(heap, q, page); fa__queue_push_front(heap, q, page); }
            return page;
        }
        fa__page_to_full(heap, page);
        if (next == NULL && !(page->flags & FA__PAGE_IN_FULL)) next = page;  /* came straight back */
        page = next;
    }
    return NULL;
}

/* Drops a page from the retained set (it was revived, or is going back to its segment). */
static void fa__retained_drop(fa__heap_t* heap, fa__page_t* page) {
    for (size_t i = 0; i < heap->retained_count; i++) {
        if (heap->retained[i] != page) continue;
        heap->retained[i] = heap->retained[--heap->retained_count];
        heap->queues[page->bin].retained_slices = (uint16_t)(heap->queues[page->bin].retained_slices - page->slice_count);
        page->retire_expire = 0;
        return;
    }
}

static void fa__retained_drop_all(fa__heap_t* heap) {
    while (heap->retained_count != 0) fa__retained_drop(heap, heap->retained[0]);
}

/* Takes an empty page out of its queue and gives it back to its segment; an emptied segment goes
   back too (fa__segment_release). */
static void fa__page_release(fa__heap_t* heap, fa__page_t* page) {
    if (page->retire_expire != 0) fa__retained_drop(heap, page);
    fa__medium_shrink(&heap->queues[page->bin]);
    fa__queue_remove(heap, fa__queue_of(heap, page), page);
    fa__page_unsetup(page);
    fa__segment_t* seg = fa__page_segment(page);
    if (seg->page_count == 0) fa__segment_release(heap, seg);
    fa__heap_schedule_purge(heap);
}

/* Retire hysteresis: a page that empties is kept, still in its queue, for a few heartbeats (fewer
   for pages of several slices) so alloc/free churn reuses it instead of handing it back and taking
   it again. Up to FA__RETAIN_BIN_SLICES slices per bin (but always the last page of a bin) and never more
   than FA__RETAINED_MAX per heap. Emptying again while kept re-arms it, and so does refilling it
   (fa__page_quick_refill): the free fast path, where a ping-pong empties the page on every free,
   skips the call for a page already kept. */
FA__INLINE uint8_t fa__retire_cycles(const fa__page_t* page) {
    return (uint8_t)(page->slice_count == 1 ? FASTALLOC_RETIRE_CYCLES : (FASTALLOC_RETIRE_CYCLES + 3) / 4);
}

static void fa__page_retire(fa__page_t* page) {
    uint8_t cycles = fa__retire_cycles(page);
    if (page->retire_expire != 0) { page->retire_expire = cycles; return; }
    fa__segment_t* seg = fa__page_segment(page);
    fa__heap_t* heap = seg->heap;
    fa__page_queue_t* q = &heap->queues[page->bin];
    bool alone = q->first == page && page->next == NULL;
    if (cycles != 0 && heap->retained_count < FA__RETAINED_MAX
        && (alone || (size_t)q->retained_slices + page->slice_count <= FA__RETAIN_BIN_SLICES)) {
        page->retire_expire = cycles;
        heap->retained[heap->retained_count++] = page;
        q->retained_slices = (uint16_t)(q->retained_slices + page->slice_count);
        return;
    }
    fa__page_release(heap, page);
}

/* Heartbeat side of retirement: revived pages leave the set, expired empty ones go back. */
static void fa__retained_expire(fa__heap_t* heap) {
    for (size_t i = heap->retained_count; i-- > 0; ) {
        fa__page_t* page = heap->retained[i];
        if (page->used != 0) fa__retained_drop(heap, page);
        else if (--page->retire_expire == 0) { page->retire_expire = 1; fa__page_release(heap, page); }
    }
}

/* =====================================================================================================
   >>huge  HUGE BLOCKS
   A block above its heap's large maximum (or aligned beyond what pages give) gets a segment of its
   own, kind FA__SEGMENT_HUGE, with the header before the block (fa__huge_layout): a fresh OS
   mapping, which reads zero and is never cleared; a mapping recycled from the huge cache (for a
   zeroed block cut to the size asked: the rest stays mapped as the block's tail, huge_tail, not
   the block's, taken back when the block is resized or freed; cleared only as far as huge_dirty
   says the mapping may hold old bytes); or a run of region windows, which may hold anything. Its page entry 0 is the block's page: in use, no
   owner (every free of it takes the slow path), block_size its offset from the header; the page
   map points the block's first granule at it. Its size is the segment's (fa_usable_size reads
   map_size). huge_written bounds what the caller may have written, so
   zeroing clears only that. Any thread frees a huge block. A first-class heap lists its huge blocks
   (on seg->next, under the global lock) so that reset and destroy can release them; a thread heap's
   belong to nobody. In FASTALLOC_SECURE a huge block on the OS ends in a guard page: its mapping is
   map_size and one inaccessible OS page more (fa__segment_map with guard, the same layout as a sampled
   block's in >>guard), so a write one byte past its usable size faults; a resize through the OS
   moves the guard page to the new end (fa__huge_remap); a block cut from a cached mapping has a
   guard page at the start of its tail (fa__huge_cut), opened again when the block grows or goes back.
   ===================================================================================================== */
typedef struct fa__huge_layout_s {
    size_t offset;               /* block start from the header                          */
    size_t map_align;            /* the mapping is placed so that (p + map_offset) is a  */
    size_t map_offset;           /* multiple of map_align                                */
} fa__huge_layout_t;

/* Where a huge block on OS memory starts: one header after the mapping's start, the mapping placed
   so that the block has the alignment asked for (at least a slice's). */
static fa__huge_layout_t fa__huge_layout(size_t align) {
    fa__huge_layout_t layout = { FA__HEADER_BYTES, align > FA__SLICE_SIZE ? align : FA__SLICE_SIZE, FA__HEADER_BYTES };
    return layout;
}

/* With an OS, points the page map's entry for a huge block's first granule at its page (its
   segment's entry 0); fa__segment_unmap_granules takes it out again. */
static void fa__huge_map(const fa__segment_t* seg) {
#ifndef FASTALLOC_NO_OS
    if (seg->region == NULL)
        fa__map_set(fa__map_granule((const uint8_t*)seg + seg->pages[0].block_size), 1, fa__map_encode(&seg->pages[0].xowner));
#else
    (void)seg;
#endif
}

/* What a huge block is for: plain, zeroed (a recycled mapping is cleared), or a fresh mapping that
   reads zero for free (rezalloc's moves, which keep the zero promise without clearing; where the OS
   or a region gave recycled memory, the block says it is not zero and the move clears past what it
   copies). */
typedef enum { FA__HUGE_PLAIN, FA__HUGE_ZEROED, FA__HUGE_FRESH } fa__huge_want_t;

/* ---- the huge cache: freed mappings kept for the next huge block -------------------------------- */
/* Freed huge blocks' mappings from the OS in the usual layout (the block one header after the
   start), up to FA__HUGE_CACHE_MAX bytes, FA__HUGE_CACHE_SLOTS of them: a program that frees a big
   block and soon allocates another one reuses the mapping, already faulted in, instead of mapping
   and faulting in fresh pages. The purge delay and fa_collect(true) unmap them. Global lock; a
   cached mapping counts as mapped, not as a live segment (a stale pointer into one is foreign to
   the debug checks). */
#define FA__HUGE_CACHE_SLOTS 4
#define FA__HUGE_CACHE_MAX   ((size_t)32 << 20)
static fa__segment_t* fa__huge_cache[FA__HUGE_CACHE_SLOTS];
static size_t fa__huge_cache_count;

static bool fa__huge_cache_put(fa__segment_t* seg) {
    if (!fa__huge_untail(seg, 0)) return false;
    if (seg->region != NULL || seg->map_size > FA__HUGE_CACHE_MAX || fa__seg_sampled(seg)) return false;
    fa__segment_unmap_granules(seg);   /* before another thread can take it: the block is gone */
    bool kept = false;
    fa__lock();
    for (size_t i = 0; i < FA__HUGE_CACHE_SLOTS && !kept; i++)
        if (fa__huge_cache[i] == NULL) { fa__huge_cache[i] = seg; kept = true; }
    if (kept) fa__store_relaxed(&fa__huge_cache_count, fa__huge_cache_count + 1);
    fa__unlock();
    if (kept) fa__sub_fetch(&fa__stats.segments_live, (size_t)1);
    return kept;
}

/* The smallest cached mapping of at least `need` bytes and at most four times that, or NULL. */
static void* fa__huge_cache_take(size_t need) {
    if (fa__load_relaxed(&fa__huge_cache_count) == 0) return NULL;
    fa__segment_t* best = NULL;
    size_t slot = 0;
    fa__lock();
    for (size_t i = 0; i < FA__HUGE_CACHE_SLOTS; i++) {
        fa__segment_t* seg = fa__huge_cache[i];
        if (seg == NULL || seg->map_size < need || seg->map_size / 4 > need) continue;
        if (best == NULL || seg->map_size < best->map_size) { best = seg; slot = i; }
    }
    if (best != NULL) {
        fa__huge_cache[slot] = NULL;
        fa__store_relaxed(&fa__huge_cache_count, fa__huge_cache_count - 1);
    }
    fa__unlock();
    return best;
}

/* Unmaps every cached mapping; says whether there was any. */
static bool fa__huge_cache_unmap(void) {
    if (fa__load_relaxed(&fa__huge_cache_count) == 0) return false;
    fa__segment_t* victims[FA__HUGE_CACHE_SLOTS];
    fa__lock();
    for (size_t i = 0; i < FA__HUGE_CACHE_SLOTS; i++) { victims[i] = fa__huge_cache[i]; fa__huge_cache[i] = NULL; }
    fa__store_relaxed(&fa__huge_cache_count, (size_t)0);
    fa__unlock();
    for (size_t i = 0; i < FA__HUGE_CACHE_SLOTS; i++) {
        if (victims[i] == NULL) continue;
        fa__track_release(victims[i]);
        fa__os_unmap(victims[i], fa__segment_mapped(victims[i]));
    }
    return true;
}

static void fa__zero_range(void* p, size_t n, bool known_zero);

/* The block keeps `map_size` bytes of its mapping from the header on; the rest is its tail (the
   inverse of fa__huge_untail). A guarded block's tail starts with a guard page, so the block
   still ends at a page no linear access passes (>>secure). One page, not the whole tail: taking
   access from a populated range costs a walk of its page tables, and from part of a huge page a
   split of it. */
static void fa__huge_cut(fa__segment_t* seg, size_t map_size) {
    if (seg->guarded && map_size < seg->map_size) fa__os_guard((uint8_t*)seg + map_size, fa__os_page_size);
    seg->huge_tail += seg->map_size - map_size;
    seg->map_size = map_size;
}

/* The block takes its tail back (usable to the mapping's end) before its mapping is resized (`keep`:
   the bytes from the header on that the resized block will hold), cached or unmapped (`keep` 0).
   What a resized block takes in of the tail and may hold old bytes is cleared first, so that the
   block never holds another block's old bytes (a resize treats what lies past the size last asked
   for as the caller's slack or as zero); the rest goes with the mapping, which may be dirty up to
   the block's end from here on. false: a guarded tail's guard page could not be opened again (the
   OS refused), and nothing changed. */
static bool fa__huge_untail(fa__segment_t* seg, size_t keep) {
    if (seg->kind != FA__SEGMENT_HUGE) return true;
    if (seg->guarded && seg->huge_tail != 0 && !fa__os_commit((uint8_t*)seg + seg->map_size, fa__os_page_size)) return false;
    size_t end = seg->map_size + seg->huge_tail;
    size_t dirty_end = seg->huge_dirty < end ? seg->huge_dirty : end;
    if (keep < dirty_end) dirty_end = keep;
    if (dirty_end > seg->map_size) fa__zero_range((uint8_t*)seg + seg->map_size, dirty_end - seg->map_size, false);
    if (seg->huge_dirty < seg->map_size) seg->huge_dirty = seg->map_size;
    seg->map_size = end;
    seg->huge_tail = 0;
    return true;
}

/* ---- which heap a huge block belongs to ---------------------------------------------------------- */
static void fa__huge_link(fa__heap_t* heap, fa__segment_t* seg) {
    FA__DEBUG_ASSERT(FA__LOCK_HELD());
    fa__store_relaxed(&seg->heap, heap);
    fa__segment_list_push(&heap->huge, seg);
}

/* Takes a huge block off its heap's list, under the lock; returns that heap (NULL: none). */
static fa__heap_t* fa__huge_unlink(fa__segment_t* seg) {
    FA__DEBUG_ASSERT(FA__LOCK_HELD());
    fa__heap_t* heap = seg->heap;
    if (heap != NULL) {
        fa__segment_list_remove(&heap->huge, seg);
        fa__store_relaxed(&seg->heap, (fa__heap_t*)NULL);
    }
    return heap;
}

/* A first-class heap lists its huge blocks; every heap lists its sampled blocks (>>guard), which
   are small ones to fa_heap_visit and fa_heap_stats. */
static void fa__huge_track(fa__heap_t* heap, fa__segment_t* seg) {
    if (heap->kind != FA__HEAP_FIRST_CLASS && !fa__seg_sampled(seg)) return;
    fa__lock();
    fa__huge_link(heap, seg);
    fa__unlock();
}

static void fa__huge_untrack(fa__segment_t* seg) {
    if (fa__load_relaxed(&seg->heap) == NULL) return;
    fa__lock();
    fa__huge_unlink(seg);
    fa__unlock();
}

/* Detaches every huge block from the heap and returns their list: they now belong to nobody. */
static fa__segment_t* fa__heap_detach_huge(fa__heap_t* heap) {
    fa__lock();
    fa__segment_t* seg = heap->huge;
    heap->huge = NULL;
    for (fa__segment_t* s = seg; s != NULL; s = s->next) fa__store_relaxed(&s->heap, (fa__heap_t*)NULL);
    fa__unlock();
    return seg;
}

/* fa_heap_reset and fa_heap_destroy: the heap's huge blocks go back whole. */
static void fa__heap_free_huge(fa__heap_t* heap) {
    fa__segment_t* seg = fa__heap_detach_huge(heap);
    while (seg != NULL) {
        fa__segment_t* next = seg->next;
        fa__segment_free(seg);
        seg = next;
    }
}

/* ---- allocation ---------------------------------------------------------------------------------- */
/* FASTALLOC_SECURE: huge blocks on the OS end in a guard page (where the OS protects pages). */
#if defined(FASTALLOC_SECURE) && defined(FA__SYS_GUARD)
#  define FA__HUGE_GUARD 1
#else
#  define FA__HUGE_GUARD 0
#endif
/* The segment of a huge block, from the heap's region, the huge cache (unless `want` asks for a
   fresh mapping; only mappings in the usual layout are cached) or a fresh mapping; *offset: where
   the block starts in it; *fresh: it reads zero. */
static fa__segment_t* fa__huge_segment_new(fa__heap_t* heap, size_t size, size_t align, fa__huge_want_t want,
                                           size_t* offset, bool* fresh) {
    fa__region_t* source = fa__heap_source(heap);
    *fresh = false;
    if (source != NULL) {
        size_t span = 0;
        uint8_t* window = fa__region_take_huge(source, size == 0 ? 1 : size, align, offset, &span);
        return window == NULL ? NULL : fa__segment_init(window, span, FA__SEGMENT_HUGE, false, source);
    }
    fa__huge_layout_t layout = fa__huge_layout(align);
    *offset = layout.offset;
    if (size > FA__PTRDIFF_MAX - layout.offset - fa__os_page_size) return NULL;
    size_t body = fa__align_up(size == 0 ? 1 : size, fa__os_page_size);   /* never an empty block */
    fa__segment_t* cached = want != FA__HUGE_FRESH && align <= FA__SLICE_SIZE
                                ? (fa__segment_t*)fa__huge_cache_take(layout.offset + body) : NULL;
    if (cached != NULL) {
        size_t dirty = cached->huge_dirty;
        fa__segment_t* seg = fa__segment_init(cached, cached->map_size, FA__SEGMENT_HUGE, false, NULL);
        seg->guarded = FA__HUGE_GUARD;   /* every cached mapping was laid out as fresh ones are */
        seg->huge_dirty = dirty;
        /* A zeroed block is the size asked for, page-rounded; the rest of the mapping stays mapped
           as its tail, for the mapping's next user. So it clears at most what it asked for (the
           part that may be dirty), not up to four times that. A plain block keeps the whole
           mapping: it clears nothing, and its growth stays in place. With guard pages every block
           is cut so, its tail starting with a guard page: the guard stays under a page past its
           end, and a zeroed one clears no more than a fresh mapping's would hold (FASTALLOC_SECURE's
           calloc-large, 1..8 MiB blocks through the huge cache, cleared whole mappings of up to
           four times the size asked for). */
        if ((want == FA__HUGE_ZEROED || FA__HUGE_GUARD) && layout.offset + body < seg->map_size)
            fa__huge_cut(seg, layout.offset + body);
        return seg;
    }
    /* A block on huge pages (which start at the block) ends on one: the kernel backs only whole
       huge pages, so a partial last one would fault in base pages, and once cached the mapping
       fits more of the requests that come after (virtual only until touched). Not where a guard
       page follows the block: there the slack before it stays under a page. */
    size_t huge_page = FA__HUGE_GUARD ? 0 : fa__os_huge_page_for(body, FA__SEGMENT_HUGE, 0, body);
    size_t whole = huge_page != 0 ? fa__align_up(body, huge_page) : body;
    if (whole <= FA__HUGE_CACHE_MAX - layout.offset) body = whole;
    return fa__segment_map(layout.offset + body, layout.map_align, layout.map_offset, FA__SEGMENT_HUGE, FA__HUGE_GUARD, 0, body, fresh);
}

/* A huge block for `heap` (a first-class heap lists it). A zeroed one reads zero over its whole
   usable size: a block cut from a recycled mapping is cleared as far as the mapping may be dirty
   (huge_dirty; clearing beats the page faults of a fresh mapping several times over); only a fresh
   mapping reads zero for free. huge_written
   says how far the block may be dirty: a fresh mapping only where the caller writes, recycled or
   region memory everywhere until cleared. */
static void* fa__huge_place(fa__heap_t* heap, fa__segment_t* seg, size_t offset, bool fresh, size_t size, fa__huge_want_t want);
static void* fa__huge_alloc(fa__heap_t* heap, size_t size, size_t align, fa__huge_want_t want) {
    size_t offset;
    bool fresh;
    fa__segment_t* seg = fa__huge_segment_new(heap, size, align, want, &offset, &fresh);
    if (seg == NULL && fa__heap_make_room(heap)) seg = fa__huge_segment_new(heap, size, align, want, &offset, &fresh);
    if (seg == NULL) return fa__fail(FA__ENOMEM);
    return fa__huge_place(heap, seg, offset, fresh, size, want);
}

/* The block of `size` bytes at `offset` in a huge segment (or a sampled block's slot) is handed out:
   its page, the page map, what it may have written, clearing, and its heap's list. */
static void* fa__huge_place(fa__heap_t* heap, fa__segment_t* seg, size_t offset, bool fresh, size_t size, fa__huge_want_t want) {
    /* The block's slice entry points back at entry 0, the block's page. */
    size_t idx = offset >> fa__seg_shift(seg);
    if (idx != 0) seg->pages[idx].slice_offset = (uint8_t)idx;
    seg->pages[0].flags = FA__PAGE_IN_USE;
    seg->pages[0].xowner = FA__NO_OWNER;
    seg->pages[0].block_size = (uint32_t)offset;
    seg->pages[0].xthread_free = FA__DELAY_NEVER;
    fa__huge_map(seg);
    uint8_t* p = (uint8_t*)seg + offset;
    size_t usable = seg->map_size - offset;
    bool zero = want == FA__HUGE_ZEROED;
    if (zero && fresh) fa__zero_range(p, size, FASTALLOC_ZERO_TRACKING);
    if (zero && !fresh) {   /* past huge_dirty a recycled mapping was never handed out: zero */
        size_t dirty = !FASTALLOC_ZERO_TRACKING ? usable : seg->huge_dirty > offset ? seg->huge_dirty - offset : 0;
        fa__zero_range(p, dirty < usable ? dirty : usable, false);
    }
    seg->huge_written = zero || fresh ? size : usable;
    seg->pages[0].zero = zero || fresh ? FA__ZERO_FREE : 0;   /* for fa__malloc_for_move */
    if (!fresh) fa__check_handout(p);
    fa__huge_track(heap, seg);
    return p;
}

/* ---- resize and free ----------------------------------------------------------------------------- */
/* A huge block in a region resizes over the windows next to it, asking for `want` bytes and, if
   those are taken, exactly `size`. The windows it gains may hold anything: with `zero` they are
   cleared, so past huge_written the block still reads zero. */
static void* fa__huge_resize_in_region(fa__segment_t* seg, uint8_t* p, size_t size, size_t want, bool zero) {
    size_t offset = (size_t)(p - (uint8_t*)seg), old_size = seg->map_size;
    size_t new_size = offset + fa__align_up(want, FA__REGION_SLICE_SIZE);
    if (!fa__region_resize(seg->region, seg, old_size, new_size)) {
        new_size = offset + fa__align_up(size, FA__REGION_SLICE_SIZE);
        if (want == size || !fa__region_resize(seg->region, seg, old_size, new_size)) return NULL;
    }
    if (zero && new_size > old_size) fa__zero_range((uint8_t*)seg + old_size, new_size - old_size, false);
    if (new_size < old_size) fa__track_shrink(p, new_size - offset);
    if (new_size < old_size) fa__track_open((uint8_t*)seg + new_size, old_size - new_size);   /* the region's again */
    else fa__track_close((uint8_t*)seg + old_size, new_size - old_size);
    seg->map_size = new_size;
    return p;
}

/* Resizes the mapping of a huge block without copying: where it is, or moved (page tables only)
   to a fresh range with the same layout; returns the segment (NULL: not possible). */
/* A guarded block's guard page (FASTALLOC_SECURE) moves to the new end: a shrink drops the old one
   with the tail and lays a new one; a growth lifts the old one first, so the mapping is one range
   the OS can resize or move, and lays it again at the new end (on failure, where it was). A lifted
   guard page may hold the bytes of an earlier, longer block: it is cleared, since what the OS adds
   must read zero (the zero promise of >>realloc relies on it). */
static fa__segment_t* fa__huge_remap(fa__segment_t* seg, size_t new_size, size_t align) {
    size_t old_size = seg->map_size, g = seg->guarded ? fa__os_page_size : 0;
    uint8_t* base = (uint8_t*)seg;
    if (new_size < old_size) {
        fa__track_shrink(base + seg->pages[0].block_size, new_size - seg->pages[0].block_size);
        fa__track_open(base + new_size, old_size - new_size);   /* going back */
    }
    if (g != 0 && new_size > old_size) {
        if (!fa__os_commit(base + old_size, g)) return NULL;
        FASTALLOC_MEMSET(base + old_size, 0, g);
    }
    if (fa__os_resize(seg, old_size + g, new_size + g)) {
        if (g != 0) fa__os_guard(base + new_size, g);
        if (new_size > old_size) fa__track_close(base + old_size, new_size - old_size);
        return seg;
    }
    if (new_size <= old_size) return NULL;
    fa__huge_layout_t layout = fa__huge_layout(align);
    void* target = fa__os_reserve(new_size + g, layout.map_align, layout.map_offset);
    if (target != NULL) {
#ifndef FASTALLOC_NO_OS
        size_t offset = seg->pages[0].block_size;
        fa__track_release(seg);
        if (fa__map_reserve((uint8_t*)target + offset, 1) && fa__os_move(seg, old_size + g, new_size + g, target)) {
            fa__track_moved(base + offset, (uint8_t*)target + offset);
            if (g != 0) fa__os_guard((uint8_t*)target + new_size, g);
            return (fa__segment_t*)target;
        }
#endif
        fa__os_unreserve(target, new_size + g);
    }
    if (g != 0) fa__os_guard(base + old_size, g);
    return NULL;
}

/* Resizes a huge block where it is (regions), or through the OS without copying. Growth asks for a
   quarter more than needed: virtual only until touched, and it makes growth by small steps
   amortised; without room for that, the exact size. NULL: it must move by copying. */
static void* fa__huge_resize(fa__segment_t* seg, uint8_t* p, size_t size, size_t align, bool zero) {
    size_t offset = (size_t)(p - (uint8_t*)seg);
    if (size > FA__PTRDIFF_MAX - offset - fa__os_page_size) return NULL;
    size_t cut = seg->map_size;   /* a cut block gets its cut back if this fails */
    if (!fa__huge_untail(seg, offset + fa__align_up(size, fa__os_page_size))) return NULL;
    size_t old_size = seg->map_size;
    size_t want = size > old_size - offset ? size + size / 4 : size;
    if (want > FA__PTRDIFF_MAX - offset - fa__os_page_size) want = size;
    if (seg->region != NULL) return fa__huge_resize_in_region(seg, p, size, want, zero);
    if (fa__seg_sampled(seg)) return NULL;   /* its slot serves one block, against its guard page */
    /* A first-class heap's huge block is on its list, whose links move with the header. Any thread
       may realloc the block while the owner deletes or destroys the heap, so the whole move happens
       under the lock that guards the list (thread heaps' huge blocks are on no list). */
    bool listed = fa__load_relaxed(&seg->heap) != NULL;
    if (listed) fa__lock();
    fa__heap_t* owner = listed ? fa__huge_unlink(seg) : NULL;
    /* the page map forgets the old address before the OS can hand it to another mapping */
    fa__segment_unmap_granules(seg);
    size_t new_size = offset + fa__align_up(want, fa__os_page_size);
    fa__segment_t* now = fa__huge_remap(seg, new_size, align);
    if (now == NULL && want != size) {
        new_size = offset + fa__align_up(size, fa__os_page_size);
        now = fa__huge_remap(seg, new_size, align);
    }
    if (now != NULL) {
        if (now != seg) now->cookie = fa__segment_cookie(now);
        now->map_size = new_size;
    } else {   /* the mapping is as it was: the block keeps its size (what was cleared of the tail reads zero) */
        fa__huge_cut(seg, cut);
    }
    fa__huge_map(now != NULL ? now : seg);
    if (owner != NULL) fa__huge_link(owner, now != NULL ? now : seg);
    if (listed) fa__unlock();
    return now != NULL ? (uint8_t*)now + offset : NULL;
}

/* A huge block now holds `size` bytes for the caller: with zero, a shrink clears everything past
   that up to the usable size, the slack the caller may have written past the size it last asked
   for included (only that slack is excepted from the zero promise, and only while the block does
   not shrink below it); growth trusts that nothing past the size last asked for was written but
   that slack (pages the OS added read zero already). Only [0, size) may be dirty from here on. */
static void* fa__huge_settle(fa__segment_t* seg, uint8_t* p, size_t size, bool zero) {
    size_t usable = seg->map_size - (size_t)(p - (uint8_t*)seg);
    size_t written = seg->huge_written < usable ? seg->huge_written : usable;
    if (zero && written > size) fa__zero_range(p + size, usable - size, false);
    if (zero && written < size) fa__zero_range(p + written, size - written, FASTALLOC_ZERO_TRACKING); /* OS-added */
    seg->huge_written = size;
    return p;
}

/* =====================================================================================================
   >>guard  SAMPLED GUARD PAGES (FASTALLOC_GUARD_SAMPLE)
   About one allocation in FA__GUARD_RATE (FASTALLOC_GUARD_SAMPLE's value) of at most FA__GUARD_MAX
   bytes, from a heap on OS memory, is a sampled block: it gets a slot of its own, a mapping laid out
   as [segment header | ... | block][guard page], the block right-aligned so that its end (the request
   rounded up to 16 bytes, the alignment blocks promise: up to 15 bytes of slack) touches the guard
   page, which has no access. So a linear overflow past the usable size faults at once. A freed
   sampled block's whole slot loses its access and joins the quarantine, the FA__GUARD_QUARANTINE
   slots freed last, so a use after free faults too while it is there; an older slot is unmapped,
   or, once the quarantine is full, given access back and reused for the next sample (one protection
   change on each side: no mapping per sample in a steady state). Memory held: at most
   FA__GUARD_QUARANTINE slots besides the live sampled blocks.
   A sampled block is a huge block to the rest of the allocator (kind FA__SEGMENT_HUGE, its page
   entry 0, the page map pointing its first granule there), so fa_free from any thread,
   fa_usable_size (the 16-rounded request), calloc zeroing and the debug checks need nothing new;
   seg->sampled keeps it out of everything that would reuse or move the mapping: the huge cache, the
   OS resize of realloc (a realloc moves it, by copying, to a new block, sampled or not), purges.
   Every heap lists its sampled blocks (heap->huge, global lock), a thread heap too, so fa_heap_visit
   and fa_heap_stats see them as live blocks (not huge ones) and reset and destroy free them; a
   thread heap that ends, or a deleted heap, hands them to nobody, as huge blocks.
   When to sample, at no cost on the fast path: each heap counts down the blocks its slow path makes
   available (a page found or refilled brings capacity - used, which the fast path then hands out
   without counting); once the count reaches zero, the next request of at most FA__GUARD_MAX bytes
   that reaches the slow path (its page ran dry) is sampled, and the count restarts from an interval
   drawn uniformly in [1, 2N - 1] (mean N; random, so no allocation pattern always escapes it).
   Requests aligned beyond 16 bytes are not sampled (guard_hold): their paths need page blocks.
   Default rate 1 in 2^18: a sample costs two protection changes (mprotect, or VirtualFree and
   VirtualAlloc: about 5 us each on the 2-core VM where it was measured, less without a
   hypervisor), so at 2^18 allocations of the suite's fastest churn (~5 ns each, 1.3 ms) it costs
   under 0.8 % there; a slot reused from the quarantine costs no mapping and no page fault. The
   count in refills is the rest: +0 to +0.9 % instructions per operation (README).
   ===================================================================================================== */
#if FA__GUARD_SAMPLING
#define FA__GUARD_MAX        ((size_t)16384)   /* largest request sampled: small and medium blocks */
#define FA__GUARD_QUARANTINE 16                /* freed slots kept inaccessible                   */
#define FA__GUARD_LIVE_MAX   1024              /* live sampled blocks at most (memory, map count) */

static size_t fa__guard_live;                  /* atomic: live sampled blocks */

/* The quarantine: slots in the order they were freed, `first` the oldest (global lock). */
static struct { fa__segment_t* slot[FA__GUARD_QUARANTINE]; size_t first, count; } fa__guard_ring;

/* Bytes of a slot before its guard page: the segment header and FA__GUARD_MAX, in whole OS pages. */
static size_t fa__guard_slot_size(void) {
    return fa__align_up(sizeof(fa__segment_t), fa__os_page_size) + fa__align_up(FA__GUARD_MAX, fa__os_page_size);
}

/* The next sampling interval, uniform in [1, 2 * FA__GUARD_RATE - 1] (xorshift64, seeded from the
   heap's address and the clock). */
static int64_t fa__guard_interval(fa__heap_t* heap) {
    if (FA__GUARD_RATE <= 1) return 1;
    uint64_t x = heap->guard_rng;
    if (x == 0) x = ((uint64_t)(uintptr_t)heap ^ (fa__os_clock_ms() << 24) ^ 0x9e3779b97f4a7c15ULL) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    heap->guard_rng = x;
    return 1 + (int64_t)(x % (uint64_t)(2 * FA__GUARD_RATE - 1));
}

/* A sample is due and a request of `size` may take it. Off the fast path only (the empty heap's
   count is 0: due, which sends a thread's first request to the slow path, as it goes anyway). */
FA__INLINE bool fa__guard_due(const fa__heap_t* heap, size_t size) {
    return heap->guard_countdown <= 0 && size <= FA__GUARD_MAX && !heap->guard_hold;
}
/* The slow path made `page`'s free blocks available to the fast path: they count as handed out. */
FA__INLINE void fa__guard_count(fa__heap_t* heap, const fa__page_t* page) {
    heap->guard_countdown -= (int64_t)page->capacity - (int64_t)page->used;
}
FA__INLINE void fa__guard_hold(fa__heap_t* heap, bool hold) { heap->guard_hold = (uint8_t)hold; }

/* Takes the oldest slot out of the quarantine if it holds at least `least` (>= 1) slots (NULL:
   fewer); the _locked form under the lock. */
static void* fa__guard_ring_pop_locked(size_t least) {
    if (fa__guard_ring.count < least) return NULL;
    void* oldest = fa__guard_ring.slot[fa__guard_ring.first];
    fa__guard_ring.first = (fa__guard_ring.first + 1) % FA__GUARD_QUARANTINE;
    fa__guard_ring.count--;
    return oldest;
}
static void* fa__guard_ring_pop(size_t least) {
    fa__lock();
    void* oldest = fa__guard_ring_pop_locked(least);
    fa__unlock();
    return oldest;
}

/* A slot for a sampled block: the oldest of a full quarantine, its access given back (it may hold
   anything), else a fresh guarded mapping (*fresh: it reads zero). The slot's first granule is
   slice-aligned, so no other block start shares its page-map entry. */
static fa__segment_t* fa__guard_slot_take(bool* fresh) {
    size_t size = fa__guard_slot_size();
    void* mem = fa__guard_ring_pop(FA__GUARD_QUARANTINE);
    if (mem != NULL) {
        if (fa__os_commit(mem, size)) {
            *fresh = false;
            fa__segment_t* seg = fa__segment_init(mem, size, FA__SEGMENT_HUGE, false, NULL);
            seg->guarded = 1;
            return seg;
        }
        fa__os_unmap(mem, size + fa__os_page_size);
    }
    return fa__segment_map(size, FA__SLICE_SIZE, 0, FA__SEGMENT_HUGE, true, 0, size, fresh);
}

/* A freed sampled block (fa__segment_free, after the page map forgot it): its slot loses all access
   and joins the quarantine; the oldest slot of a full quarantine is unmapped. */
static void fa__guard_retire(fa__segment_t* seg) {
    size_t size = seg->map_size;   /* read before the header goes inaccessible */
    fa__sys_guard(seg, size);
    (void)fa__sub_fetch(&fa__guard_live, (size_t)1);
    fa__lock();
    void* oldest = fa__guard_ring_pop_locked(FA__GUARD_QUARANTINE);
    fa__guard_ring.slot[(fa__guard_ring.first + fa__guard_ring.count) % FA__GUARD_QUARANTINE] = seg;
    fa__guard_ring.count++;
    fa__unlock();
    if (oldest != NULL) fa__os_unmap(oldest, size + fa__os_page_size);
}

/* fa_collect(true): every quarantined slot is unmapped. */
static void fa__guard_ring_unmap(void) {
    size_t size = fa__guard_slot_size();
    for (void* mem; (mem = fa__guard_ring_pop(1)) != NULL; ) fa__os_unmap(mem, size + fa__os_page_size);
}

/* The slow path's sample: the block right-aligned against the guard page. NULL: no slot could be
   had, or the heap lives in a region (no OS pages to protect); the caller allocates as usual. */
static void* fa__guard_alloc(fa__heap_t* heap, size_t size, bool zero) {
    heap->guard_countdown = fa__guard_interval(heap) - 1;
    if (fa__load_relaxed(&fa__guard_live) >= FA__GUARD_LIVE_MAX || fa__heap_source(heap) != NULL) return NULL;
    bool fresh;
    fa__segment_t* seg = fa__guard_slot_take(&fresh);
    if (seg == NULL) return NULL;
    (void)fa__add_fetch(&fa__guard_live, (size_t)1);
    seg->sampled = 1;
    FA__STAT(guard_samples, 1);
    size_t rounded = size == 0 ? 16 : fa__align_up(size, 16);
    return fa__huge_place(heap, seg, seg->map_size - rounded, fresh, size, zero ? FA__HUGE_ZEROED : FA__HUGE_PLAIN);
}
#else
#  define fa__guard_due(heap, size)    false
#  define fa__guard_count(heap, page)  ((void)0)
#  define fa__guard_hold(heap, hold)   ((void)0)
#  define fa__guard_ring_unmap()       ((void)0)
#  define fa__guard_alloc(heap, size, zero) ((void*)NULL)
#endif

/* =====================================================================================================
   >>heaps  HEAPS
   A heap owns segments and queues their pages (>>queues). Each thread has a thread heap
   (fa__tls_heap); a thread starts on fa__heap_empty, whose direct table points at a page with no
   free block, so its first malloc drops into the slow path, which makes the real heap: the fast
   path never tests for initialisation. Thread heap records come from a pool of OS-mapped records.
   First-class heaps (fa_heap_new*) belong to the thread that made them and own their segments
   outright (they never adopt another heap's), so fa_heap_destroy releases segments whole and
   fa_heap_reset empties pages in place, without looking at a single block; they also list their
   huge blocks. A thread heap lists its thread's first-class heaps, which are deleted (merged into
   it) when the thread ends; then the thread heap is abandoned: empty pages go back and its segments
   join the abandoned list, which thread heaps adopt from when they need a segment.
   ===================================================================================================== */
#define FA__E  &fa__page_empty
#define FA__E8 FA__E, FA__E, FA__E, FA__E, FA__E, FA__E, FA__E, FA__E
FA__STATIC_ASSERT(FA__DIRECT_SLOTS == 129, direct_table_initialiser_matches);
/* Never written (the slow path replaces it before anything is stored), hence const: on a
   microcontroller its kilobyte sits in flash, not RAM. FA__EMPTY_HEAP is the pointer threads hold. */
static const fa__heap_t fa__heap_empty = { { FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8,
                                       FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E8, FA__E },
                                     { { NULL, NULL, 0, 0 } }, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                     0, 0, 0, 0, 0, { NULL }, NULL, { { NULL, NULL, NULL, 0 } }, FA__HEAP_THREAD, FA__HOME_POOL, 0, 0
#if FA__GUARD_SAMPLING
                                     , 0, 0, 0   /* countdown 0: due, but this heap only sends requests on */
#endif
};
#undef FA__E8
#undef FA__E
#define FA__EMPTY_HEAP ((fa__heap_t*)&fa__heap_empty)
static FA__TLS fa__heap_t* fa__tls_heap = FA__EMPTY_HEAP;

/* fa_init_region's region: where every heap without a region of its own takes memory. It may be set
   until the first such heap has taken memory from the OS (fa__os_blocks), not after: both change
   only under the global lock, so no heap can slip between the two (fa__heap_source). */
static fa__region_t* fa__default_region;
static bool fa__os_blocks;

/* A new heap of `kind` whose record lives where its kind says: a region heap's in the region, a
   thread heap's among the thread heap records, a first-class heap's in a block of the thread heap. */
static void fa__heap_init_record(fa__heap_t* heap, uint8_t kind, fa__region_t* region) {
    FASTALLOC_MEMSET(heap, 0, sizeof(*heap));
    for (size_t i = 0; i < FA__DIRECT_SLOTS; i++) heap->direct[i] = &fa__page_empty;
    heap->kind = kind;
    heap->home = region != NULL ? FA__HOME_REGION : kind == FA__HEAP_THREAD ? FA__HOME_POOL : FA__HOME_BLOCK;
    heap->region = region;         /* NULL: the default source, looked up when memory is taken */
    heap->thread_id = fa__thread_id_ensure();
    heap->thread_key = fa__thread_key();
#if FA__GUARD_SAMPLING
    heap->guard_countdown = fa__guard_interval(heap) - 1;
#endif
}

/* ---- thread heap records ------------------------------------------------------------------------- */
/* Records of thread heaps live in chunks the OS maps 16 at a time and are reused after their thread
   ends (a freed record goes on fa__heap_records); global lock. */
static fa__heap_t* fa__heap_records;
static uint8_t* fa__heap_chunk;
static size_t fa__heap_chunk_left;

static fa__heap_t* fa__heap_record_take(void) {
    fa__heap_t* heap;
    fa__lock();
    heap = fa__heap_records;
    if (heap != NULL) {
        fa__heap_records = heap->pool_next;
    } else {
        size_t size = fa__align_up(sizeof(fa__heap_t), 64);
        if (fa__heap_chunk_left < size) {
            size_t chunk = fa__align_up(size * 16, fa__os_page_size);
            fa__heap_chunk = (uint8_t*)fa__os_map_metadata(chunk);
            fa__heap_chunk_left = fa__heap_chunk == NULL ? 0 : chunk;
        }
        if (fa__heap_chunk_left >= size) {
            heap = (fa__heap_t*)fa__heap_chunk;
            fa__heap_chunk += size;
            fa__heap_chunk_left -= size;
        }
    }
    fa__unlock();
    return heap;
}

static void fa__heap_unlink_first_class(fa__heap_t* heap);

/* A heap is gone: its record goes back where it lives (the thread heap records, a block of the
   thread heap, or a region's bookkeeping, where it stays readable so debug builds reject it). */
static void fa__heap_record_release(fa__heap_t* heap) {
    if (heap->kind == FA__HEAP_FIRST_CLASS) fa__heap_unlink_first_class(heap);
    heap->kind = FA__HEAP_GONE;
    if (heap->home == FA__HOME_POOL) {
        fa__lock();
        heap->pool_next = fa__heap_records;
        fa__heap_records = heap;
        fa__unlock();
    } else if (heap->home == FA__HOME_BLOCK) {
        fa__free(heap);
    }
}

/* ---- memory: where it comes from, when it goes back ---------------------------------------------- */
/* Where the heap takes memory: its own region, else the default region, else the OS (which from
   then on rules out a default region). */
static fa__region_t* fa__heap_source(const fa__heap_t* heap) {
    if (heap->region != NULL) return heap->region;
    fa__lock();
    fa__region_t* source = fa__default_region;
    if (source == NULL) fa__os_blocks = true;
    fa__unlock();
    return source;
}

/* The heap's geometry: its region's, or the OS's; fixed the first time it is asked, when it takes
   memory (a default region may still be set until then). */
static unsigned fa__heap_shift(fa__heap_t* heap) {
    if (heap->slice_shift == 0)
        heap->slice_shift = (uint8_t)(fa__heap_source(heap) != NULL ? FA__REGION_SHIFT : FASTALLOC_SLICE_SHIFT);
    return heap->slice_shift;
}

/* The largest block the heap serves from pages; bigger ones are huge. */
static size_t fa__heap_large_max(fa__heap_t* heap) { return fa__geometry_large_max(fa__heap_shift(heap)); }

/* Memory just went back to a segment: purge it once FASTALLOC_PURGE_DELAY_MS pass without another
   such event (each one pushes the deadline back, so churn does not purge what it is about to reuse).
   The heap's demand (fa__heap_purge_due) counts from the first of them. */
static void fa__heap_schedule_purge(fa__heap_t* heap) {
    if (heap->purge_at == 0) heap->retaken_at_deadline = heap->slices_retaken;
    heap->purge_at = fa__purge_deadline();
}

/* The purge deadline fell due (or fa_collect): every free slice of the heap's segments goes back to
   the OS; the heap's spare segment and the huge cache are unmapped. The pool keeps its own deadline
   (fa__pool_expire): its segments wait for the next thread or heap, and when one heap's purge
   purged them too, a program whose threads come and go faulted them in again at once (mstress-8:
   a median of 60 MiB purged per run and 10,300 page faults; 1 MiB and 7,000 without). */
static void fa__heap_purge(fa__heap_t* heap) {
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) fa__segment_purge(seg);
    if (heap->spare_segment != NULL) {
        fa__segment_free(heap->spare_segment);
        heap->spare_segment = NULL;
    }
    (void)fa__huge_cache_unmap();
    heap->purge_at = 0;
}

/* The purge deadline fell due. A heap whose new pages took at least a quarter of its free slices
   not yet purged since the deadline was armed (or last moved on) is growing back into them and,
   at that pace, takes the rest within a few delays: purging them now would hand the OS memory
   that faults straight back in (frag: free 90 %, then allocate more, purged at the deadline in the
   middle of the refill: 28,000 page faults a run against 2,200 unpurged). Its deadline moves one
   delay on instead. Otherwise (less demand than that, the common case after a peak) all of it
   goes: what stays unpurged is bounded by four times what the heap took in the last window. */
static void fa__heap_purge_due(fa__heap_t* heap) {
    size_t unpurged = 0;
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) unpurged += fa__bit_count(fa__segment_unpurged(seg));
    size_t retaken = heap->slices_retaken - heap->retaken_at_deadline;
    if (unpurged != 0 && retaken >= (unpurged + 3) / 4) {
        heap->retaken_at_deadline = heap->slices_retaken;
        heap->purge_at = fa__purge_deadline();
    } else {
        fa__heap_purge(heap);
    }
}

/* ---- finding a page for malloc ------------------------------------------------------------------- */
/* A fresh page of `bin` on committed slices [idx, idx + slices) of one of the heap's segments,
   of which `was_free` were free until now: dirty ones count as taken back (the purge deadline). */
static fa__page_t* fa__heap_page_on(fa__heap_t* heap, fa__segment_t* seg, size_t idx, size_t slices, size_t bin, uint64_t was_free) {
    heap->slices_retaken += fa__bit_count(seg->dirty_mask & was_free);
    return fa__page_setup(seg, idx, slices, bin);
}

/* A new page of `bin` on free slices of one of the heap's segments, or NULL. */
static fa__page_t* fa__heap_fresh_page(fa__heap_t* heap, size_t bin) {
    fa__page_queue_t* q = &heap->queues[bin];
    size_t bs = fa__bin_size(bin);
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) {
        size_t slices = fa__fresh_page_slices(q, bs, fa__seg_shift(seg));
        int idx = fa__span_find(~seg->used_mask, slices);
        if (idx < 0) continue;
        uint64_t span = fa__span_bits((size_t)idx, slices);
        if (fa__segment_commit(seg, span)) return fa__heap_page_on(heap, seg, (size_t)idx, slices, bin, span);
    }
    return NULL;
}

/* A fresh page of several slices for `bin` laid over the kept empty page (retire hysteresis) of
   several slices that emptied last, where that page's slices, with free ones after it, hold it:
   the kept page was written moments ago, so its memory is resident and likely in the cache, where
   free slices may have been purged or not touched for long. Without this, a block resized through
   the large size classes (rezalloc-chain: realloc to random sizes up to 1 MiB, preloaded) kept a
   page in each class it left for a few heartbeats and took cold slices for the next, so every
   growth cleared memory the cache had lost. A bin with a page of its own never gets here (that page
   is found first), so the churn the kept page is there for still reuses it. NULL: no such page. */
static fa__page_t* fa__heap_fresh_page_over_kept(fa__heap_t* heap, size_t bin) {
    fa__page_t* kept = NULL;
    for (size_t i = 0; i < heap->retained_count; i++) {
        fa__page_t* page = heap->retained[i];
        if (page->used == 0 && page->slice_count > 1 && (kept == NULL || page->retire_expire > kept->retire_expire)) kept = page;
    }
    if (kept == NULL) return NULL;
    fa__segment_t* seg = fa__page_segment(kept);
    size_t slices = fa__fresh_page_slices(&heap->queues[bin], fa__bin_size(bin), fa__seg_shift(seg));
    if (slices < 2) return NULL;
    size_t idx = fa__page_index(kept), have = kept->slice_count;
    uint64_t extra = 0;   /* the free slices after it that a bigger page also takes */
    if (slices > have) {
        if (idx + slices > FA__SLICES) return NULL;
        extra = fa__span_bits(idx + have, slices - have);
        if ((seg->used_mask & extra) != 0 || !fa__segment_commit(seg, extra)) return NULL;
    }
    fa__retained_drop(heap, kept);
    fa__queue_remove(heap, fa__queue_of(heap, kept), kept);
    fa__page_unsetup(kept);
    if (slices < have) {
        fa__slices_split_off(seg, idx + slices, have - slices);
        fa__heap_schedule_purge(heap);
    }
    return fa__heap_page_on(heap, seg, idx, slices, bin, extra);
}

/* Gives back to its segment the empty page the heap keeps (retire hysteresis) that is nearest its
   expiry; false: it keeps none (revived pages, which have blocks out again, do not count). */
static bool fa__retained_release_next(fa__heap_t* heap) {
    fa__page_t* next = NULL;
    for (size_t i = 0; i < heap->retained_count; i++) {
        fa__page_t* page = heap->retained[i];
        if (page->used == 0 && (next == NULL || page->retire_expire < next->retire_expire)) next = page;
    }
    if (next != NULL) fa__page_release(heap, next);
    return next != NULL;
}

static size_t fa__heap_collect_pages(fa__heap_t* heap);

/* The slow half of malloc: a page of `bin` with a free block, at the front of its queue. In order:
   a page of the queue, a fresh page over the kept page that emptied last (pages of several slices)
   or in an owned segment's free slices, (thread heaps) an abandoned segment, room made by giving
   back kept empty pages one at a time, then pages other threads emptied (one walk of the heap's
   pages, only after a delayed free saw one: fa__heap_delayed_free), a new segment.
   Kept pages go before a segment is mapped because they are only worth keeping while the heap has
   room: a thread resizing one block through the size classes (rezalloc-chain), or cycling blocks of
   16-512 KiB (calloc-medium), kept a page in each class it passed through, mapped a second segment
   for the next one and doubled its resident memory and page faults. NULL: out of memory. */
static fa__page_t* fa__heap_find_page(fa__heap_t* heap, size_t bin) {
    fa__page_queue_t* q = &heap->queues[bin];
    bool outgrown = q->first != NULL;   /* the bin has pages, and (below) none with a free block */
    for (;;) {
        fa__page_t* page = fa__queue_find_free(heap, q);
        if (page != NULL) return page;
        page = fa__heap_fresh_page_over_kept(heap, bin);
        if (page == NULL) page = fa__heap_fresh_page(heap, bin);
        /* only thread heaps adopt what exited threads left: a first-class heap owns its segments
           whole (reset and destroy rely on it) and a region heap takes nothing from outside */
        if (page == NULL && heap->kind == FA__HEAP_THREAD && fa__heap_adopt_abandoned(heap)) continue;
        while (page == NULL && fa__retained_release_next(heap)) page = fa__heap_fresh_page(heap, bin);
        if (page == NULL && heap->others_emptied) {
            heap->others_emptied = 0;
            if (fa__heap_collect_pages(heap) != 0) continue;
        }
        if (page == NULL && fa__segment_new(heap, fa__bin_size(bin)) != NULL) page = fa__heap_fresh_page(heap, bin);
        if (page == NULL) return NULL;
        if (outgrown) fa__medium_grow(q, fa__bin_size(bin), page->slice_count, fa__seg_shift(fa__page_segment(page)));
        fa__page_extend(page);
        fa__queue_push_front(heap, q, page);
        return page;
    }
}

/* ---- housekeeping -------------------------------------------------------------------------------- */
/* Whether the page's cross-thread list holds every block but one (the caller's): taking it in empties
   the page. Where the word does not count its list, whether there is one (no walk of it here). */
FA__INLINE bool fa__thread_free_empties(const fa__page_t* page) {
    uintptr_t tf = fa__load_relaxed(&page->xthread_free);
    if (!FA__TF_COUNTED) return (tf & ~FA__DELAY_MASK) != 0;
    return fa__tf_length(page, tf) + 1 == page->used;
}

/* Frees the blocks other threads routed here because their pages were full. A block whose page is
   still mid-handoff (FREEING) waits for the next heartbeat: freeing it now could release the page
   under the freer's feet. Only the first free into a full page comes this way; the rest of a
   thread's frees into it land on the page's cross-thread list, which stays there for the page's
   next refill. If that list holds every other block the page is empty in fact though not on its
   count, so the heap is told (others_emptied): before it maps a segment it takes such pages in and
   gives them back (fa__heap_find_page). Retiring them here instead, at once, let a producer/consumer
   pair hand back and carve again up to a thousand pages per 10,000 batches that its bins would
   have reused (test_churn's cross-thread churn); taking the list in whenever there is one, while
   the consumer still pushes onto it, cost prodcons-64 6 %. Where the word does not count its list
   (32-bit), any list counts. */
static void fa__heap_delayed_free(fa__heap_t* heap) {
    fa__block_t* block = fa__exchange(&heap->delayed_free, (fa__block_t*)NULL);
    while (block != NULL) {
        fa__page_t* page = fa__ptr_page(block);
#ifdef FASTALLOC_SECURE
        if (page == NULL || !fa__page_in_use(page)) FA__SECURE_FAIL("fastalloc: delayed free list corrupted (a write after free?)");
#endif
        fa__block_t* next = fa__link_get(page, block);
        if ((fa__load_acquire(&page->xthread_free) & FA__DELAY_MASK) == FA__DELAY_FREEING) {
            fa__block_t* head = fa__load_relaxed(&heap->delayed_free);
            do { fa__link_set(page, block, head); } while (!fa__cas(&heap->delayed_free, &head, block));
        } else {
            if (fa__thread_free_empties(page)) heap->others_emptied = 1;
            fa__free_local(page, block);
        }
        block = next;
    }
}

/* Housekeeping at a bounded rate: it runs only when malloc takes the slow path. */
#define FA__RECLAIM_PER_HEARTBEAT 2
static void fa__heap_heartbeat(fa__heap_t* heap) {
    fa__remote_flush_all(heap);   /* only a thread heap gathers; others' slots stay empty */
    if (fa__load_relaxed(&heap->delayed_free) != NULL) fa__heap_delayed_free(heap);
    if (fa__load_relaxed(&fa__abandoned.first) != NULL) fa__abandoned_reclaim(FA__RECLAIM_PER_HEARTBEAT);
    if (heap->retained_count != 0) fa__retained_expire(heap);
    if (heap->purge_at != 0 && fa__os_clock_ms() >= heap->purge_at) fa__heap_purge_due(heap);
    fa__pool_expire();
}

static void fa__debug_check_page(const fa__page_t* page) { FA__DEBUG_ASSERT(fa__page_check(page)); (void)page; }

/* Walks every page of the heap: empty ones go back to their segments, full ones with free blocks
   (other threads' frees) go back to their bin queues. Returns how many pages went back. */
static size_t fa__heap_collect_pages(fa__heap_t* heap) {
    size_t freed = 0;
    for (size_t bin = 0; bin <= FA__BIN_FULL; bin++) {
        fa__page_t* page = heap->queues[bin].first;
        while (page != NULL) {
            fa__page_t* next = page->next;
            fa__page_collect_thread_free(page);
            fa__debug_check_page(page);
            if (page->used == 0) { fa__page_release(heap, page); freed++; }
            else if (bin == FA__BIN_FULL && page->used < page->reserved) fa__page_unfull(heap, page);
            page = next;
        }
    }
    return freed;
}

/* Out of memory: before saying so, give back everything held but not in use, so that memory freed in
   one size class or by one heap serves any other: blocks other threads freed into this heap's full
   pages, what exited threads left, empty pages kept for reuse (retained, or left by fa_heap_reset),
   the spare segment and, when the heap lives on OS memory, the pool and the huge cache. Returns
   whether anything went back, i.e. whether trying again can help. */
static bool fa__heap_make_room(fa__heap_t* heap) {
    if (fa__load_relaxed(&heap->delayed_free) != NULL) fa__heap_delayed_free(heap);
    size_t abandoned = fa__load_relaxed(&fa__abandoned.count);
    fa__abandoned_reclaim(abandoned);
    bool any = fa__heap_collect_pages(heap) != 0 || heap->spare_segment != NULL || abandoned != 0;
    if (heap->spare_segment != NULL) { fa__segment_free(heap->spare_segment); heap->spare_segment = NULL; }
    if (fa__heap_source(heap) == NULL) {
        any |= fa__pool_unmap(0);
        any |= fa__huge_cache_unmap();
    }
    return any;
}

/* ---- thread heaps: start and end ----------------------------------------------------------------- */
static void fa__heap_merge(fa__heap_t* from, fa__heap_t* into);

/* A thread heap whose thread is gone: no heap may outlive its thread, and no memory may be stranded
   with it. */
static void fa__heap_abandon(fa__heap_t* heap) {
    fa__remote_flush_all(heap);
    for (size_t bin = 0; bin <= FA__BIN_FULL; bin++)
        for (fa__page_t* page = heap->queues[bin].first; page != NULL; page = page->next)
            fa__page_set_delay(page, FA__DELAY_NEVER);
    fa__heap_delayed_free(heap);               /* no FREEING state remains: all blocks go */
    fa__heap_collect_pages(heap);
    fa__retained_drop_all(heap);               /* revived ones */
    while (heap->segments != NULL) fa__segment_abandon(heap, heap->segments);
    if (heap->spare_segment != NULL) fa__segment_discard(heap->spare_segment);
    if (FA__GUARD_SAMPLING) (void)fa__heap_detach_huge(heap);   /* its sampled blocks (>>guard): nobody's now */
    fa__heap_record_release(heap);
}

static void fa__thread_heap_set(fa__heap_t* heap) {
    fa__tls_heap = heap;
    fa__thread_exit_arm(heap == FA__EMPTY_HEAP ? NULL : heap);
}

/* The thread is done (it exits, or said so with fa_thread_done): its first-class heaps are merged
   into its thread heap, which is then abandoned; the thread starts over if it allocates again. */
static void fa__thread_heap_done(fa__heap_t* heap) {
    while (heap->first_class != NULL) fa__heap_merge(heap->first_class, heap);
    fa__thread_heap_set(FA__EMPTY_HEAP);
    fa__heap_abandon(heap);
}

/* The thread-exit callback, with the heap the thread armed it with. */
static void fa__thread_exit(void* value) {
    fa__heap_t* heap = (fa__heap_t*)value;
    if (heap == NULL || heap != fa__tls_heap) return;
    fa__thread_heap_done(heap);
}

static void fa__process_init(void) {
    fa__os_init();
    fa__threads_init(fa__thread_exit);
    FA__DEBUG_ASSERT(fa__bin_of(FA__LARGE_MAX) == FA__BIN_MAX);
}

/* Once per process, before the first heap of any kind. */
static void fa__process_ready(void) { fa__once(fa__process_init); }

static fa__heap_t* fa__thread_heap_new(void) {
    fa__process_ready();
    fa__heap_t* heap = fa__heap_record_take();
    if (heap == NULL) return NULL;
    fa__heap_init_record(heap, FA__HEAP_THREAD, NULL);
    fa__thread_heap_set(heap);
    return heap;
}

/* `heap`, unless it is the empty heap of a thread that has none yet: then that thread's new heap
   (NULL when none can be made). */
static fa__heap_t* fa__heap_or_new(fa__heap_t* heap) {
    return heap != FA__EMPTY_HEAP ? heap : fa__thread_heap_new();
}
/* The calling thread's heap, made if it has none; NULL when none can be made. */
static fa__heap_t* fa__thread_heap(void) { return fa__heap_or_new(fa__tls_heap); }

/* ---- first-class heaps --------------------------------------------------------------------------- */
/* A first-class heap joins its thread heap's list, so that it is deleted when the thread ends (a
   single thread never ends and keeps no list). */
static void fa__heap_link_first_class(fa__heap_t* heap, fa__heap_t* thread_heap) {
    if (!FA__THREADS) return;
    heap->sibling_prev = NULL;
    heap->sibling_next = thread_heap->first_class;
    if (thread_heap->first_class != NULL) thread_heap->first_class->sibling_prev = heap;
    thread_heap->first_class = heap;
}

static void fa__heap_unlink_first_class(fa__heap_t* heap) {
    if (!FA__THREADS) return;
    fa__heap_t* thread_heap = fa__tls_heap;
    if (heap->sibling_prev != NULL) heap->sibling_prev->sibling_next = heap->sibling_next;
    else thread_heap->first_class = heap->sibling_next;
    if (heap->sibling_next != NULL) heap->sibling_next->sibling_prev = heap->sibling_prev;
}

/* fa_heap_new: a first-class heap on the OS (or the default region); its record is a block of the
   thread heap. */
static fa__heap_t* fa__heap_new(void) {
    fa__heap_t* thread_heap = fa__thread_heap();
    if (thread_heap == NULL) return (fa__heap_t*)fa__fail(FA__ENOMEM);
    fa__heap_t* heap = (fa__heap_t*)fa__heap_malloc(thread_heap, sizeof(fa__heap_t), false);
    if (heap == NULL) return NULL;
    fa__heap_init_record(heap, FA__HEAP_FIRST_CLASS, NULL);
    fa__heap_link_first_class(heap, thread_heap);
    return heap;
}

/* A region and a heap over it (fa_heap_new_in_region; without an OS, also fa_init_region's thread
   heap), the heap's record in the region's bookkeeping. With threads, a first-class heap needs the
   thread heap (which lists it); a single thread needs none. */
static fa__heap_t* fa__heap_new_in_region(void* mem, size_t size, uint8_t kind) {
    fa__heap_t* thread_heap = NULL;
    if (FA__THREADS && kind == FA__HEAP_FIRST_CLASS && (thread_heap = fa__thread_heap()) == NULL)
        return (fa__heap_t*)fa__fail(FA__ENOMEM);
    void* at = NULL;
    fa__region_t* region = fa__region_create(mem, size, fa__align_up(sizeof(fa__heap_t), 64), &at);
    if (region == NULL) return (fa__heap_t*)fa__fail(FA__EINVAL);
    fa__heap_t* heap = (fa__heap_t*)at;
    fa__heap_init_record(heap, kind, region);
    if (kind == FA__HEAP_FIRST_CLASS) fa__heap_link_first_class(heap, thread_heap);
    return heap;
}

/* Every page, segment and pending free of `from` moves to `into`, and `from` goes away; no block
   moves. Its huge blocks now belong to nobody, like the thread heap's. */
static void fa__heap_merge(fa__heap_t* from, fa__heap_t* into) {
    fa__retained_drop_all(from);
    while (from->segments != NULL) {
        fa__segment_t* seg = from->segments;
        fa__segment_unlink(from, seg);
        fa__segment_adopt(into, seg);
    }
    fa__heap_delayed_free(from);       /* adopting waited out every handoff: none is left behind */
    into->others_emptied |= from->others_emptied;
    if (from->spare_segment != NULL) {
        if (into->spare_segment == NULL) into->spare_segment = from->spare_segment;
        else fa__segment_free(from->spare_segment);
    }
    (void)fa__heap_detach_huge(from);
    fa__heap_schedule_purge(into);
    fa__heap_record_release(from);
}

/* fa_heap_delete: into the thread heap; where none can exist (FASTALLOC_NO_OS without a default
   region) the deleted heap takes that role itself, and its region becomes the default region. */
static void fa__heap_delete(fa__heap_t* heap) {
    fa__heap_t* into = fa__thread_heap();
    if (into != NULL) { fa__heap_merge(heap, into); return; }
    fa__heap_unlink_first_class(heap);
    (void)fa__heap_detach_huge(heap);
    heap->kind = FA__HEAP_THREAD;
    fa__thread_heap_set(heap);
    /* its region now serves every heap without one of its own, so fa_init_region says EBUSY rather
       than take the thread heap's role and strand this region */
    fa__lock();
    if (fa__default_region == NULL) fa__default_region = heap->region;
    fa__unlock();
}

/* fa_heap_reset: every page stays with the heap, empty, its blocks to be handed out again; huge
   blocks and pending frees are dropped. Work is per page, never per block. */
static void fa__heap_reset(fa__heap_t* heap) {
    fa__store_relaxed(&heap->delayed_free, (fa__block_t*)NULL);
    fa__heap_free_huge(heap);
    fa__retained_drop_all(heap);
    fa__page_t* all = NULL;
    for (size_t bin = 0; bin <= FA__BIN_FULL; bin++) {
        fa__page_queue_t* q = &heap->queues[bin];
        if (q->last != NULL) { q->last->next = all; all = q->first; }
        q->first = q->last = NULL;
        fa__queue_update_direct(heap, bin);
    }
    while (all != NULL) {
        fa__page_t* page = all;
        all = page->next;
        page->free = page->local_free = NULL;
        fa__store_relaxed(&page->xthread_free, (uintptr_t)FA__DELAY_NONE);
        if (page->capacity != 0) page->zero = 0;     /* handed-out blocks are dirty */
        page->used = page->capacity = 0;
        fa__page_set_flags(page, FA__PAGE_IN_USE);
        fa__queue_push_back(heap, &heap->queues[page->bin], page);
    }
}

/* fa_heap_destroy: every segment and huge block goes back whole, and the heap with them. */
static void fa__heap_destroy(fa__heap_t* heap) {
    fa__heap_free_huge(heap);
    bool pooled = false;
    while (heap->segments != NULL) {
        fa__segment_t* seg = heap->segments;
        fa__segment_unlink(heap, seg);
        pooled |= seg->region == NULL;
        fa__segment_discard(seg);
    }
    if (heap->spare_segment != NULL) fa__segment_discard(heap->spare_segment);
    if (pooled && fa__tls_heap != FA__EMPTY_HEAP) fa__heap_schedule_purge(fa__tls_heap);
    if (heap->home == FA__HOME_REGION) fa__region_forget(heap->region);
    fa__heap_record_release(heap);
}

/* =====================================================================================================
   >>malloc  MALLOC PATHS
   Every path allocates from an explicit heap: the thread heap for fa_malloc, a first-class heap for
   fa_heap_malloc. Three tiers, each as small as its job allows:
   - fa__heap_malloc_fast (inline): a size up to FA__DIRECT_MAX indexes the direct table; a page
     with a free block pops it.
   - fa__malloc_from_bin: other page sizes, and a current page that ran dry but can be refilled in
     place from its own lists (fa__page_quick_refill), are served from the bin's first page.
   - fa__malloc_slow: everything else — the first use of a thread, errors, huge blocks, and finding
     or making a page — runs the heartbeat and sets errno on failure.
   So only real page changes count as heartbeats, whatever the size.
   ===================================================================================================== */
/* The one place the allocator clears memory: [p, p + n) unless it is known to read zero already.
   memset even for big recycled ranges: MADV_DONTNEED plus the page faults of a caller that then uses
   the memory cost more than a memset at every size the page tiers and the huge cache recycle (see
   the README's design notes); a fresh mapping never reaches this with known_zero false. */
static void fa__zero_range(void* p, size_t n, bool known_zero) {
    if (known_zero || n == 0) return;
    FA__FILL_ZERO(p, n);
    FA__XSTAT(bytes_zeroed, n);
}

/* A block popped from a known-zero free list is dirty only in its link word. */
static void fa__zero_block(const fa__page_t* page, fa__block_t* block) {
    if (page->zero & FA__ZERO_FREE) fa__zero_range(block, sizeof(fa__block_t), false);
    else fa__zero_range(block, page->block_size, false);
}

/* With threads, the pop also starts loading the next block: when other threads freed it, its line
   sits in their cache and the next pop would wait for it with nothing else to do (larson-2 on two
   cores: 74 % of fa_malloc's samples on that load). One instruction on every malloc buys it. */
FA__INLINE void* fa__page_pop(fa__page_t* page, bool zero) {
    fa__block_t* block = page->free;
    fa__block_t* next = FA__POP_NEXT(page, block);   /* before fa__check_pop's store: one key read */
    fa__check_pop(page, block);
    page->free = next;
    if (FA__THREADS) fa__prefetch(next);
    page->used++;
    if (zero) fa__zero_block(page, block);
    return block;
}

/* The current page ran dry but its own frees (or untouched capacity) can refill it: do that without
   the full slow path, except every FA__QUICK_REFILLS-th time, so housekeeping keeps its rhythm. The
   empty heap's page never refills, so its shared statics are only read here. */
static bool fa__page_quick_refill(fa__heap_t* heap, fa__page_t* page) {
    fa__page_refill(page);
    if (page->retire_expire != 0) page->retire_expire = fa__retire_cycles(page);   /* in use again */
    if (page->free == NULL) return false;
    fa__guard_count(heap, page);
    if (++heap->quick_refills < FA__QUICK_REFILLS) return true;
    heap->quick_refills = 0;
    return false;
}

static FA__NOINLINE void* fa__malloc_slow(fa__heap_t* heap, size_t size, bool zero) {
    if (fa__unlikely((heap = fa__heap_or_new(heap)) == NULL)) return fa__fail(FA__ENOMEM);
    if (size > FA__PTRDIFF_MAX) return fa__fail(FA__ENOMEM);
    fa__heap_heartbeat(heap);
    if (size > fa__heap_large_max(heap)) return fa__huge_alloc(heap, size, 1, zero ? FA__HUGE_ZEROED : FA__HUGE_PLAIN);
    if (fa__guard_due(heap, size)) {
        void* sampled = fa__guard_alloc(heap, size, zero);
        if (sampled != NULL) return sampled;
    }
    fa__page_t* page = fa__heap_find_page(heap, fa__bin_of(size));
    if (page == NULL && fa__heap_make_room(heap)) page = fa__heap_find_page(heap, fa__bin_of(size));
    if (page == NULL) return fa__fail(FA__ENOMEM);
    fa__guard_count(heap, page);
    return fa__page_pop(page, zero);
}

/* size comes first: in the callers' registers it arrives first, so the fast path's tail call needs no move. */
static FA__NOINLINE void* fa__malloc_from_bin(size_t size, fa__heap_t* heap, bool zero) {
    if (fa__likely(size <= FA__LARGE_MAX)) {
        fa__page_t* page = size <= FA__DIRECT_MAX ? heap->direct[(size + 7) >> 3] : heap->queues[fa__bin_of(size)].first;
        /* a due sample (FASTALLOC_GUARD_SAMPLE) skips the quick refill: the slow path takes it */
        if (page != NULL && (page->free != NULL || (!fa__guard_due(heap, size) && fa__page_quick_refill(heap, page))))
            return fa__page_pop(page, zero);
    }
    return fa__malloc_slow(heap, size, zero);
}

FA__INLINE void* fa__heap_malloc_fast(fa__heap_t* heap, size_t size, bool zero) {
    if (fa__likely(size <= FA__DIRECT_MAX)) {
        fa__page_t* page = heap->direct[(size + 7) >> 3];
        if (fa__likely(page->free != NULL)) return FA__GIVEN(fa__page_pop(page, zero), size, zero);
    }
    return FA__GIVEN(fa__malloc_from_bin(size, heap, zero), size, zero);
}
FA__INLINE void* fa__malloc_fast(size_t size, bool zero) { return fa__heap_malloc_fast(fa__tls_heap, size, zero); }
/* The same, out of line, for cold callers. */
static void* fa__heap_malloc(fa__heap_t* heap, size_t size, bool zero) { return fa__heap_malloc_fast(heap, size, zero); }

/* An aligned block inside a block of the page tiers `align - 1` bytes larger; its page is marked,
   so that the free path finds the block an interior pointer belongs to. */
static void* fa__malloc_aligned_within(fa__heap_t* heap, size_t size, size_t align, bool zero) {
    uint8_t* p = (uint8_t*)fa__heap_malloc_fast(heap, size + align - 1, zero);
    if (p == NULL) return NULL;
    uint8_t* aligned = (uint8_t*)fa__align_up((uintptr_t)p, align);
    if (aligned != p) {
        fa__page_t* page = fa__ptr_page(p);
        fa__page_set_flags(page, (uint8_t)(page->flags | FA__PAGE_HAS_ALIGNED));
        fa__aligned_mark((fa__block_t*)(void*)p, aligned);
        fa__check_handout(aligned);
    }
    return FA__REGIVEN(p, aligned, size);
}

/* Alignment comes free when the bin's block size is a multiple of it and pages start aligned to it
   (a slice of the OS geometry; in a region FA__PAGE_ALIGN); otherwise over-allocate within the page
   tiers and mark the page, or go huge. */
static void* fa__malloc_aligned_big(fa__heap_t* heap, size_t size, size_t align, bool zero);
static void* fa__malloc_aligned(fa__heap_t* heap, size_t size, size_t align, bool zero) {
    if (!fa__is_pow2(align)) return fa__fail(FA__EINVAL);
    if (size > FA__PTRDIFF_MAX) return fa__fail(FA__ENOMEM);
    if (align <= 16) return fa__heap_malloc_fast(heap, size < align ? align : size, zero);
    if ((heap = fa__heap_or_new(heap)) == NULL) return fa__fail(FA__ENOMEM);
    /* no sample (>>guard): these paths mark and search page blocks, and a slot's block is only 16-aligned */
    fa__guard_hold(heap, true);
    void* p = fa__malloc_aligned_big(heap, size, align, zero);
    fa__guard_hold(heap, false);
    return p;
}
static void* fa__malloc_aligned_big(fa__heap_t* heap, size_t size, size_t align, bool zero) {
    size_t fit = size < align ? align : size;
    unsigned shift = fa__heap_shift(heap);
    size_t large_max = fa__geometry_large_max(shift);
    size_t page_align = shift == FASTALLOC_SLICE_SHIFT ? FA__PAGE_ALIGN : FA__REGION_ALIGN;
    bool in_pages = align <= fa__geometry_slice(shift) && fit <= large_max;
    if (in_pages && fa__bin_size(fa__bin_of(fit)) % align == 0 && align <= page_align) {
        void* p = fa__heap_malloc_fast(heap, fit, zero);
        /* a region page adopted into this heap (fa_heap_delete) starts only region-aligned */
        if (((uintptr_t)p & (align - 1)) == 0) return p;
        fa__free(p);
    }
    if (in_pages && size + align - 1 <= large_max) return fa__malloc_aligned_within(heap, size, align, zero);
    return FA__GIVEN(fa__huge_alloc(heap, size, align, zero ? FA__HUGE_ZEROED : FA__HUGE_PLAIN), size, zero);
}

/* =====================================================================================================
   >>free  FREE PATHS
   Fast path: the page map (or, without an OS, the region) gives the block's page, and its xowner is
   this thread's key, i.e. the page is this thread's, in use, neither full nor aligned: push onto
   local_free, no atomics (a secure build's page of several slices: the key ^ FA__SPAN_OWNER, the
   same push out of line in fa__free_other). Otherwise fa__free_generic: a region's block is found
   through its region; a pointer fastalloc does not know, or a block of a page not in use, is left
   alone (a secure build stops there); huge blocks are released by whichever thread frees them; the
   owner's slow case unfulls or retires the page; any other thread gathers blocks of a thread
   heap's page and pushes them onto its thread_free with one CAS per gathering (fa__free_remote),
   or, for the first free into a full page, hands them to the owning heap (delayed free) so the heap
   learns it has room. A gathered block still counts in its page's used.
   ===================================================================================================== */
static void fa__free_local(fa__page_t* page, fa__block_t* block) {
    fa__link_set(page, block, page->local_free);
    page->local_free = block;
    page->used--;
    if (page->flags & FA__PAGE_IN_FULL) fa__page_unfull(fa__page_segment(page)->heap, page);
    if (page->used == 0) fa__page_retire(page);
}

/* Pushes a chain of `count` blocks of `page` (head to tail, linked) onto its thread_free with one
   CAS, or, for the first free into a full page, hands the chain to the owning heap. */
static void fa__remote_push(fa__segment_t* seg, fa__page_t* page, fa__block_t* head, fa__block_t* tail, uint32_t count) {
    uintptr_t tf = fa__load_relaxed(&page->xthread_free), desired;
    bool tell_heap;
    do {
        tell_heap = (tf & FA__DELAY_MASK) == FA__DELAY_USE;
        if (tell_heap) {
            desired = (tf & ~FA__DELAY_MASK) | FA__DELAY_FREEING;
        } else {
            fa__link_set(page, tail, fa__tf_head(page, tf));
            desired = fa__tf_push(page, tf, head, count);
        }
    } while (!fa__cas(&page->xthread_free, &tf, desired));
    if (!tell_heap) return;
    /* FREEING keeps the owner from leaving (it waits in fa__page_set_delay) and from releasing the
       page (fa__heap_delayed_free defers the blocks), so heap and page stay valid here. */
    fa__heap_t* heap = fa__load_acquire(&seg->heap);
    fa__block_t* first = fa__load_relaxed(&heap->delayed_free);
    do { fa__link_set(page, tail, first); } while (!fa__cas(&heap->delayed_free, &first, head));
    tf = fa__load_relaxed(&page->xthread_free);
    while (!fa__cas(&page->xthread_free, &tf, (tf & ~FA__DELAY_MASK) | FA__DELAY_NONE)) { }
}

static void fa__remote_flush(fa__remote_batch_t* batch) {
    fa__page_t* page = batch->page;
    batch->page = NULL;
    fa__remote_push(fa__page_segment(page), page, batch->head, batch->tail, batch->count);
}

static void fa__remote_flush_all(fa__heap_t* heap) {
    for (size_t i = 0; i < FA__REMOTE_SLOTS; i++)
        if (heap->remote[i].page != NULL) fa__remote_flush(&heap->remote[i]);
}

/* Another thread's block. Gathered per page in the freeing thread's heap and pushed
   FA__REMOTE_BATCH_BYTES at a time: a CAS per free kept the page's descriptor line moving between
   the freeing core and the owner's, which wrote it on every malloc before descriptors took two
   lines, and still does with FASTALLOC_PAGE_LINES 1 (prodcons-64: 24.5 -> 16.9 ms).
   A gathered block still counts in its page's `used`, so page and segment stay put; the pages
   gathered for are a thread heap's (`gatherable`): a first-class heap may be destroyed, its pages
   with it, after the free returned. A gathering goes out when full, when its slot is wanted for
   another page, on this heap's heartbeat (its malloc slow path), fa_collect and thread end: at most
   FA__REMOTE_SLOTS x FA__REMOTE_BATCH_BYTES held back per thread. A page that is full or has no
   owner takes the block at once, so its owner learns it has room. */
static void fa__free_remote(fa__segment_t* seg, fa__page_t* page, fa__block_t* block) {
    uint32_t size = page->block_size;
    fa__heap_t* self;   /* a thread that only frees gets a heap for its gatherings (thread end flushes them) */
    if (size > FA__REMOTE_BATCH_BYTES / 4 || !fa__load_relaxed(&seg->gatherable)
        || (fa__load_relaxed(&page->xthread_free) & FA__DELAY_MASK) != FA__DELAY_NONE || (self = fa__thread_heap()) == NULL) {
        fa__remote_push(seg, page, block, block, 1);
        return;
    }
    fa__remote_batch_t* batch = &self->remote[((uintptr_t)page / sizeof(fa__page_t)) % FA__REMOTE_SLOTS];
    if (batch->page != page) {
        if (batch->page != NULL) fa__remote_flush(batch);
        batch->page = page;
        batch->head = NULL;
        batch->tail = block;
        batch->count = 0;
    }
    fa__link_set(page, block, batch->head);
    batch->head = block;
    if (++batch->count * size >= FA__REMOTE_BATCH_BYTES) fa__remote_flush(batch);
}

/* Whichever thread frees a huge block releases it. A mapping of the OS goes to the huge cache, but
   only from a thread with a heap, whose purge deadline then unmaps it. */
static void fa__free_huge(fa__segment_t* seg) {
    fa__huge_untrack(seg);
    fa__heap_t* heap = fa__tls_heap;
    if (heap != FA__EMPTY_HEAP && fa__huge_cache_put(seg)) {
        fa__heap_schedule_purge(heap);
        return;
    }
    fa__segment_free(seg);
}

#if defined(FASTALLOC_SECURE) && !defined(FASTALLOC_DEBUG)
/* FASTALLOC_SECURE's checks of a free, O(1) each (a FASTALLOC_DEBUG build's own checks replace
   them; see >>debug for the double-free tag): a pointer fastalloc does not know (foreign), or of a
   page not in use, stops the program; so does an interior pointer (not a block's start, not the
   pointer an aligned block was handed out as, past a huge block's start); so does a block that
   carries its free tag. The owner's fast path knows its page is in use, holds no aligned blocks
   and is not huge. */
static FA__NOINLINE void fa__secure_double_free(fa__page_t* page, const void* block);
FA__INLINE void fa__secure_tag_free(fa__page_t* page, fa__block_t* block) {
    uintptr_t tag = fa__secure_tag(page, block);
    if (fa__unlikely(fa__word_get(block, 1) == tag)) fa__secure_double_free(page, block);
    fa__word_set(block, 1, tag);
}
/* true unless `offset` from the page's start is that of one of its first `capacity` blocks: its
   block index, exact when the offset is a multiple of the bin's size and past every index otherwise
   (fa__secure_grid), is compared with the capacity. A large block grown in place (its bin is not
   its size) has capacity 1, and index 0 belongs to offset 0 alone. */
FA__INLINE bool fa__secure_off_grid(const fa__page_t* page, uintptr_t offset) {
    size_t bin = page->bin;
    unsigned shift = fa__secure_grid.shift[bin];
    uint64_t n = (uint64_t)offset * fa__secure_grid.inv[bin];
    uint64_t index = (n >> shift) | (n << ((64 - shift) & 63));
    /* capacity: other threads' frees read it while the owner extends the page (either value is
       right for a block that was handed out) */
    return index >= (uint64_t)fa__load_relaxed(&page->capacity);
}
/* The same on the owner's fast path, whose pages have the geometry of FASTALLOC_SLICE_SHIFT (OS
   pages; region pages reach it only without an OS, where that is their geometry too). With an OS a
   page of one slice (`one_slice`: its xowner said so, see FA__SPAN_OWNER) starts at a multiple of
   the slice size, so the offset is p's low bits; otherwise the page's start is its segment's (page
   - i descriptors - the header's offset of pages[]) plus i slices, for i = slice_offset - FA__HEAD.
   Either way no read of the segment's geometry. */
FA__INLINE bool fa__secure_owner_interior(const fa__page_t* page, const void* p, bool one_slice) {
    FA__DEBUG_ASSERT(one_slice == (page->slice_count == 1) && fa__seg_shift(fa__page_segment(page)) == FASTALLOC_SLICE_SHIFT);
#ifndef FASTALLOC_NO_OS
    if (one_slice) return fa__secure_off_grid(page, (uintptr_t)p & (FA__SLICE_SIZE - 1));
#else
    (void)one_slice;
#endif
    uintptr_t start = (uintptr_t)page - offsetof(fa__segment_t, pages)
                      + ((uintptr_t)page->slice_offset - FA__HEAD) * (FA__SLICE_SIZE - sizeof(fa__page_t));
    return fa__secure_off_grid(page, (uintptr_t)p - start);
}
/* The owner's fast path: pushes the block onto local_free's head, link and tag written with one
   read of the key (a store to the block in between would make the compiler read it again), or
   returns false when the free must go the generic way, which checks it all again and confirms a
   tag hit (a tail call there keeps this path free of register spills). */
FA__INLINE bool fa__owner_push(fa__page_t* page, fa__block_t* block, bool one_slice) {
    uintptr_t key = fa__page_key(page), tag = fa__secure_tag_key(key, block);
    if (fa__unlikely(fa__secure_owner_interior(page, block, one_slice) || fa__word_get(block, 1) == tag)) return false;
    fa__word_set(block, 1, tag);
    fa__word_set(block, 0, fa__secure_encode_key(key, block, page->local_free));
    return true;
}
/* The generic free's checks of a block of the page tiers (`block`: its start, p the pointer
   handed out, `aligned`: its page holds aligned blocks), on the segment the free found already:
   an interior pointer stops the program, and so does the tag of a free block. */
FA__INLINE void fa__secure_check_block(fa__page_t* page, const fa__segment_t* seg, fa__block_t* block, const void* p, bool aligned) {
    const uint8_t* start = fa__page_start_in(seg, page);
    if (aligned) {
        if ((size_t)((uint8_t*)block - start) >= (size_t)fa__load_relaxed(&page->capacity) * page->block_size
            || fa__aligned_user(page, block) != (const uint8_t*)p)
            FA__SECURE_FAIL("fa_free: interior pointer");
    } else if (fa__secure_off_grid(page, (uintptr_t)block - (uintptr_t)start)) {
        FA__SECURE_FAIL("fa_free: interior pointer");
    }
    fa__secure_tag_free(page, block);
}
#  define FA__SECURE_FREE_CHECKS 1
#else
#  define fa__owner_push(page, block, one_slice) ((void)(one_slice), fa__link_set((page), (block), (page)->local_free), true)
#  define fa__secure_check_block(page, seg, block, p, aligned) ((void)0)
#  define FA__SECURE_FREE_CHECKS 0
#endif

/* Secure builds check as they go (FASTALLOC_SECURE's checks above): what is not a live block of
   fastalloc's, a huge block's interior, then fa__secure_check_block. free(NULL) leaves first, before
   the page map's dispatch: Lua frees the NULL array part of every table it collects. */
static FA__NOINLINE void fa__free_generic(uintptr_t* owner, void* p) {
    if (p == NULL) return;
    fa__page_t* page = fa__owner_page(owner, p);
    if (page == NULL || !fa__page_in_use(page)) {   /* not a block of fastalloc's (debug: caught before) */
        if (FA__SECURE_FREE_CHECKS)
            FA__SECURE_FAIL("fa_free: not a pointer fastalloc handed out (foreign, or its page is free: double free?)");
        return;
    }
    fa__segment_t* seg = fa__page_segment(page);
    if (seg->kind == FA__SEGMENT_HUGE) {
        if (FA__SECURE_FREE_CHECKS && (size_t)((const uint8_t*)p - (const uint8_t*)seg) != page->block_size)
            FA__SECURE_FAIL("fa_free: interior pointer of a huge block");
        fa__free_huge(seg);
        return;
    }
    bool aligned = (fa__load_relaxed(&page->flags) & FA__PAGE_HAS_ALIGNED) != 0;
    fa__block_t* block = aligned ? fa__page_block_of(page, p) : (fa__block_t*)p;
    fa__secure_check_block(page, seg, block, p, aligned);
    if (fa__load_relaxed(&seg->thread_id) == fa__thread_id()) fa__free_local(page, block);
    else fa__free_remote(seg, page, block);
}

/* The owner's free into its page (`one_slice`: see FA__SPAN_OWNER). */
FA__INLINE void fa__free_owned(uintptr_t* owner, void* p, bool one_slice) {
    fa__page_t* page = (fa__page_t*)(void*)owner;
    fa__block_t* block = (fa__block_t*)p;
    if (!fa__owner_push(page, block, one_slice)) { fa__free_generic(owner, p); return; }
    page->local_free = block;
    /* an empty page already kept is left as it is: re-arming it waits for its next refill */
    if (fa__unlikely(--page->used == 0) && page->retire_expire == 0) fa__page_retire(page);
}

/* A free the owner's path for pages of one slice did not take: in a secure build, the owner's free
   into a page of several slices, out of line so that the common path keeps its one compare. */
#ifdef FASTALLOC_SECURE
static FA__NOINLINE void fa__free_other(uintptr_t* owner, void* p) {
    if (fa__load_relaxed(owner) == (fa__thread_key() ^ FA__SPAN_OWNER)) fa__free_owned(owner, p, false);
    else fa__free_generic(owner, p);
}
#else
#  define fa__free_other(owner, p) fa__free_generic((owner), (p))
#endif

/* A free whose page-map entry (`owner`) the caller looked up already. */
FA__INLINE void fa__free_at(uintptr_t* owner, void* p) {
    fa__check_free(p);
    if (!FA__TAKEN(p)) return;
    if (fa__likely(fa__load_relaxed(owner) == fa__thread_key())) { fa__free_owned(owner, p, true); return; }
    fa__free_other(owner, p);
}
FA__INLINE void fa__free(void* p) { fa__free_at(fa__ptr_owner(p), p); }

/* Bytes usable at p, a pointer into a block of `page` (a huge block's page is its segment's). */
FA__INLINE size_t fa__page_usable(const fa__page_t* page, const void* p) {
    const fa__segment_t* seg = fa__page_segment(page);
    if (seg->kind == FA__SEGMENT_HUGE) return seg->map_size - (size_t)((const uint8_t*)p - (const uint8_t*)seg);
    const uint8_t* block = (fa__load_relaxed(&page->flags) & FA__PAGE_HAS_ALIGNED)
                               ? (const uint8_t*)fa__page_block_of(page, p) : (const uint8_t*)p;
    return page->block_size - (size_t)((const uint8_t*)p - block);
}

/* 0 for NULL, and for a pointer fastalloc does not know. */
static size_t fa__usable_size(const void* p) {
    const fa__page_t* page = fa__ptr_page(p);
    return page != NULL && fa__page_in_use(page) ? fa__page_usable(page, p) : 0;
}

/* The usable size a request of `size` gets at least, from the calling thread's heap: its size class
   in the page tiers, whole OS pages (in a region, slices) for huge blocks; 0 when no block that
   large can exist (past PTRDIFF_MAX, or rounding up would pass it). */
static size_t fa__good_size(size_t size) {
    if (size > FA__PTRDIFF_MAX) return 0;
    bool region = FA__TWO_GEOMETRIES && fa__tls_heap->slice_shift == FA__REGION_SHIFT;
    if (size <= fa__geometry_large_max(region ? FA__REGION_SHIFT : FASTALLOC_SLICE_SHIFT)) {
        size_t bin_size = fa__bin_size(fa__bin_of(size));
#if FA__GUARD_SAMPLING
        /* a sampled block (>>guard) ends at the request rounded to 16, against its guard page */
        size_t tight = size == 0 ? 16 : fa__align_up(size, 16);
        if (size <= FA__GUARD_MAX && tight < bin_size) return tight;
#endif
        return bin_size;
    }
#ifdef FASTALLOC_NO_OS
    size_t unit = FA__REGION_SLICE_SIZE;
#else
    size_t unit = region ? FA__REGION_SLICE_SIZE : fa__os_page_size;
#endif
    return size > FA__PTRDIFF_MAX - (unit - 1) ? 0 : fa__align_up(size, unit);
}

/* =====================================================================================================
   >>realloc  ZERO AND REALLOC
   One realloc serves fa_realloc, fa_rezalloc, fa_recalloc and the aligned forms (align 0: none). A
   block that has the alignment asked for stays if it can: a huge block resized where it is or
   through the OS (fa__realloc_huge), a block of the page tiers kept while it fits, a large block
   grown over free slices or shrunk in place (fa__large_grow_in_place, fa__large_shrink_in_place).
   Otherwise it moves (fa__realloc_move; a small block of this thread's own page that moves to a
   small block skips the slow path's lookups, fa__realloc_small_move). Every byte is copied or cleared at most once. The zero promise rests on one
   invariant: a block from a zeroing function reads zero over its whole usable size except where the
   caller wrote. So growth within the block needs no work; shrinking in place clears what the caller
   gives up (a block of the page tiers does not know its requested size, so it clears up to its
   usable size: at most one size class of slack more); a move copies the old usable size and clears
   the rest unless the new block is known zero. Huge blocks remember how far the caller may have
   written (huge_written, the size it asked for), so they clear exactly what it gives up.
   ===================================================================================================== */
/* Allocates for a realloc and says whether the block reads zero past its first word (a known-zero
   free list, or a huge block that is fresh or was cleared), so the caller zeroes only what is not. */
static void* fa__malloc_for_move(fa__heap_t* heap, size_t size, size_t align, bool zero, bool* known_zero) {
    if ((heap = fa__heap_or_new(heap)) == NULL) return fa__fail(FA__ENOMEM);
    void* q;
    if (zero && size > fa__heap_large_max(heap) && align <= FA__SLICE_SIZE) {
        /* a zero promise wants a fresh mapping (zero for free), not a recycled one */
        q = FA__GIVEN(fa__huge_alloc(heap, size, align == 0 ? 1 : align, FA__HUGE_FRESH), size, true);
    } else {
        q = align != 0 ? fa__malloc_aligned(heap, size, align, false) : fa__heap_malloc_fast(heap, size, false);
    }
    if (q == NULL) return NULL;
    const fa__page_t* page = fa__ptr_page(q);
    *known_zero = FASTALLOC_ZERO_TRACKING && (page->zero & FA__ZERO_FREE) != 0;
    return q;
}

/* The slices the single block of a large page of this thread needs to hold `size` bytes from p,
   the pointer handed out; 0 when it cannot be resized in place (not such a block). */
static size_t fa__large_slices_for(const fa__segment_t* seg, const fa__page_t* page, const uint8_t* p, size_t size) {
    if (seg->kind != FA__SEGMENT_NORMAL || fa__load_relaxed(&seg->thread_id) != fa__thread_id() || page->reserved != 1)
        return 0;
    unsigned shift = fa__seg_shift(seg);
    return ((size_t)(p - fa__page_start(page)) + size + fa__geometry_slice(shift) - 1) >> shift;
}

/* Empty pages the heap keeps (retire hysteresis) on the slices `bits` give way to a large block
   growing in place over them: setting a page up again later costs less than copying the block now.
   false, and nothing released, when a page there has a block out. */
static bool fa__large_make_way(fa__segment_t* seg, uint64_t bits) {
    uint64_t busy = seg->used_mask & bits;
    for (int pass = 0; pass < 2; pass++) {   /* look at them all first, then release */
        for (uint64_t left = busy; left != 0; ) {
            fa__page_t* page = fa__segment_page_of(seg, (uint8_t*)seg + ((size_t)fa__ctz64(left) << fa__seg_shift(seg)));
            left &= ~fa__span_bits(fa__page_index(page), page->slice_count);
            if (pass == 0 && (page->used != 0 || page->retire_expire == 0)) return false;
            if (pass == 1) fa__page_release(seg->heap, page);
        }
    }
    return true;
}

/* Grows the single block of a large page of this thread over the free slices after it (or slices
   of empty pages kept there); false when it cannot. The grown part is zeroed here when `zero` and
   not known zero. */
static bool fa__large_grow_in_place(fa__segment_t* seg, fa__page_t* page, uint8_t* p, size_t size, bool zero) {
    unsigned shift = fa__seg_shift(seg);
    size_t idx = fa__page_index(page), need = fa__large_slices_for(seg, page, p, size), have = page->slice_count;
    if (need == 0 || need > fa__geometry_large_max(shift) >> shift || idx + need > FA__SLICES) return false;
    uint8_t* start = fa__page_start(page);
    uint64_t extra = need > have ? fa__span_bits(idx + have, need - have) : 0;
    if (!fa__large_make_way(seg, extra) || !fa__segment_commit(seg, extra)) return false;
    if (page->retire_expire != 0) fa__retained_drop(seg->heap, page);
    size_t old_end = page->block_size, span_end = have << shift;
    if (zero) {
        fa__zero_range(start + old_end, span_end - old_end, (page->zero & FA__ZERO_FRESH) != 0);
        fa__zero_range(start + span_end, (need - have) << shift, FASTALLOC_ZERO_TRACKING && (seg->dirty_mask & extra) == 0);
    }
    for (size_t i = have; i < need; i++) seg->pages[idx + i].slice_offset = (uint8_t)i;
    seg->used_mask |= extra;
    seg->dirty_mask |= extra;
    fa__page_map_slices(seg, page, idx + have, need - have);
    page->slice_count = (uint8_t)need;
    page->block_size = (uint32_t)(need << shift);
    fa__page_set_owner(page, fa__segment_owner_key(seg));   /* of one slice before, perhaps */
    return true;
}

/* Shrinks the single block of a large page of this thread where it is, giving the slices past the
   new size back to its segment (memory follows the size asked, nothing is copied, and a later
   growth can take them back in place); false when it cannot, or when the new size is one a medium
   or small page serves and fills less than half of the slices kept, 0 included (it then moves,
   copying less than half a slice, rather than keep a slice for a few bytes; an aligned block far
   into its page would keep all the slices before it). A block kept on one slice is the page's
   only block, in the bin of the slice's size.
   Under a zero promise what the caller gives up in the slices it keeps is cleared. The slices
   given back are pointed at a descriptor not in use, so a stale pointer into them is not the
   block's. */
static bool fa__large_shrink_in_place(fa__segment_t* seg, fa__page_t* page, uint8_t* p, size_t size, bool zero) {
    unsigned shift = fa__seg_shift(seg);
    size_t idx = fa__page_index(page), have = page->slice_count;
    size_t keep = fa__large_slices_for(seg, page, p, size);
    if (size <= fa__geometry_medium_max(shift) && size < (keep << shift) / 2) return false;
    if (keep == 0 || keep >= have) return false;
    uint8_t* start = fa__page_start(page);
    if (page->retire_expire != 0) fa__retained_drop(seg->heap, page);
    if (zero) fa__zero_range(p + size, (size_t)(start + (keep << shift) - (p + size)), false);
    fa__slices_split_off(seg, idx + keep, have - keep);
    fa__track_close(start + (keep << shift), (have - keep) << shift);
    seg->used_mask &= ~fa__span_bits(idx + keep, have - keep);
    page->slice_count = (uint8_t)keep;
    page->block_size = (uint32_t)(keep << shift);
    fa__page_set_owner(page, fa__segment_owner_key(seg));   /* a page of one slice now, perhaps */
    /* Once empty, a page may serve its bin again (retained): from now on the bin of a size that
       fits the block (a grown page keeps its bin, its block being bigger) */
    size_t bin = fa__bin_of(page->block_size);
    if (fa__bin_size(bin) > page->block_size) bin--;
    if (bin != page->bin) {
        fa__heap_t* heap = seg->heap;
        bool queued = (page->flags & FA__PAGE_IN_FULL) == 0;
        if (queued) fa__queue_remove(heap, fa__queue_of(heap, page), page);
        page->bin = (uint8_t)bin;
        if (queued) fa__queue_push_back(heap, fa__queue_of(heap, page), page);
    }
    fa__heap_schedule_purge(seg->heap);
    return true;
}

/* fa_heap_realloc promises that a block which grows or moves comes from its heap: a first-class heap
   resizes only its own blocks where they are, and moves any other. */
FA__INLINE bool fa__realloc_may_resize(const fa__heap_t* heap, const fa__segment_t* seg) {
    return heap->kind != FA__HEAP_FIRST_CLASS || fa__load_relaxed(&seg->heap) == heap;
}

/* A move's copy: the smaller of the old usable size and the new size; returns how much. */
static size_t fa__realloc_copy(uint8_t* q, const uint8_t* old, size_t usable, size_t size) {
    size_t copy = usable < size ? usable : size;
    FA__COPY(q, old, copy);
    FA__XSTAT(bytes_copied, copy);
    return copy;
}

/* A new block from `heap` (with a quarter of headroom when a huge block grows, so growth by small
   steps is amortised; without room for that, exactly sized), the old usable size copied, the rest
   cleared under a zero promise unless known zero; then the old block is freed. NULL: out of memory, the old block untouched. */
static void* fa__realloc_move(fa__heap_t* heap, uint8_t* old, size_t usable, size_t size, size_t align, bool zero) {
    bool known_zero = false;
    size_t want = size > FA__LARGE_MAX && size > usable ? size + size / 4 : size;   /* huge in any geometry */
    uint8_t* q = (uint8_t*)fa__malloc_for_move(heap, want, align, zero, &known_zero);
    if (q == NULL && want != size) q = (uint8_t*)fa__malloc_for_move(heap, size, align, zero, &known_zero);
    if (q == NULL) return NULL;
    size_t copy = fa__realloc_copy(q, old, usable, size);
    if (zero) {
        size_t q_usable = fa__usable_size(q);
        if (!known_zero) fa__zero_range(q + copy, q_usable - copy, false);
        else if (copy < sizeof(fa__block_t)) fa__zero_range(q + copy, sizeof(fa__block_t) - copy, false);
    }
    fa__segment_t* q_seg = fa__ptr_segment(q);
    if (q_seg->kind == FA__SEGMENT_HUGE) fa__huge_settle(q_seg, q, size, false);
    fa__free(old);
    return q;
}

/* A huge block shrinks where it is (or, below half, gives pages back through the OS) and grows
   through the OS or its region without copying; when it cannot, it moves. */
static void* fa__realloc_huge(fa__heap_t* heap, fa__segment_t* seg, uint8_t* old, size_t usable, size_t size,
                              size_t align, bool zero) {
    size_t offset = (size_t)(old - (uint8_t*)seg);   /* a resize may move the segment, never the offset */
    if (size <= usable && (size >= usable / 2 || size > fa__geometry_large_max(fa__seg_shift(seg)))) {
        uint8_t* same = size < usable / 2 ? (uint8_t*)fa__huge_resize(seg, old, size, align, zero) : NULL;
        if (same == NULL) same = old;
        return fa__huge_settle((fa__segment_t*)(void*)(same - offset), same, size, zero);
    }
    uint8_t* moved = size > usable ? (uint8_t*)fa__huge_resize(seg, old, size, align, zero) : NULL;
    return moved != NULL ? fa__huge_settle((fa__segment_t*)(void*)(moved - offset), moved, size, zero)
                         : fa__realloc_move(heap, old, usable, size, align, zero);
}

/* `owner`: the page-map entry of p, which fa__realloc looked up already. */
static FA__NOINLINE void* fa__realloc_slow(fa__heap_t* heap, void* p, uintptr_t* owner, size_t size, size_t align, bool zero) {
    if (align != 0 && !fa__is_pow2(align)) return fa__fail(FA__EINVAL);
    if (p == NULL) return align != 0 ? fa__malloc_aligned(heap, size, align, zero) : fa__heap_malloc_fast(heap, size, zero);
    if (size > FA__PTRDIFF_MAX) return fa__fail(FA__ENOMEM);
    uint8_t* old = (uint8_t*)p;
    fa__page_t* page = fa__owner_page(owner, old);
    if (page == NULL || !fa__page_in_use(page)) return fa__fail(FA__EINVAL);   /* not fastalloc's: size unknown */
    fa__segment_t* seg = fa__page_segment(page);
    size_t usable = fa__page_usable(page, old);
    bool keeps_alignment = align == 0 || ((uintptr_t)old & (align - 1)) == 0;
    if (seg->kind == FA__SEGMENT_HUGE) {
        /* a sampled block (>>guard) always moves: its slot serves one block, against its guard page */
        if (keeps_alignment && fa__realloc_may_resize(heap, seg) && !fa__seg_sampled(seg))
            return fa__realloc_huge(heap, seg, old, usable, size, align, zero);
    } else if (keeps_alignment && size <= usable && size >= usable / 2) {   /* it fits: it stays */
        if (zero) fa__zero_range(old + size, usable - size, false);
        return old;
    } else if (keeps_alignment && fa__realloc_may_resize(heap, seg)
               && (size > usable ? fa__large_grow_in_place(seg, page, old, size, zero)
                                 : fa__large_shrink_in_place(seg, page, old, size, zero))) {
        return old;
    }
    return fa__realloc_move(heap, old, usable, size, align, zero);
}

/* A block of a page this thread owns, of at most FA__DIRECT_MAX bytes, that no longer fits moves to
   a block of at most that size: the slow path's move without its lookups (the page-map entry is
   known, the new block is never huge, nothing is zeroed). An interpreter's growing strings and
   vectors take this path on every size class they pass (interp: 7,500 moves in 60,000 objects). */
static FA__NOINLINE void* fa__realloc_small_move(fa__heap_t* heap, uintptr_t* owner, uint8_t* old, size_t size) {
    /* read here, not by the caller, so the fast path's fits test keeps no register for it */
    size_t usable = ((fa__page_t*)(void*)owner)->block_size;
    if (usable > FA__DIRECT_MAX) return fa__realloc_slow(heap, old, owner, size, 0, false);
    uint8_t* q = (uint8_t*)fa__heap_malloc_fast(heap, size, false);
    if (q == NULL) return NULL;
    (void)fa__realloc_copy(q, old, usable, size);
    fa__free_at(owner, old);
    return q;
}

/* The common cases first, kept small: a block that still fits, using at least half of it, stays
   where it is — a block of the page tiers (its owner tag is a thread's; or FA__NO_OWNER, and its
   page is in use without aligned blocks: full, or in a secure build spanning several slices), or a
   huge block (FA__NO_OWNER too), which a growing realloc left headroom in. A huge block on the OS
   has its segment's first entry for its page, so its header is the one that entry would have:
   kind and size load beside the entry's index instead of after it (a block grown a byte at a time
   asks on every call; a region's huge block on its extra entry takes the slow path). realloc(NULL,
   n) is malloc's fast path, not a page-map lookup of NULL: Lua's allocator is realloc. */
FA__INLINE_HOT void* fa__realloc(fa__heap_t* heap, void* p, size_t size, size_t align, bool zero) {
    if (p == NULL && align == 0) return fa__heap_malloc_fast(heap, size, zero);
    uintptr_t* owner = fa__ptr_owner(p);
    uintptr_t tag = fa__load_relaxed(owner);
    if (fa__likely(p != NULL && align == 0 && tag != FA__DISPATCH && tag != 0)) {
        fa__page_t* page = (fa__page_t*)(void*)owner;
        fa__segment_t* first = (fa__segment_t*)(void*)((uint8_t*)page - offsetof(fa__segment_t, pages));
        if (tag == FA__NO_OWNER && page->slice_offset == FA__HEAD && first->kind == FA__SEGMENT_HUGE) {
            size_t usable = first->map_size - (size_t)((uint8_t*)p - (uint8_t*)first);
            if (!zero && size <= usable && size >= usable / 2 && fa__realloc_may_resize(heap, first)
                && (!fa__seg_sampled(first) || size + 16 > usable)) {   /* sampled: the same 16-rounded end */
                first->huge_written = size;   /* as fa__huge_settle: the caller's bytes end here */
                return p;
            }
        } else if (tag != FA__NO_OWNER
                   || (fa__page_segment(page)->kind != FA__SEGMENT_HUGE
                       && (fa__load_relaxed(&page->flags) & (FA__PAGE_HAS_ALIGNED | FA__PAGE_IN_USE)) == FA__PAGE_IN_USE)) {
            size_t usable = page->block_size;
            if (size <= usable && size >= usable / 2) {
                if (zero) fa__zero_range((uint8_t*)p + size, usable - size, false);
                return p;
            }
        }
    }
    /* this thread's page (so p is a block of the page tiers) and it did not fit */
    if (tag == fa__thread_key() && align == 0 && !zero && size <= FA__DIRECT_MAX)
        return fa__realloc_small_move(heap, owner, (uint8_t*)p, size);
    return fa__realloc_slow(heap, p, owner, size, align, zero);
}

/* =====================================================================================================
   >>collect  PURGE AND COLLECT
   fa_collect works on the calling thread's heap: pending cross-thread frees are taken in, empty
   pages go back to their segments, the spare segment and the huge cache are unmapped, and free
   slices of the heap's and the pool's segments are purged. With force it first adopts every
   abandoned segment, so memory of exited threads is returned too, and unmaps the pool. Other live
   threads' heaps are theirs alone; they return memory on their own slow paths.
   ===================================================================================================== */
static void fa__heap_collect(fa__heap_t* heap, bool adopt_abandoned) {
    fa__heap_heartbeat(heap);
    if (adopt_abandoned) while (fa__heap_adopt_abandoned(heap)) { }
    fa__heap_collect_pages(heap);
    fa__heap_purge(heap);
    fa__pool_purge();
}

static void fa__collect(bool force) {
    fa__heap_t* heap = force ? fa__thread_heap() : fa__tls_heap;
    if (heap != NULL && heap != FA__EMPTY_HEAP) fa__heap_collect(heap, force);
    if (force) (void)fa__pool_unmap(0);
    if (force) fa__guard_ring_unmap();
}

/* With threads: the thread heap and the thread's first-class heaps go now. A single thread never
   ends, so there it only gives memory back. */
static void fa__thread_done(void) {
    if (!FA__THREADS) fa__collect(true);
    else if (fa__tls_heap != FA__EMPTY_HEAP) fa__thread_heap_done(fa__tls_heap);
}

/* =====================================================================================================
   >>hooks  PROFILER HOOKS (FASTALLOC_ON_ALLOC, FASTALLOC_ON_FREE)
   Reported where blocks cross the API (>>api, and the chunks arenas take), so the internal paths stay
   as they are and the default build compiles every report to nothing. Order keeps a tracker exact
   with threads: a free is reported before the block goes back, while no other thread can have it;
   an allocation after the block is the caller's. realloc reports the old block freed before it
   starts and the result allocated (with the size asked) when it returns, a block resized in place
   included (the same pointer twice); when it fails, the old block is reported allocated again, with
   its usable size. A reset or destroy reports every block it frees (a walk of the heap's live
   blocks, only when FASTALLOC_ON_FREE is defined). The heap given is the one the block came from
   (the calling thread's heap for fa_malloc & co.); on a free, the heap owning its page: NULL for a
   huge block of a thread heap or a block of an exited thread. fastalloc's own records (a
   first-class heap's record, a block of the thread heap) are not reported.
   ===================================================================================================== */
#if FA__HOOKS
static void* fa__on_alloc(void* p, size_t size, fa__heap_t* heap) {
    (void)size;   /* FASTALLOC_ON_ALLOC may be left undefined when only frees are hooked */
    if (heap == NULL || heap == FA__EMPTY_HEAP) heap = fa__tls_heap;   /* made by this very call */
    if (p != NULL) FASTALLOC_ON_ALLOC(p, size, (fa_heap_t*)heap);
    return p;
}
/* Reports the free of a live block; false for anything else (NULL, foreign, a free page). */
static bool fa__on_free(void* p) {
    const fa__page_t* page = p != NULL ? fa__ptr_page(p) : NULL;
    if (page == NULL || !fa__page_in_use(page)) return false;
    FASTALLOC_ON_FREE(p, (fa_heap_t*)fa__load_relaxed(&fa__page_segment(page)->heap));
    return true;
}
#  define FA__ALLOCATED(p, size, heap) fa__on_alloc((p), (size), (heap))
#  define FA__FREEING(p)               ((void)fa__on_free(p))
#else
#  define FA__ALLOCATED(p, size, heap) (p)
#  define FA__FREEING(p)               ((void)0)
#endif

/* realloc as the API sees it: the hooks' reports around it, and the memory tools told the size the
   block now has (it may have grown or shrunk in place, or moved). Inlined into realloc and
   fa_realloc, whose constant arguments fold the fast path down (a block grown a byte at a time:
   94 instructions a call preloaded, the caller's loop included, instead of 108); the other entry points
   share one copy, fa__realloc_any (and a build for size has only that one, FA__INLINE_HOT). */
FA__INLINE_HOT void* fa__realloc_api(fa__heap_t* heap, void* p, size_t size, size_t align, bool zero) {
#if FA__HOOKS
    bool live = (align == 0 || fa__is_pow2(align)) && fa__on_free(p);
#endif
    void* q = fa__realloc(heap, p, size, align, zero);
    if (q != NULL) q = FA__REGIVEN(q, q, size);
#if FA__HOOKS
    if (q != NULL) fa__on_alloc(q, size, heap);
    else if (live) fa__on_alloc(p, fa__usable_size(p), heap);
#endif
    return q;
}
static FA__NOINLINE void* fa__realloc_any(fa__heap_t* heap, void* p, size_t size, size_t align, bool zero) {
    return fa__realloc_api(heap, p, size, align, zero);
}

#if FA__HOOK_FREES || FA__VALGRIND
static bool fa__drop_visit(void* p, size_t usable, void* heap) {
    (void)usable; (void)heap;
    FASTALLOC_ON_FREE(p, (fa_heap_t*)heap);
#  if FA__VALGRIND
    VALGRIND_FREELIKE_BLOCK(p, 0);
#  endif
    return true;
}
#endif
/* A reset or destroy is about to free every block of the heap: each is reported (one walk over the
   live blocks), and the memory tools see every page close. */
static void fa__on_heap_drop(fa__heap_t* heap) {
#if FA__HOOK_FREES || FA__VALGRIND
    (void)fa__heap_walk(heap, fa__drop_visit, heap);
#endif
    fa__track_drop(heap);
    (void)heap;
}

/* =====================================================================================================
   >>arena  BUMP ARENAS
   An arena hands out memory by moving a pointer: no bookkeeping per block and no free of one block;
   everything goes back at once (fa_arena_reset) or back to a mark (fa_arena_rewind). A fixed arena
   lives in caller memory of any size and alignment, its record at the start; a growing arena takes
   chunks from a heap when full, its record in the first chunk, and fa_arena_delete frees them. An
   arena is not a heap: it belongs to one thread of control, and its blocks are not fastalloc's
   blocks, so fa_free and fa_realloc must never see one (a debug build aborts: to the page map they
   are foreign memory, or interior pointers of the block the arena lives in). It may live anywhere:
   a static array, a stack buffer, a heap's or a region heap's block, inside another arena.
   Invariants: base <= last <= top <= end in the current chunk (last == top: no block to grow); top
   is 16-byte aligned; a mark is `before + (top - base)`, which only grows between rewinds.
   ===================================================================================================== */
#define FA__ARENA_ALIGN ((size_t)16)
#define FA__ARENA_MIN_CHUNK ((size_t)4096)

/* A growing arena's chunk: the header at its start, blocks after it. */
struct fa_arena_chunk_s {
    fa_arena_chunk_t* prev;
    size_t before;                   /* the arena's mark where this chunk starts */
    unsigned char* base;
    unsigned char* end;
};

/* Puts the arena's pointers on a stretch of memory that starts at mark `before`. */
static void fa__arena_enter(fa_arena_t* arena, unsigned char* base, unsigned char* end, size_t before) {
    arena->base = arena->top = arena->last = base;
    arena->end = end;
    arena->before = before;
}

static fa_arena_t* fa__arena_init(void* mem, size_t size) {
    uintptr_t lo = (uintptr_t)mem, hi;
    if (mem == NULL || fa__add_overflow(lo, (uintptr_t)size, &hi)) return (fa_arena_t*)fa__fail(FA__EINVAL);
    uintptr_t record = fa__align_up(lo, sizeof(void*)), base = fa__align_up(record + sizeof(fa_arena_t), FA__ARENA_ALIGN);
    if (base > hi || hi - base < FA__ARENA_ALIGN) return (fa_arena_t*)fa__fail(FA__EINVAL);
    fa_arena_t* arena = (fa_arena_t*)record;
    fa__arena_enter(arena, (unsigned char*)base, (unsigned char*)hi, 0);
    arena->chunk = NULL;
    arena->parent = NULL;
    arena->chunk_size = 0;
    return arena;
}

/* A chunk of at least `bytes` for blocks (and the arena's record, `extra` bytes, in the first),
   from the arena's heap; NULL (ENOMEM) when it has no memory. */
static fa_arena_chunk_t* fa__arena_chunk_new(fa_heap_t* parent, size_t chunk_size, size_t bytes, size_t extra) {
    size_t header = fa__align_up(sizeof(fa_arena_chunk_t) + extra, FA__ARENA_ALIGN);
    if (bytes > FA__PTRDIFF_MAX - header) return (fa_arena_chunk_t*)fa__fail(FA__ENOMEM);
    size_t total = header + bytes > chunk_size ? header + bytes : chunk_size;
    fa__heap_t* heap = parent != NULL ? parent : fa__thread_heap();
    fa_arena_chunk_t* chunk = heap != NULL ? (fa_arena_chunk_t*)FA__ALLOCATED(fa__heap_malloc(heap, total, false), total, heap) : NULL;
    if (chunk == NULL) return (fa_arena_chunk_t*)fa__fail(FA__ENOMEM);
    chunk->base = (unsigned char*)chunk + header;
    chunk->end = (unsigned char*)chunk + fa__usable_size_open(chunk);
    return chunk;
}

static fa_arena_t* fa__arena_new(fa_heap_t* parent, size_t chunk_size) {
    if (chunk_size < FA__ARENA_MIN_CHUNK) chunk_size = FA__ARENA_MIN_CHUNK;
    fa_arena_chunk_t* chunk = fa__arena_chunk_new(parent, chunk_size, 0, sizeof(fa_arena_t));
    if (chunk == NULL) return NULL;
    fa_arena_t* arena = (fa_arena_t*)(void*)(chunk + 1);
    chunk->prev = NULL;
    chunk->before = 0;
    fa__arena_enter(arena, chunk->base, chunk->end, 0);
    arena->chunk = chunk;
    arena->parent = parent;
    arena->chunk_size = chunk_size;
    return arena;
}

/* Takes `rounded` bytes at `align` from the current chunk; NULL when they do not fit. */
static void* fa__arena_take(fa_arena_t* arena, size_t rounded, size_t align) {
    uintptr_t p = fa__align_up((uintptr_t)arena->top, align), end = (uintptr_t)arena->end;
    if (p > end || rounded > end - p) return NULL;
    arena->last = (unsigned char*)p;
    arena->top = (unsigned char*)(p + rounded);
    return (void*)p;
}

/* Everything fa_arena_alloc's inline path does not do: alignments above 16, size 0 and errors, and
   for a growing arena, moving on to a new chunk. */
static void* fa__arena_alloc(fa_arena_t* arena, size_t size, size_t align) {
    if (!fa__is_pow2(align)) return fa__fail(FA__EINVAL);
    if (size > FA__PTRDIFF_MAX - FA__ARENA_ALIGN) return fa__fail(FA__ENOMEM);
    if (align < FA__ARENA_ALIGN) align = FA__ARENA_ALIGN;
    size_t rounded = fa__align_up(size == 0 ? 1 : size, FA__ARENA_ALIGN);
    void* p = fa__arena_take(arena, rounded, align);
    if (p != NULL || arena->chunk == NULL) return p != NULL ? p : fa__fail(FA__ENOMEM);
    if (rounded > FA__PTRDIFF_MAX - align) return fa__fail(FA__ENOMEM);
    fa_arena_chunk_t* chunk = fa__arena_chunk_new(arena->parent, arena->chunk_size, rounded + align, 0);
    if (chunk == NULL) return NULL;
    chunk->prev = arena->chunk;
    chunk->before = fa_arena_mark(arena);
    arena->chunk = chunk;
    fa__arena_enter(arena, chunk->base, chunk->end, chunk->before);
    return fa__arena_take(arena, rounded, align);
}

/* Resizes the last block where it is; NULL (EINVAL) for any other pointer, (ENOMEM) without room. */
static void* fa__arena_grow(fa_arena_t* arena, void* p, size_t size) {
    if (p == NULL || (unsigned char*)p != arena->last || arena->last == arena->top) return fa__fail(FA__EINVAL);
    if (size > FA__PTRDIFF_MAX - FA__ARENA_ALIGN) return fa__fail(FA__ENOMEM);
    size_t rounded = fa__align_up(size == 0 ? 1 : size, FA__ARENA_ALIGN);
    if (rounded > (size_t)(arena->end - arena->last)) return fa__fail(FA__ENOMEM);
    arena->top = arena->last + rounded;
    return p;
}

/* Back to a mark: chunks taken since go back to the heap; a mark beyond the present is ignored. */
static void fa__arena_rewind(fa_arena_t* arena, size_t mark) {
    if (mark > fa_arena_mark(arena)) return;
    while (arena->chunk != NULL && arena->chunk->prev != NULL && mark < arena->before) {
        fa_arena_chunk_t* done = arena->chunk;
        fa_arena_chunk_t* prev = done->prev;
        arena->chunk = prev;
        fa__arena_enter(arena, prev->base, prev->end, prev->before);
        FA__FREEING(done);
        fa__free(done);
    }
    arena->top = arena->last = arena->base + (mark - arena->before);
}

static void fa__arena_delete(fa_arena_t* arena) {
    fa__arena_rewind(arena, 0);
    if (arena->chunk == NULL) return;
    FA__FREEING(arena->chunk);
    fa__free(arena->chunk);   /* the first chunk holds the record itself */
}

static size_t fa__arena_left(const fa_arena_t* arena) {
    uintptr_t p = fa__align_up((uintptr_t)arena->top, FA__ARENA_ALIGN);
    return p < (uintptr_t)arena->end ? (size_t)((uintptr_t)arena->end - p) : 0;
}

/* =====================================================================================================
   >>debug  INVARIANTS, DEBUG CHECKS AND STATISTICS
   fa_heap_check runs the full invariant check of a heap on demand, in any build; it only reads.
   FASTALLOC_DEBUG builds also check every page the slow path walks, and every free: the pointer is
   a live block of a fastalloc page (the page map or the regions say so), not already free (any
   thread: a canary in freed blocks), and they abort through FASTALLOC_ASSERT. Other builds compile
   the per-free checks to nothing.
   ===================================================================================================== */
/* The index of the block that starts at p among the page's threaded blocks, or SIZE_MAX when p is
   not such a block (a link a write after free changed). */
static size_t fa__block_index(const fa__page_t* page, const void* p) {
    size_t offset = (size_t)((const uint8_t*)p - fa__page_start(page));
    if (offset >= (size_t)page->capacity * page->block_size || offset % page->block_size != 0) return SIZE_MAX;
    return offset / page->block_size;
}

/* Blocks on a free list of `page`, or SIZE_MAX when a link leaves the page's blocks (a write after
   free) or the list is longer than the page's capacity (a cycle). */
static size_t fa__list_length(const fa__page_t* page, const fa__block_t* list) {
    size_t n = 0;
    for (; list != NULL; list = fa__link_get(page, list))
        if (fa__block_index(page, list) == SIZE_MAX || ++n > page->capacity) return SIZE_MAX;
    return n;
}

/* A page in use: capacity == used + |free| + |local_free|, used <= capacity <= reserved. */
static bool fa__page_check(const fa__page_t* page) {
    if (!fa__page_in_use(page) || page->used > page->capacity || page->capacity > page->reserved) return false;
    size_t on_free = fa__list_length(page, page->free), on_local = fa__list_length(page, page->local_free);
    return on_free != SIZE_MAX && on_local != SIZE_MAX && page->capacity == page->used + on_free + on_local;
}

/* One queue: links both ways, every page checked, owned by this heap, in the queue its state says. */
static bool fa__queue_check(const fa__heap_t* heap, size_t bin, size_t* pages) {
    const fa__page_queue_t* q = &heap->queues[bin];
    const fa__page_t* prev = NULL;
    for (const fa__page_t* page = q->first; page != NULL; prev = page, page = page->next) {
        bool in_full = (page->flags & FA__PAGE_IN_FULL) != 0;
        bool right_queue = bin == FA__BIN_FULL ? in_full : !in_full && page->bin == bin;
        if (*fa__page_prev(page) != prev || !right_queue || !fa__page_check(page) || fa__page_segment(page)->heap != heap) return false;
        if (++*pages > FA__SLICES * ((size_t)1 << 20)) return false;   /* a cycle */
    }
    return q->last == prev;
}

/* One owned segment: linked to this heap, its page count and used slices match its pages. */
static bool fa__segment_check(const fa__heap_t* heap, const fa__segment_t* seg, size_t* pages) {
    if (fa__load_relaxed(&seg->heap) != heap || seg->kind != FA__SEGMENT_NORMAL
        || fa__load_relaxed(&seg->thread_id) != heap->thread_id) return false;
    size_t in_use = 0;
    for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); idx < FA__SLICES; ) {
        const fa__page_t* page = &seg->pages[idx];
        if (!fa__page_in_use(page)) { idx++; continue; }
        uint64_t span = fa__span_bits(idx, page->slice_count);
        if (page->slice_count == 0 || (seg->used_mask & span) != span || fa__page_index(page) != idx) return false;
        uintptr_t owner = fa__page_owner_tag(page, heap->thread_key);
        if (fa__load_relaxed(&page->xowner) != owner) return false;
        in_use++;
        idx += page->slice_count;
    }
    *pages += in_use;
    return seg->page_count == in_use;
}

/* The direct table points at the first page of each bin's queue (or the empty page). */
static bool fa__direct_check(const fa__heap_t* heap) {
    for (size_t w = 0; w < FA__DIRECT_SLOTS; w++) {
        const fa__page_t* first = heap->queues[fa__bin_of(w * 8)].first;
        if (heap->direct[w] != (first != NULL ? first : &fa__page_empty)) return false;
    }
    return true;
}

/* The retained set holds pages of this heap with retire_expire set, and each bin's slice count. */
static bool fa__retained_check(const fa__heap_t* heap) {
    if (heap->retained_count > FA__RETAINED_MAX) return false;
    for (size_t i = 0; i < heap->retained_count; i++) {
        const fa__page_t* page = heap->retained[i];
        if (page->retire_expire == 0 || fa__page_segment(page)->heap != heap) return false;
    }
    for (size_t bin = 0; bin <= FA__BIN_FULL; bin++) {
        size_t slices = 0;
        for (size_t i = 0; i < heap->retained_count; i++)
            if (heap->retained[i]->bin == bin) slices += heap->retained[i]->slice_count;
        if (slices != heap->queues[bin].retained_slices) return false;
    }
    return true;
}

/* Every invariant of a heap: queues, direct table, retained set, segments, and that the pages in
   the queues are exactly the pages in use in its segments. */
static bool fa__heap_check(const fa__heap_t* heap) {
    if (heap == FA__EMPTY_HEAP) return true;
    size_t queued = 0, owned = 0;
    for (size_t bin = 0; bin <= FA__BIN_FULL; bin++)
        if (!fa__queue_check(heap, bin, &queued)) return false;
    if (!fa__direct_check(heap) || !fa__retained_check(heap)) return false;
    const fa__segment_t* prev = NULL;
    for (const fa__segment_t* seg = heap->segments; seg != NULL; prev = seg, seg = seg->next)
        if (seg->prev != prev || !fa__segment_check(heap, seg, &owned)) return false;
    return queued == owned;
}

/* ---- walking a heap's live blocks (fa_heap_visit, fa_heap_stats; FASTALLOC_ON_FREE and memcheck at
   reset and destroy) ------------------------------------------------------------------------------ */
/* A live block is one of a page's threaded blocks on none of its lists, once the frees other threads
   made into the heap are taken in (delayed frees, thread_free lists), or a huge block the heap
   lists. The walk runs on the heap's thread; `visit` gets the pointer the caller holds and the bytes
   usable there, and stops the walk by returning false. It runs under the global lock while it
   visits huge blocks (another thread's free of one must wait), so it must not call fastalloc.
   Other threads may free the heap's blocks meanwhile: the delayed frees are taken in once, at the
   start, and each page's thread_free list just before that page is read, so a block is reported
   live exactly when its free had not reached its page (or the heap) by then - it was live an
   instant before. */
#define FA__WALK_WORDS ((FA__SLICE_SIZE / 8 + 63) / 64)   /* a bit per block of the fullest page */

/* Sets the bit of every block on a list of the page; a link off the page's blocks, or a block seen
   twice, means the heap is corrupted. */
static void fa__walk_mark(const fa__page_t* page, const fa__block_t* list, uint64_t* bits) {
    for (; list != NULL; list = fa__link_get(page, list)) {
        size_t i = fa__block_index(page, list);
        if (i == SIZE_MAX || (bits[i / 64] >> (i % 64)) & 1) FA__CORRUPTED("a free list leaves its page, or loops");
        bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
}

static bool fa__page_walk(fa__page_t* page, fa_visit_fn visit, void* arg) {
    uint64_t bits[FA__WALK_WORDS];
    FASTALLOC_MEMSET(bits, 0, sizeof(bits));   /* not "= { 0 }": a compiler may call memset, absent without libc */
    FA__DEBUG_ASSERT(page->capacity <= FA__WALK_WORDS * 64);
    fa__page_collect_thread_free(page);
    fa__walk_mark(page, page->free, bits);
    fa__walk_mark(page, page->local_free, bits);
    uint8_t* start = fa__page_start(page);
    for (size_t i = 0; i < page->capacity; i++) {
        if ((bits[i / 64] >> (i % 64)) & 1) continue;
        fa__block_t* block = (fa__block_t*)(void*)(start + i * page->block_size);
        uint8_t* user = fa__aligned_user(page, block);
        if (!visit(user, page->block_size - (size_t)(user - (uint8_t*)block), arg)) return false;
    }
    return true;
}

static bool fa__heap_walk(fa__heap_t* heap, fa_visit_fn visit, void* arg) {
    if (heap == FA__EMPTY_HEAP) return true;
    if (fa__load_relaxed(&heap->delayed_free) != NULL) fa__heap_delayed_free(heap);
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) {
        fa__page_t* page;
        for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; )
            if (!fa__page_walk(page, visit, arg)) return false;
    }
    bool go_on = true;
    fa__lock();
    for (fa__segment_t* seg = heap->huge; seg != NULL && go_on; seg = seg->next)
        go_on = visit((uint8_t*)seg + seg->pages[0].block_size, seg->map_size - seg->pages[0].block_size, arg);
    fa__unlock();
    return go_on;
}
/* ---- a heap's figures (fa_heap_stats) ------------------------------------------------------------ */
static bool fa__sum_visit(void* block, size_t usable, void* arg) {
    fa_heap_stats_t* out = (fa_heap_stats_t*)arg;
    (void)block;
    out->live_blocks++;
    out->live_bytes += usable;
    return true;
}

/* Live blocks of a page from its counts, after its cross-thread frees are taken in; a page that
   served aligned requests is walked, since an aligned block's usable size depends on its offset. */
static void fa__page_stats(fa__page_t* page, fa_heap_stats_t* out) {
    unsigned shift = fa__seg_shift(fa__page_segment(page));
    fa__page_collect_thread_free(page);
    if (fa__load_relaxed(&page->flags) & FA__PAGE_HAS_ALIGNED) (void)fa__page_walk(page, fa__sum_visit, out);
    else { out->live_blocks += page->used; out->live_bytes += (size_t)page->used * page->block_size; }
    out->page_bytes += fa__page_bytes(page);
    if (page->block_size <= fa__geometry_small_max(shift)) out->pages_small++;
    else if (page->block_size <= fa__geometry_medium_max(shift)) out->pages_medium++;
    else out->pages_large++;
}

/* Bytes of a segment that count against the commit limit: all but the slices a purge decommitted. */
static size_t fa__segment_committed(const fa__segment_t* seg) {
    return seg->map_size - (fa__bit_count(seg->decommit_mask) << fa__seg_shift(seg));
}

/* The largest request a fresh page on `slices` free slices of a segment serves; 0: none. */
static size_t fa__fresh_page_request_max(size_t slices, unsigned shift) {
    for (size_t bin = fa__bin_of(fa__geometry_large_max(shift)); bin >= 1; bin--)
        if (fa__page_slices_for(fa__bin_size(bin), shift) <= slices) return fa__bin_request_max(bin);
    return 0;
}

static size_t fa__longest_run(uint64_t bits) {
    size_t longest = 0;
    for (size_t run = 0; bits != 0; bits &= bits << 1) longest = ++run;
    return longest;
}

/* Free memory a region heap could hand out as it stands, in the terms of fa_heap_stats_t: its pages'
   free blocks and free slices of its segments, then the region's free windows (under the lock that
   guards them). Each run of free windows serves one huge block after one segment header, or, when
   that is no bigger than a large block, a fresh segment's page. */
static void fa__region_heap_free(fa__heap_t* heap, fa_heap_stats_t* out) {
    const fa__region_t* region = heap->region;
    unsigned shift = FA__REGION_SHIFT;
    size_t large_max = fa__geometry_large_max(shift), largest = 0, total = 0;
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) {
        uint64_t free_slices = ~seg->used_mask & FA__ALL_SLICES;
        size_t fits = fa__fresh_page_request_max(fa__longest_run(free_slices), shift);
        if (fits > largest) largest = fits;
        total += fa__bit_count(free_slices) * fa__geometry_slice(shift);
        fa__page_t* page;
        for (size_t idx = fa__geometry_header_slices(shift); (page = fa__segment_next_page(seg, &idx)) != NULL; ) {
            total += (size_t)(page->reserved - page->used) * page->block_size;
            /* a full page with room (a cross-thread free not yet taken in) serves no malloc yet */
            bool serves = page->used < page->reserved && !(page->flags & FA__PAGE_IN_FULL);
            if (serves && fa__bin_request_max(page->bin) > largest) largest = fa__bin_request_max(page->bin);
        }
    }
    fa__lock();
    for (size_t i = 0, run; i < region->window_count; i += run == 0 ? 1 : run) {
        for (run = 0; i + run < region->window_count && fa__region_window_free(region, i + run); run++) { }
        if (run == 0) continue;
        uint8_t* window = region->base + i * FA__REGION_SEGMENT_SIZE;
        size_t room = (size_t)(region->limit - window);
        if (room > run * FA__REGION_SEGMENT_SIZE) room = run * FA__REGION_SEGMENT_SIZE;
        if (room < FA__REGION_MIN_WINDOW) continue;
        size_t block = room - FA__REGION_HEADER_BYTES, first = room < FA__REGION_SEGMENT_SIZE ? room : FA__REGION_SEGMENT_SIZE;
        size_t fits = block > large_max ? block : fa__fresh_page_request_max((first >> shift) - fa__geometry_header_slices(shift), shift);
        if (fits > largest) largest = fits;
        total += block;
    }
    fa__unlock();
    out->region_bytes = (size_t)(region->hi - region->lo);
    out->free_bytes = total;
    out->largest_free = largest < total ? largest : total;
    size_t lost = total - out->largest_free;
    out->fragmentation = total == 0 ? 0 : lost <= SIZE_MAX / 1000 ? lost * 1000 / total : lost / (total / 1000);
}

static bool fa__heap_stats(fa__heap_t* heap, fa_heap_stats_t* out) {
    FASTALLOC_MEMSET(out, 0, sizeof(*out));
    if (heap == FA__EMPTY_HEAP) return true;
    if (fa__load_relaxed(&heap->delayed_free) != NULL) fa__heap_delayed_free(heap);
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) {
        out->committed_bytes += fa__segment_committed(seg);
        out->reserved_bytes += seg->map_size;
        fa__page_t* page;
        for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; )
            fa__page_stats(page, out);
    }
    if (heap->spare_segment != NULL) {
        out->committed_bytes += fa__segment_committed(heap->spare_segment);
        out->reserved_bytes += heap->spare_segment->map_size;
    }
    fa__lock();
    for (fa__segment_t* seg = heap->huge; seg != NULL; seg = seg->next) {
        size_t usable = seg->map_size - seg->pages[0].block_size;
        if (fa__seg_sampled(seg)) {   /* a small block to the caller (>>guard) */
            out->live_blocks++;
            out->live_bytes += usable;
        } else {
            out->huge_blocks++;
            out->huge_bytes += usable;
        }
        out->committed_bytes += seg->map_size + seg->huge_tail;
        out->reserved_bytes += fa__segment_mapped(seg);
    }
    fa__unlock();
    out->live_blocks += out->huge_blocks;
    out->live_bytes += out->huge_bytes;
    if (heap->region != NULL) fa__region_heap_free(heap, out);
    return true;
}

#ifdef FASTALLOC_DEBUG
/* A link read from a free block must point at a block of the same page: catches writes after free. */
static void fa__check_link(const fa__page_t* page, const fa__block_t* next) {
    FASTALLOC_ASSERT((next == NULL || fa__block_index(page, next) != SIZE_MAX) && "fastalloc: free list corrupted (write after free?)");
}
/* Free blocks (every block is at least 16 bytes in debug builds) carry a canary in their second word
   from the moment they are threaded into a free list until they are handed out, so a second free,
   or a free of a block never handed out, is caught whichever threads do them. The canary is the
   block's own (its address ^ a constant): bytes a realloc copies from stale memory into another
   block cannot pass for it there. */
#define FA__FREED_CANARY ((uintptr_t)0xFA11F4EEDB10C5EDULL)
static uintptr_t fa__freed_canary(const void* block) { return (uintptr_t)block ^ FA__FREED_CANARY; }
static void fa__debug_mark_fresh(const fa__page_t* page, uint8_t* first, size_t count) {
    for (size_t i = 0; i < count; i++) fa__word_set(first + i * page->block_size, 1, fa__freed_canary(first + i * page->block_size));
}
static void fa__check_pop(const fa__page_t* page, fa__block_t* block) {
    fa__check_link(page, fa__link_get(page, block));
    fa__word_set(block, 1, 0);
}
static void fa__check_handout(void* p) { (void)p; }   /* a stale canary copied elsewhere is no canary */
static bool fa__list_contains(const fa__page_t* page, const fa__block_t* list, const void* p) {
    for (; list != NULL; list = fa__link_get(page, list)) {
        fa__check_link(page, list);
        if ((const void*)list == p) return true;
    }
    return false;
}
static void fa__check_free(const void* p) {
    if (p == NULL) return;
    fa__page_t* page = fa__ptr_page(p);
    FASTALLOC_ASSERT(page != NULL && "fa_free: not a fastalloc pointer");
    fa__segment_t* seg = fa__page_segment(page);
    FASTALLOC_ASSERT(seg->cookie == fa__segment_cookie(seg) && "fa_free: segment header overwritten");
    FASTALLOC_ASSERT(fa__page_in_use(page) && "fa_free: pointer into a free page (double free?)");
    if (seg->kind == FA__SEGMENT_HUGE) {
        FASTALLOC_ASSERT((size_t)((const uint8_t*)p - (const uint8_t*)seg) == page->block_size && "fa_free: interior pointer of a huge block");
        return;
    }
    size_t offset = (size_t)((const uint8_t*)p - fa__page_start(page));
    FASTALLOC_ASSERT(offset < (size_t)page->capacity * page->block_size && "fa_free: pointer past the page's blocks");
    bool has_aligned = (fa__load_relaxed(&page->flags) & FA__PAGE_HAS_ALIGNED) != 0;
    const fa__block_t* block = has_aligned ? fa__page_block_of(page, p) : (const fa__block_t*)p;
    FASTALLOC_ASSERT((size_t)((const uint8_t*)block - fa__page_start(page)) % page->block_size == 0 && "fa_free: interior pointer");
    FASTALLOC_ASSERT((const void*)fa__aligned_user(page, (fa__block_t*)(uintptr_t)block) == p && "fa_free: interior pointer");
    if (fa__load_relaxed(&seg->thread_id) == fa__thread_id()) {
        FASTALLOC_ASSERT(!fa__list_contains(page, page->free, block) && !fa__list_contains(page, page->local_free, block)
                         && "fa_free: double free");
    }
    FASTALLOC_ASSERT(fa__word_get(block, 1) != fa__freed_canary(block) && "fa_free: double free, or a block never handed out");
    fa__word_set((void*)(uintptr_t)block, 1, fa__freed_canary(block));
}
/* The thread rule of first-class heaps: only the thread that made one uses it (any thread frees). */
static void fa__check_heap_owner(const fa__heap_t* heap) {
    FASTALLOC_ASSERT(heap->kind == FA__HEAP_FIRST_CLASS && "fa_heap_*: not a heap from fa_heap_new*, or already deleted");
    FASTALLOC_ASSERT(heap->thread_id == fa__thread_id() && "fa_heap_*: a heap is used only by the thread that made it");
}
static void fa__check_heap_block(const fa__heap_t* heap, const void* p) {
    if (p == NULL) return;
    const fa__page_t* page = fa__ptr_page(p);
    FASTALLOC_ASSERT(page != NULL && "fa_heap_usable_size: not a fastalloc pointer");
    FASTALLOC_ASSERT(fa__load_relaxed(&fa__page_segment(page)->heap) == heap && "fa_heap_usable_size: a block of another heap");
}
#else
static void fa__check_heap_owner(const fa__heap_t* heap) { (void)heap; }
static void fa__check_heap_block(const fa__heap_t* heap, const void* p) { (void)heap; (void)p; }
#endif

#if defined(FASTALLOC_SECURE) && !defined(FASTALLOC_DEBUG)
/* FASTALLOC_SECURE's free checks, O(1) each (a debug build's own checks cover them):
   - a pointer the page map does not know (foreign), or into a page not in use, stops the program;
   - so does an interior pointer (not a block's start, or not the pointer an aligned block was
     handed out as, or past a huge block's start);
   - a double free: a free block carries a tag in its second word, its address ^ a secret key, from
     the moment it is threaded (fresh) or freed until it is handed out (pop clears it; pointers
     handed out without a pop clear a stale one in fa__check_handout). A free that finds the tag
     stops the program. The tag is keyed and its block's own, so no copy of old bytes (realloc)
     and no caller data short of the key can fake it; the owner thread still confirms a hit by
     finding the block on the page's lists (or the heap's delayed list), and goes on if it is not
     there. Another thread cannot walk the owner's lists safely: it trusts the tag. */
static void fa__debug_mark_fresh(const fa__page_t* page, uint8_t* first, size_t count) { (void)page; (void)first; (void)count; }   /* fa__secure_thread tags them */
/* The block malloc is about to hand out must carry its tag: a link an overflow or a write after
   free changed decodes to an address that does not (the tag is keyed and the address's own), and a
   block handed out once lost it, so a list that loops back (self-linked or longer) stops here too,
   before any block goes out twice. */
static void fa__check_pop(const fa__page_t* page, fa__block_t* block) {
    if (fa__unlikely(fa__word_get(block, 1) != fa__secure_tag(page, block)))
        FA__SECURE_FAIL("fastalloc: free list corrupted (a heap overflow, a write after free or a double free)");
    fa__word_set(block, 1, 0);
}
static void fa__check_handout(void* p) {
    const fa__page_t* page = fa__ptr_page(p);
    if (page != NULL && fa__word_get(p, 1) == fa__secure_tag(page, p)) fa__word_set(p, 1, 0);
}
static bool fa__secure_on_list(const fa__page_t* page, const fa__block_t* list, const void* p) {
    for (size_t n = 0; list != NULL; list = fa__link_next(page, list)) {
        if ((const void*)list == p) return true;
        if (++n > page->capacity) FA__SECURE_FAIL("fastalloc: free list corrupted (loops)");
    }
    return false;
}
static FA__NOINLINE void fa__secure_double_free(fa__page_t* page, const void* block) {
    fa__segment_t* seg = fa__page_segment(page);
    if (fa__load_relaxed(&seg->thread_id) == fa__thread_id()) {
        bool found = fa__secure_on_list(page, page->free, block) || fa__secure_on_list(page, page->local_free, block)
                     || fa__secure_on_list(page, fa__tf_head(page, fa__load_acquire(&page->xthread_free)), block);
        fa__heap_t* heap = fa__load_relaxed(&seg->heap);
        const fa__block_t* d = heap != NULL ? fa__load_acquire(&heap->delayed_free) : NULL;
        for (size_t n = 0; !found && d != NULL; ) {
            const fa__page_t* dp = fa__ptr_page(d);
            if (dp == NULL || ++n > ((size_t)1 << 24)) FA__SECURE_FAIL("fastalloc: delayed free list corrupted");
            found = (const void*)d == block;
            d = fa__link_get(dp, d);
        }
        if (!found) return;   /* stale: nobody could have written that tag but this allocator */
    }
    FA__SECURE_FAIL("fa_free: double free");
}
static void fa__check_free(const void* p) { (void)p; }   /* the checks sit in the free paths (>>free) */
#elif !defined(FASTALLOC_DEBUG)
static void fa__check_pop(const fa__page_t* page, fa__block_t* block) { (void)page; (void)block; }
static void fa__debug_mark_fresh(const fa__page_t* page, uint8_t* first, size_t count) { (void)page; (void)first; (void)count; }
static void fa__check_handout(void* p) { (void)p; }
static void fa__check_free(const void* p) { (void)p; }
#endif

/* ---- memory tools: blocks handed out and taken back (see >>track) -------------------------------- */
#if FA__TRACK
/* The block a pointer lies in, [*start, *end), and whether the pointer is the one handed out for
   it (not an interior pointer); NULL when it is no live block of fastalloc's. */
static const fa__page_t* fa__track_block(const void* p, uint8_t** start, uint8_t** end, bool* handed_out) {
    const fa__page_t* page = fa__ptr_page(p);
    if (page == NULL || !fa__page_in_use(page)) return NULL;
    const fa__segment_t* seg = fa__page_segment(page);
    if (seg->kind == FA__SEGMENT_HUGE) {
        *start = (uint8_t*)seg + page->block_size;
        *end = (uint8_t*)seg + seg->map_size;
        *handed_out = *start == (const uint8_t*)p;
    } else {
        *start = (uint8_t*)fa__page_block_of(page, p);
        *end = *start + page->block_size;
        *handed_out = fa__aligned_user(page, (fa__block_t*)(void*)*start) == (const uint8_t*)p;
    }
    return page;
}

#if FA__ASAN
/* How much of [q, q + limit) is open. What is open of a block is a prefix from the pointer handed
   out (see >>track), so a binary search finds its end. */
static size_t fa__asan_open_prefix(const uint8_t* q, size_t limit) {
    if (limit == 0 || !__asan_address_is_poisoned(q + limit - 1)) return limit;
    size_t lo = 0, hi = limit - 1;                 /* q + hi is closed; the first closed byte is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (__asan_address_is_poisoned(q + mid)) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}
#endif

/* The block at p is the caller's for `size` bytes (one for size 0): only those are addressable. */
static void* fa__track_give(void* p, size_t size, bool zero) {
    uint8_t *start, *end, *q = (uint8_t*)p;
    bool handed_out;
    if (p == NULL || fa__track_block(p, &start, &end, &handed_out) == NULL) return p;
    size_t n = size != 0 ? size : 1;
    if (q > start) fa__track_close(start, (size_t)(q - start));
#if FA__ASAN
    /* Only the difference: a block that grows by a few bytes at a time, or a huge one, must not
       cost its whole size in shadow writes each time. */
    size_t open = fa__asan_open_prefix(q, (size_t)(end - q));
    if (open < n) fa__track_open(q + open, n - open);
    else if (open > n) fa__track_close(q + n, open - n);
    (void)zero;
#else
    if ((size_t)(end - q) > n) fa__track_close(q + n, (size_t)(end - q) - n);
    VALGRIND_MALLOCLIKE_BLOCK(q, n, 0, zero);
#endif
    return p;
}

/* The block at p, handed out, is handed out again at `size` (realloc, an aligned block inside a
   bigger one, fa_usable_size): what the caller wrote stays readable. */
static void* fa__track_regive(void* block, void* p, size_t size) {
#if FA__VALGRIND
    VALGRIND_FREELIKE_BLOCK(block, 0);
#else
    (void)block;
#endif
    return fa__track_give(p, size, true);
}

/* A huge block moved with its mapping (mremap): memcheck's record moves with it. */
static FA__UNUSED void fa__track_moved(void* from, void* to) {
#if FA__VALGRIND
    VALGRIND_FREELIKE_BLOCK(from, 0);
    VALGRIND_MALLOCLIKE_BLOCK(to, 1, 0, 1);
#else
    (void)from; (void)to;
#endif
}

/* A huge block shrinks in place to `usable` bytes, the rest going back to its region or the OS:
   memcheck's record of it shrinks first, or the block's next resize or free would close memory that
   is no longer the block's (a segment later laid there would be reported). Before the tail opens. */
static FA__UNUSED void fa__track_shrink(void* p, size_t usable) {
#if FA__VALGRIND
    VALGRIND_FREELIKE_BLOCK(p, 0);
    VALGRIND_MALLOCLIKE_BLOCK(p, usable, 0, 1);
#else
    (void)p; (void)usable;
#endif
}

/* Tells the tool about a bad free; AddressSanitizer stops the program there. */
static FA__NOINLINE void fa__track_report(void* p) {
#if FA__ASAN
    __sanitizer_report_error_summary("fastalloc: fa_free of a pointer it did not hand out, of an interior pointer, or of a block already free");
#  if defined(FA__MSVC)
    __asan_report_error(_ReturnAddress(), _AddressOfReturnAddress(), _AddressOfReturnAddress(), p, 1, 1);
#  else
    __asan_report_error(__builtin_return_address(0), __builtin_frame_address(0), __builtin_frame_address(0), p, 1, 1);
#  endif
#else
    (void)p;   /* memcheck reported it at VALGRIND_FREELIKE_BLOCK */
#endif
}

/* A free: the pointer must be a live block's, as handed out; then the block closes. False: it was
   not (reported), and the free does nothing more. A huge block on the OS closes only where the huge
   cache may keep it: any other goes back to the OS whole. */
static bool fa__track_take(void* p) {
    uint8_t *start, *end;
    bool handed_out = false;
    if (p == NULL) return true;
    const fa__page_t* page = fa__track_block(p, &start, &end, &handed_out);
#if FA__ASAN
    bool ok = page != NULL && handed_out && !__asan_address_is_poisoned(p);
#else
    char vbits;
    bool ok = page != NULL && handed_out && VALGRIND_GET_VBITS(p, &vbits, 1) != 3;   /* 3: not addressable */
    VALGRIND_FREELIKE_BLOCK(p, 0);
#endif
    if (!ok) { fa__track_report(p); return false; }
    const fa__segment_t* seg = fa__page_segment(page);
    if (seg->kind != FA__SEGMENT_HUGE || (seg->region == NULL && seg->map_size <= FA__HUGE_CACHE_MAX))
        fa__track_close(start, (size_t)(end - start));
    return true;
}

/* A segment's memory goes back to the OS or its region: open again whatever may be closed. */
static void fa__track_release(const fa__segment_t* seg) {
    if (seg->kind != FA__SEGMENT_HUGE) {
        size_t header = fa__geometry_header_slices(fa__seg_shift(seg)) << fa__seg_shift(seg);
        fa__track_open((const uint8_t*)seg + header, seg->map_size - header);
        return;
    }
    size_t offset = seg->pages[0].block_size, usable = seg->map_size - offset;
    size_t from = seg->region != NULL || seg->map_size <= FA__HUGE_CACHE_MAX ? 0 : seg->huge_written < usable ? seg->huge_written : usable;
    fa__track_open((const uint8_t*)seg + offset + from, usable - from);
}

/* fa_heap_reset and fa_heap_destroy free every block at once: every page of the heap closes. */
static void fa__track_drop(fa__heap_t* heap) {
    for (fa__segment_t* seg = heap->segments; seg != NULL; seg = seg->next) {
        fa__page_t* page;
        for (size_t idx = fa__geometry_header_slices(fa__seg_shift(seg)); (page = fa__segment_next_page(seg, &idx)) != NULL; )
            fa__track_close(fa__page_start(page), fa__page_bytes(page));
    }
}

/* fa_usable_size: the whole usable size is the caller's to write. */
static size_t fa__usable_size_open(const void* p) {
    size_t usable = fa__usable_size(p);
    uint8_t *start, *end;
    bool handed_out;
    if (usable != 0 && fa__track_block(p, &start, &end, &handed_out) != NULL && handed_out)
        fa__track_regive((void*)(uintptr_t)p, (void*)(uintptr_t)p, usable);
    return usable;
}
#endif

static void fa__stats_get(fa_stats_t* out) {
    if (out == NULL) return;
    out->mapped_bytes = fa__load_relaxed(&fa__stats.mapped_bytes);
    out->mapped_peak = fa__load_relaxed(&fa__stats.mapped_peak);
    out->os_map_calls = fa__load_relaxed(&fa__stats.os_map_calls);
    out->os_unmap_calls = fa__load_relaxed(&fa__stats.os_unmap_calls);
    out->os_purge_calls = fa__load_relaxed(&fa__stats.os_purge_calls);
    out->os_remap_calls = fa__load_relaxed(&fa__stats.os_remap_calls);
    out->segments_live = fa__load_relaxed(&fa__stats.segments_live);
    out->segments_abandoned = fa__load_relaxed(&fa__abandoned.count);
    out->pages_acquired = fa__load_relaxed(&fa__stats.pages_acquired);
    out->pages_retired = fa__load_relaxed(&fa__stats.pages_retired);
    out->bytes_zeroed = fa__load_relaxed(&fa__stats.bytes_zeroed);
    out->bytes_copied = fa__load_relaxed(&fa__stats.bytes_copied);
    out->region_bytes = fa__load_relaxed(&fa__stats.region_bytes);
    out->region_peak = fa__load_relaxed(&fa__stats.region_peak);
    out->metadata_bytes = fa__load_relaxed(&fa__stats.metadata_bytes);
    out->guard_samples = fa__load_relaxed(&fa__stats.guard_samples);
}

/* =====================================================================================================
   >>api  PUBLIC ENTRY POINTS
   Each one runs under the user's lock hooks and calls only internal functions. Checks of arguments
   that cost a compare live here, not on the internal paths.
   ===================================================================================================== */
/* count * size, or SIZE_MAX when that overflows: every path rejects it with ENOMEM. */
static size_t fa__array_bytes(size_t count, size_t size) {
    size_t total;
    return fa__mul_overflow(count, size, &total) ? SIZE_MAX : total;
}

/* Internally alignment 0 means "none"; for callers it is not a power of two. */
static void* fa__realloc_aligned(void* p, size_t size, size_t alignment, bool zero) {
    return alignment == 0 ? fa__fail(FA__EINVAL) : fa__realloc_any(fa__tls_heap, p, size, alignment, zero);
}

static char* fa__strndup(const char* s, size_t n) {
    if (s == NULL) return (char*)fa__fail(FA__EINVAL);
    size_t len = 0;
    while (len < n && s[len] != '\0') len++;
    char* copy = (char*)FA__ALLOCATED(fa__malloc_fast(len + 1, false), len + 1, NULL);
    if (copy == NULL) return NULL;
    FASTALLOC_MEMCPY(copy, s, len);
    copy[len] = '\0';
    return copy;
}

FASTALLOC_API void* fa_malloc(size_t size) { FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_fast(size, false), size, NULL)); }
FASTALLOC_API void* fa_zalloc(size_t size) { FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_fast(size, true), size, NULL)); }
FASTALLOC_API void* fa_calloc(size_t count, size_t size) {
    FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_fast(fa__array_bytes(count, size), true), fa__array_bytes(count, size), NULL));
}
FASTALLOC_API void* fa_malloc_aligned(size_t size, size_t alignment) {
    FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_aligned(fa__tls_heap, size, alignment, false), size, NULL));
}
FASTALLOC_API void* fa_zalloc_aligned(size_t size, size_t alignment) {
    FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_aligned(fa__tls_heap, size, alignment, true), size, NULL));
}
FASTALLOC_API void* fa_realloc(void* p, size_t size) { FA__SERIALIZED(void*, fa__realloc_api(fa__tls_heap, p, size, 0, false)); }
FASTALLOC_API void* fa_rezalloc(void* p, size_t size) { FA__SERIALIZED(void*, fa__realloc_any(fa__tls_heap, p, size, 0, true)); }
FASTALLOC_API void* fa_recalloc(void* p, size_t count, size_t size) {
    FA__SERIALIZED(void*, fa__realloc_any(fa__tls_heap, p, fa__array_bytes(count, size), 0, true));
}
FASTALLOC_API void* fa_realloc_aligned(void* p, size_t size, size_t alignment) {
    FA__SERIALIZED(void*, fa__realloc_aligned(p, size, alignment, false));
}
FASTALLOC_API void* fa_rezalloc_aligned(void* p, size_t size, size_t alignment) {
    FA__SERIALIZED(void*, fa__realloc_aligned(p, size, alignment, true));
}
FASTALLOC_API void fa_free(void* p) { FA__SERIALIZED_VOID(FA__FREEING(p); fa__free(p)); }
FASTALLOC_API size_t fa_usable_size(const void* p) { FA__SERIALIZED(size_t, fa__usable_size_open(p)); }
FASTALLOC_API size_t fa_good_size(size_t size) { return fa__good_size(size); }
FASTALLOC_API char* fa_strndup(const char* s, size_t n) { FA__SERIALIZED(char*, fa__strndup(s, n)); }
FASTALLOC_API char* fa_strdup(const char* s) { FA__SERIALIZED(char*, fa__strndup(s, (size_t)-1)); }
FASTALLOC_API void fa_collect(bool force) { FA__SERIALIZED_VOID(fa__collect(force)); }
FASTALLOC_API void fa_stats_get(fa_stats_t* out) { FA__SERIALIZED_VOID(fa__stats_get(out)); }
FASTALLOC_API void fa_thread_done(void) { FA__SERIALIZED_VOID(fa__thread_done()); }

/* ---- regions and first-class heaps --------------------------------------------------------------- */
/* The default region is set once, before any heap has taken OS memory: a heap never changes its
   source. Without threads the program's one thread heap lives in the region too (without an OS
   there is nowhere else); a thread heap made before, which holds no memory yet, is dropped. */
static bool fa__default_source_taken(void) {
    fa__lock();
    bool taken = fa__default_region != NULL || fa__os_blocks;
    fa__unlock();
    return taken;
}

/* The region is laid out before the global lock is taken, then published under it, unless another
   thread got there first. */
static bool fa__init_region(void* mem, size_t size) {
    fa__process_ready();
    if (fa__default_source_taken()) return (bool)fa__fail(FA__EBUSY);
    if (!FA__THREADS) {
        fa__heap_t* heap = fa__heap_new_in_region(mem, size, FA__HEAP_THREAD);
        if (heap == NULL) return false;
        if (fa__tls_heap != FA__EMPTY_HEAP) fa__heap_record_release(fa__tls_heap);
        fa__default_region = heap->region;
        fa__thread_heap_set(heap);
        return true;
    }
    void* unused;
    fa__region_t* region = fa__region_create(mem, size, 0, &unused);
    if (region == NULL) return (bool)fa__fail(FA__EINVAL);
    fa__lock();
    bool taken = fa__default_region != NULL || fa__os_blocks;
    if (!taken) fa__store_release(&fa__default_region, region);
    fa__unlock();
    if (taken) { fa__region_forget(region); return (bool)fa__fail(FA__EBUSY); }
    return true;
}

/* NULL for a missing heap (EINVAL); in debug builds, an assertion that the caller owns it. */
static fa__heap_t* fa__heap_arg(fa_heap_t* heap) {
    if (heap == NULL) return (fa__heap_t*)fa__fail(FA__EINVAL);
    fa__check_heap_owner(heap);
    return heap;
}

FASTALLOC_API bool fa_init_region(void* mem, size_t size) { FA__SERIALIZED(bool, fa__init_region(mem, size)); }
FASTALLOC_API fa_heap_t* fa_heap_new(void) { FA__SERIALIZED(fa_heap_t*, fa__heap_new()); }
FASTALLOC_API fa_heap_t* fa_heap_new_in_region(void* mem, size_t size) {
    FA__SERIALIZED(fa_heap_t*, fa__heap_new_in_region(mem, size, FA__HEAP_FIRST_CLASS));
}
FASTALLOC_API void fa_heap_destroy(fa_heap_t* heap) {
    FA__SERIALIZED_VOID(if (fa__heap_arg(heap)) { fa__on_heap_drop(heap); fa__heap_destroy(heap); });
}
FASTALLOC_API void fa_heap_reset(fa_heap_t* heap) {
    FA__SERIALIZED_VOID(if (fa__heap_arg(heap)) { fa__on_heap_drop(heap); fa__heap_reset(heap); });
}
FASTALLOC_API void fa_heap_delete(fa_heap_t* heap) { FA__SERIALIZED_VOID(if (fa__heap_arg(heap)) fa__heap_delete(heap)); }
FASTALLOC_API void fa_heap_collect(fa_heap_t* heap) { FA__SERIALIZED_VOID(if (fa__heap_arg(heap)) fa__heap_collect(heap, false)); }
FASTALLOC_API void* fa_heap_malloc(fa_heap_t* heap, size_t size) {
    FA__SERIALIZED(void*, fa__heap_arg(heap) ? FA__ALLOCATED(fa__heap_malloc_fast(heap, size, false), size, heap) : NULL);
}
FASTALLOC_API void* fa_heap_zalloc(fa_heap_t* heap, size_t size) {
    FA__SERIALIZED(void*, fa__heap_arg(heap) ? FA__ALLOCATED(fa__heap_malloc_fast(heap, size, true), size, heap) : NULL);
}
FASTALLOC_API void* fa_heap_calloc(fa_heap_t* heap, size_t count, size_t size) {
    FA__SERIALIZED(void*, fa__heap_arg(heap) ? FA__ALLOCATED(fa__heap_malloc_fast(heap, fa__array_bytes(count, size), true),
                                                             fa__array_bytes(count, size), heap) : NULL);
}
FASTALLOC_API void* fa_heap_realloc(fa_heap_t* heap, void* p, size_t size) {
    FA__SERIALIZED(void*, fa__heap_arg(heap) ? fa__realloc_any(heap, p, size, 0, false) : NULL);
}
FASTALLOC_API void* fa_heap_malloc_aligned(fa_heap_t* heap, size_t size, size_t alignment) {
    FA__SERIALIZED(void*, fa__heap_arg(heap) ? FA__ALLOCATED(fa__malloc_aligned(heap, size, alignment, false), size, heap) : NULL);
}
FASTALLOC_API size_t fa_heap_usable_size(const fa_heap_t* heap, const void* p) {
    FA__SERIALIZED(size_t, (fa__check_heap_block(heap, p), fa__usable_size_open(p)));
}
FASTALLOC_API bool fa_heap_check(const fa_heap_t* heap) {
    FA__SERIALIZED(bool, fa__heap_check(heap != NULL ? heap : fa__tls_heap));
}
/* Seeing a heap (fa_heap_visit, fa_heap_stats): NULL is the calling thread's heap, which is also
   the only thread that may look at it (the walk takes in cross-thread frees, an owner's work). */
static fa__heap_t* fa__heap_seen(fa_heap_t* heap) { return heap != NULL ? fa__heap_arg(heap) : fa__tls_heap; }
FASTALLOC_API bool fa_heap_visit(fa_heap_t* heap, fa_visit_fn visit, void* arg) {
    FA__SERIALIZED(bool, visit == NULL ? (bool)fa__fail(FA__EINVAL) : fa__heap_walk(fa__heap_seen(heap), visit, arg));
}
FASTALLOC_API bool fa_heap_stats(fa_heap_t* heap, fa_heap_stats_t* out) {
    FA__SERIALIZED(bool, out == NULL ? (bool)fa__fail(FA__EINVAL) : fa__heap_stats(fa__heap_seen(heap), out));
}

/* ---- arenas -------------------------------------------------------------------------------------- */
static void* fa__arena_zalloc(fa_arena_t* arena, size_t size) {
    void* p = fa__arena_alloc(arena, size, FA__ARENA_ALIGN);
    if (p != NULL) FASTALLOC_MEMSET(p, 0, size);
    return p;
}
#define FA__ARENA_ARG(arena, expr) ((arena) != NULL ? (expr) : fa__fail(FA__EINVAL))

FASTALLOC_API fa_arena_t* fa_arena_init(void* mem, size_t size) { FA__SERIALIZED(fa_arena_t*, fa__arena_init(mem, size)); }
FASTALLOC_API fa_arena_t* fa_arena_new(fa_heap_t* parent, size_t chunk_size) {
    FA__SERIALIZED(fa_arena_t*, fa__arena_new(parent, chunk_size));
}
FASTALLOC_API void fa_arena_delete(fa_arena_t* arena) { FA__SERIALIZED_VOID(if (arena != NULL) fa__arena_delete(arena)); }
FASTALLOC_API void* fa_arena_alloc_aligned(fa_arena_t* arena, size_t size, size_t alignment) {
    FA__SERIALIZED(void*, FA__ARENA_ARG(arena, fa__arena_alloc(arena, size, alignment)));
}
FASTALLOC_API void* fa_arena_zalloc(fa_arena_t* arena, size_t size) {
    FA__SERIALIZED(void*, FA__ARENA_ARG(arena, fa__arena_zalloc(arena, size)));
}
FASTALLOC_API void* fa_arena_grow(fa_arena_t* arena, void* p, size_t size) {
    FA__SERIALIZED(void*, FA__ARENA_ARG(arena, fa__arena_grow(arena, p, size)));
}
FASTALLOC_API void fa_arena_rewind(fa_arena_t* arena, size_t mark) { FA__SERIALIZED_VOID(if (arena != NULL) fa__arena_rewind(arena, mark)); }
FASTALLOC_API void fa_arena_reset(fa_arena_t* arena) { FA__SERIALIZED_VOID(if (arena != NULL) fa__arena_rewind(arena, 0)); }
FASTALLOC_API size_t fa_arena_left(const fa_arena_t* arena) { return arena != NULL ? fa__arena_left(arena) : 0; }

/* =====================================================================================================
   >>override  MALLOC OVERRIDE (FASTALLOC_OVERRIDE)
   The C library's allocation entry points on top of the fa_ functions, for LD_PRELOAD or for linking
   fastalloc in as the program's malloc. glibc routes its own internal allocations through these
   symbols too (its __libc_* names are provided for programs that call them directly), so a process
   must never mix fastalloc and glibc blocks: define this in one translation unit of the final binary.
   POSIX rules: posix_memalign returns the error instead of setting errno and leaves *out alone on
   failure; memalign rounds a non-power-of-two alignment up, as glibc does.
   ===================================================================================================== */
#ifdef FASTALLOC_OVERRIDE
#include <stdlib.h>
#if defined(__GLIBC__)
#  include <malloc.h>
#endif
/* glibc declares these noexcept in C++; a definition must say the same. */
#if defined(__cplusplus) && defined(__GLIBC__)
#  define FA__LIBC_NOEXCEPT noexcept
#else
#  define FA__LIBC_NOEXCEPT
#endif
#ifdef __cplusplus
extern "C" {
#endif
static size_t fa__round_pow2(size_t n) { return n <= 1 ? 1 : (size_t)1 << (fa__msb(n - 1) + 1); }
static void* fa__aligned_default(size_t size, size_t alignment) {
    return FA__ALLOCATED(fa__malloc_aligned(fa__tls_heap, size, alignment, false), size, NULL);
}

void* malloc(size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_fast(size, false), size, NULL)); }
void* calloc(size_t count, size_t size) FA__LIBC_NOEXCEPT {
    FA__SERIALIZED(void*, FA__ALLOCATED(fa__malloc_fast(fa__array_bytes(count, size), true), fa__array_bytes(count, size), NULL));
}
void* realloc(void* p, size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, fa__realloc_api(fa__tls_heap, p, size, 0, false)); }
void free(void* p) FA__LIBC_NOEXCEPT { FA__SERIALIZED_VOID(FA__FREEING(p); fa__free(p)); }
void cfree(void* p) FA__LIBC_NOEXCEPT { FA__SERIALIZED_VOID(FA__FREEING(p); fa__free(p)); }
size_t malloc_usable_size(void* p) FA__LIBC_NOEXCEPT { FA__SERIALIZED(size_t, fa__usable_size_open(p)); }
int malloc_trim(size_t pad) FA__LIBC_NOEXCEPT { (void)pad; FA__SERIALIZED_VOID(fa__collect(true)); return 1; }

void* reallocarray(void* p, size_t count, size_t size) FA__LIBC_NOEXCEPT {
    FA__SERIALIZED(void*, fa__realloc_any(fa__tls_heap, p, fa__array_bytes(count, size), 0, false));
}

void* aligned_alloc(size_t alignment, size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, fa__aligned_default(size, alignment)); }

static void* fa__memalign(size_t alignment, size_t size) {
    if (alignment > FA__PTRDIFF_MAX / 2 + 1) return fa__fail(FA__EINVAL);
    return fa__aligned_default(size, fa__round_pow2(alignment));
}
void* memalign(size_t alignment, size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, fa__memalign(alignment, size)); }

static int fa__posix_memalign(void** out, size_t alignment, size_t size) {
    if (!fa__is_pow2(alignment) || alignment % sizeof(void*) != 0) return FA__EINVAL;
    int saved = errno;
    void* p = fa__aligned_default(size, alignment);
    if (p == NULL) { errno = saved; return FA__ENOMEM; }
    *out = p;
    return 0;
}
int posix_memalign(void** out, size_t alignment, size_t size) FA__LIBC_NOEXCEPT {
    FA__SERIALIZED(int, fa__posix_memalign(out, alignment, size));
}

void* valloc(size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, fa__aligned_default(size, fa__os_page_size)); }

static void* fa__pvalloc(size_t size) {
    if (size > FA__PTRDIFF_MAX) return fa__fail(FA__ENOMEM);
    return fa__aligned_default(fa__align_up(size == 0 ? 1 : size, fa__os_page_size), fa__os_page_size);
}
void* pvalloc(size_t size) FA__LIBC_NOEXCEPT { FA__SERIALIZED(void*, fa__pvalloc(size)); }

#if defined(__GLIBC__)
void* __libc_malloc(size_t size) FA__LIBC_NOEXCEPT { return malloc(size); }
void* __libc_calloc(size_t count, size_t size) FA__LIBC_NOEXCEPT { return calloc(count, size); }
void* __libc_realloc(void* p, size_t size) FA__LIBC_NOEXCEPT { return realloc(p, size); }
void __libc_free(void* p) FA__LIBC_NOEXCEPT { free(p); }
void __libc_cfree(void* p) FA__LIBC_NOEXCEPT { free(p); }
void* __libc_memalign(size_t alignment, size_t size) FA__LIBC_NOEXCEPT { return memalign(alignment, size); }
void* __libc_valloc(size_t size) FA__LIBC_NOEXCEPT { return valloc(size); }
void* __libc_pvalloc(size_t size) FA__LIBC_NOEXCEPT { return pvalloc(size); }
int __posix_memalign(void** out, size_t alignment, size_t size) FA__LIBC_NOEXCEPT { return posix_memalign(out, alignment, size); }
#endif
#ifdef __cplusplus
} /* extern "C" */
#endif

#ifdef __cplusplus
#include <new>
/* operator new: retry through the new_handler, then throw, as the standard asks. */
static void* fa__new(size_t size, size_t alignment) {
    for (;;) {
        void* p = alignment <= 16 ? fa_malloc(size) : fa_malloc_aligned(size, alignment);
        if (p != NULL) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == NULL) throw std::bad_alloc();
        handler();
    }
}
static void* fa__new_nothrow(size_t size, size_t alignment) noexcept {
    try { return fa__new(size, alignment); } catch (...) { return NULL; }
}
void* operator new(size_t size) { return fa__new(size, 0); }
void* operator new[](size_t size) { return fa__new(size, 0); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return fa__new_nothrow(size, 0); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return fa__new_nothrow(size, 0); }
void operator delete(void* p) noexcept { fa_free(p); }
void operator delete[](void* p) noexcept { fa_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { fa_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { fa_free(p); }
#if __cplusplus >= 201402L
void operator delete(void* p, size_t) noexcept { fa_free(p); }
void operator delete[](void* p, size_t) noexcept { fa_free(p); }
#endif
#if __cplusplus >= 201703L
void* operator new(size_t size, std::align_val_t al) { return fa__new(size, (size_t)al); }
void* operator new[](size_t size, std::align_val_t al) { return fa__new(size, (size_t)al); }
void* operator new(size_t size, std::align_val_t al, const std::nothrow_t&) noexcept { return fa__new_nothrow(size, (size_t)al); }
void* operator new[](size_t size, std::align_val_t al, const std::nothrow_t&) noexcept { return fa__new_nothrow(size, (size_t)al); }
void operator delete(void* p, std::align_val_t) noexcept { fa_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { fa_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { fa_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { fa_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { fa_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { fa_free(p); }
#endif
#endif /* __cplusplus */
#endif /* FASTALLOC_OVERRIDE */


#endif /* FASTALLOC_IMPLEMENTATION_DONE */
#endif /* FASTALLOC_IMPLEMENTATION */

/*
------------------------------------------------------------------------------------------------------
This software is available under two licenses; choose whichever you prefer.
------------------------------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the fastalloc developers
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this software, either in
source code form or as a compiled binary, for any purpose, commercial or non-commercial, and by any
means.
In jurisdictions that recognize copyright laws, the author or authors of this software dedicate any
and all copyright interest in the software to the public domain. We make this dedication for the
benefit of the public at large and to the detriment of our heirs and successors. We intend this
dedication to be an overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------------------------------
*/
