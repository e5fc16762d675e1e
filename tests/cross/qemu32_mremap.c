/* qemu32_mremap.c — linked into the 32-bit qemu-user test builds (armhf) with -Wl,--wrap=mremap.

   QEMU 7.2's linux-user (Debian 12's qemu-user) mishandles an in-place mremap() that shrinks a
   mapping of a 32-bit guest on a 64-bit host: it re-reserves the released tail at the *old end*
   (old_address + old_size) instead of at the new end, which unmaps whatever the guest had mapped
   just past the old mapping (tests/cross/run.sh's report shows the 10-line reproducer). fastalloc
   shrinks huge blocks in place with mremap, so test_zero and test_heap crash there under
   qemu-arm without this shim, while the same code passes natively with gcc -m32.

   The shim does the shrink the way the kernel would: unmap the tail, keep the address. Every other
   mremap goes to the real one. On real hardware the result is the same. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

void* __real_mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...);
void* __wrap_mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...);

void* __wrap_mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...) {
    if ((flags & MREMAP_FIXED) == 0 && new_size != 0 && new_size < old_size) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t keep = (new_size + page - 1) & ~(page - 1);
        if (keep < old_size && munmap((char*)old_address + keep, old_size - keep) != 0) return MAP_FAILED;
        return old_address;
    }
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        void* target = va_arg(ap, void*);
        va_end(ap);
        return __real_mremap(old_address, old_size, new_size, flags, target);
    }
    return __real_mremap(old_address, old_size, new_size, flags);
}
