// examples/cpp/cpp_bench.cpp: per-frame std::pmr containers on four memory resources.
//   cpp_bench monotonic|heap|arena|newdelete [FRAMES]
// A frame fills a pmr::vector<pmr::string>, a pmr::unordered_map<int, pmr::string> and a
// pmr::vector<int> one element at a time, reads them, destroys them, then ends:
//   monotonic  std::pmr::monotonic_buffer_resource (1 MiB first buffer), release() per frame
//   heap       fa::heap_resource over a fa::heap: every deallocate frees, reset() per frame
//   arena      fa::arena_resource, 1 MiB chunks from the thread heap, release() per frame
//   newdelete  std::pmr::new_delete_resource(): every deallocate frees (glibc)
// Prints a checksum that is the same for every resource, and the peak RSS on stderr.
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "fastalloc_cpp.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <memory_resource>
#include <string>
#include <sys/resource.h>
#include <unordered_map>
#include <vector>

static std::uint64_t frame(std::pmr::memory_resource* r, int f) {
    std::pmr::vector<std::pmr::string> names(r);
    std::pmr::unordered_map<int, std::pmr::string> index(r);
    std::pmr::vector<int> numbers(r);
    for (int i = 0; i < 2000; i++) {
        names.emplace_back(static_cast<std::size_t>(24 + (i * 7 + f) % 80), char('a' + i % 26));
        numbers.push_back(i * f);
        if (i % 2 == 0) index.emplace(i, names.back());
    }
    std::uint64_t sum = 0;
    for (const auto& kv : index) sum += kv.second.size() + static_cast<unsigned char>(kv.second[0]);
    return sum + names[static_cast<std::size_t>(f % 2000)].size() + static_cast<std::uint64_t>(numbers.back());
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
    int frames = argc > 2 ? std::atoi(argv[2]) : 1000;
    std::uint64_t sum = 0;
    auto run = [&](std::pmr::memory_resource* r, const std::function<void()>& end_frame) {
        for (int f = 0; f < frames; f++) {
            sum += frame(r, f);
            end_frame();
        }
    };
    if (std::strcmp(mode, "monotonic") == 0) {
        std::pmr::monotonic_buffer_resource r(1 << 20);
        run(&r, [&] { r.release(); });
    } else if (std::strcmp(mode, "heap") == 0) {
        fa::heap h;
        fa::heap_resource r(h);
        run(&r, [&] { h.reset(); });
    } else if (std::strcmp(mode, "arena") == 0) {
        fa::arena_resource r(nullptr, 1 << 20);
        run(&r, [&] { r.release(); });
    } else if (std::strcmp(mode, "newdelete") == 0) {
        run(std::pmr::new_delete_resource(), [] {});
    } else {
        std::fprintf(stderr, "usage: %s monotonic|heap|arena|newdelete [FRAMES]\n", argv[0]);
        return 2;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf("%d frames, checksum %llu\n", frames, static_cast<unsigned long long>(sum));
    std::fprintf(stderr, "peak RSS %ld KiB\n", ru.ru_maxrss);
    return 0;
}
