// cxx_smoke.cpp — fastalloc.h compiled as C++ in MSVC mode (clang-cl /TP /W4 /WX), implementation
// included, and a few calls through the C API: built and run by tests/cross/run.sh clang-cl (no C++
// standard library is needed, so Wine's C headers are enough). The C suites cover the behaviour;
// this checks that the header is valid MSVC-mode C++ and links.
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "harness.h"

int main() {
    harness_section("C++ (MSVC mode)");
    void* p = fa_malloc(100);
    CHECK(p != nullptr);
    CHECK_GE_SZ(fa_usable_size(p), 100);
    CHECK_ALIGNED(p, 16);
    harness_fill(p, 100, 1);
    void* q = fa_realloc(p, 100000);
    CHECK(q != nullptr);
    if (q != nullptr) {
        CHECK(harness_verify(q, 100, 1) == HARNESS_OK);
        p = q;
    }
    fa_free(p);
    unsigned char* z = static_cast<unsigned char*>(fa_calloc(1000, 3));
    CHECK(z != nullptr);
    if (z != nullptr) CHECK(harness_first_nonzero(z, 3000) == HARNESS_OK);
    fa_free(z);
    void* a = fa_malloc_aligned(64, 4096);
    CHECK_ALIGNED(a, 4096);
    fa_free(a);
    fa_heap_t* h = fa_heap_new();
    CHECK(h != nullptr);
    if (h != nullptr) {
        for (int i = 0; i < 1000; i++) CHECK(fa_heap_malloc(h, 24 + static_cast<size_t>(i)) != nullptr);
        fa_heap_destroy(h);
    }
    return harness_finish();
}
