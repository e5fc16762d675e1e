// cpp_user.cpp — uses fastalloc from C++ through the header alone; the implementation comes from
// cpp_impl.cpp. Checks that the declarations have C linkage and work from C++ code and threads.
#include "fastalloc.h"
#include "harness.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Block {
    char* p;
    std::size_t n;
};

void test_malloc_free() {
    harness_section("c++ malloc/free");
    std::vector<Block> blocks;
    for (std::size_t n = 0; n < 70000; n = n * 3 / 2 + 1) {
        char* p = static_cast<char*>(fa_malloc(n));
        CHECK(p != nullptr);
        if (!p) continue;
        CHECK_GE_SZ(fa_usable_size(p), n);
        CHECK_ALIGNED(p, harness_min_align(n));
        harness_fill(p, n, n);
        blocks.push_back(Block{p, n});
    }
    std::size_t bad = 0;
    for (const Block& b : blocks)
        if (harness_verify(b.p, b.n, b.n) != HARNESS_OK) bad++;
    CHECK_EQ_SZ(bad, 0);
    for (const Block& b : blocks) fa_free(b.p);
    fa_free(nullptr);
    CHECK_EQ_SZ(fa_usable_size(nullptr), 0);
}

void test_realloc_calloc() {
    harness_section("c++ realloc/calloc");
    char* p = static_cast<char*>(fa_realloc(nullptr, 10));
    CHECK(p != nullptr);
    if (!p) return;
    harness_fill(p, 10, 1);
    for (std::size_t n = 20; n <= 5u << 20; n *= 4) {
        char* q = static_cast<char*>(fa_realloc(p, n));
        CHECK(q != nullptr);
        if (!q) break;
        CHECK(harness_verify(q, n / 4 < 10 ? 10 : n / 4, 1) == HARNESS_OK);
        harness_fill(q, n, 1);
        p = q;
    }
    fa_free(p);

    std::uint32_t* a = static_cast<std::uint32_t*>(fa_calloc(1000, sizeof(std::uint32_t)));
    CHECK(a != nullptr);
    if (a) {
        bool zero = true;
        for (int i = 0; i < 1000; i++) zero = zero && a[i] == 0;
        CHECK(zero);
        fa_free(a);
    }
    errno = 0;
    void* o = fa_calloc(SIZE_MAX / 2 + 2, 2);
    CHECK_NULL_ERRNO(o, ENOMEM);
}

void test_strdup() {
    harness_section("c++ strdup");
    std::string s(1000, 'x');
    s += "end";
    char* d = fa_strdup(s.c_str());
    CHECK(d != nullptr);
    if (d) {
        CHECK(s == d);
        fa_free(d);
    }
    d = fa_strndup("abcdef", 3);
    CHECK(d != nullptr);
    if (d) {
        CHECK(std::strcmp(d, "abc") == 0);
        fa_free(d);
    }
    errno = 0;
    d = fa_strdup(nullptr);
    CHECK_NULL_ERRNO(d, EINVAL);
}

void test_threads() {
    harness_section("c++ threads");
    std::vector<Block> made(200);
    std::thread t([&made] {
        for (std::size_t i = 0; i < made.size(); i++) {
            std::size_t n = i * 97 % 5000;
            made[i].p = static_cast<char*>(fa_malloc(n));
            made[i].n = n;
            if (made[i].p) harness_fill(made[i].p, n, i);
        }
    });
    t.join();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < made.size(); i++) {
        if (!made[i].p || harness_verify(made[i].p, made[i].n, i) != HARNESS_OK) bad++;
        fa_free(made[i].p);
    }
    CHECK_EQ_SZ(bad, 0);
    fa_collect(true);
    fa_stats_t st;
    fa_stats_get(&st);
    CHECK(st.os_map_calls >= 1);
    CHECK_GE_SZ(st.mapped_peak, st.mapped_bytes);
}

}  // namespace

int main() {
    test_malloc_free();
    test_realloc_calloc();
    test_strdup();
    test_threads();
    return harness_finish();
}
