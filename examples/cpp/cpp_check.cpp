// examples/cpp/cpp_check.cpp: fa::allocator<T>, fa::heap_resource and fa::arena_resource with the
// standard containers, std::allocate_shared and threads. Self-checking; ends "N passed, N failed".
// Build: c++ -std=c++17 -O2 -pthread -I. -Iexamples/cpp examples/cpp/cpp_check.cpp
// (-std=c++11 and c++14 check the allocator alone: the std::pmr resources need C++17)
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include "fastalloc_cpp.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

static int passed, failed;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                        \
    } while (0)

template <class T>
using fa_vector = std::vector<T, fa::allocator<T>>;
using fa_string = std::basic_string<char, std::char_traits<char>, fa::allocator<char>>;
template <class K, class V>
using fa_map = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>, fa::allocator<std::pair<const K, V>>>;

static bool aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

struct Widget {
    static int alive;
    int a, b;
    Widget(int x, int y) : a(x), b(y) { alive++; }
    ~Widget() { alive--; }
};
int Widget::alive = 0;

struct alignas(64) Line {
    char bytes[64];
};

static void allocator_traits_and_equality(fa::heap& h1, fa::heap& h2) {
    using traits = std::allocator_traits<fa::allocator<int>>;
    static_assert(std::is_same<traits::rebind_alloc<double>, fa::allocator<double>>::value, "rebind");
    static_assert(traits::propagate_on_container_move_assignment::value, "moves with the memory");
    static_assert(traits::propagate_on_container_swap::value, "swaps with the memory");
    static_assert(!traits::propagate_on_container_copy_assignment::value, "a copy goes to its own heap");
    static_assert(!traits::is_always_equal::value, "equal only on the same heap");
    fa::allocator<int> a(h1), b(h1.get()), c(h2), global;
    fa::allocator<double> rebound(a);
    CHECK(a == b);
    CHECK(a != c);
    CHECK(a != global);
    CHECK(rebound == a);
    CHECK(fa::allocator<int>(rebound) == a);
    CHECK(global == fa::allocator<char>());
    bool threw = false;
    try {
        (void)a.allocate(static_cast<std::size_t>(-1) / 2);
    } catch (const std::bad_array_new_length&) {
        threw = true;
    }
    CHECK(threw);
}

static void vector_and_map(fa::heap& h1, fa::heap& h2) {
    fa::allocator<int> alloc1(h1), alloc2(h2);
    fa_vector<int> v(alloc1);
    long long sum = 0;
    for (int i = 0; i < 100000; i++) {
        v.push_back(i);
        sum += i;
    }
    long long got = 0;
    for (int x : v) got += x;
    CHECK(got == sum);
    CHECK(fa_heap_usable_size(h1.get(), v.data()) >= v.capacity() * sizeof(int));

    // Move assignment takes the memory and the allocator; copy assignment keeps its own heap.
    const int* data = v.data();
    fa_vector<int> moved(alloc2);
    moved = std::move(v);
    CHECK(moved.data() == data);
    CHECK(moved.get_allocator() == alloc1);
    fa_vector<int> copied(alloc2);
    copied = moved;
    CHECK(copied.get_allocator() == alloc2);
    CHECK(copied.data() != moved.data() && copied == moved);
    fa_vector<int> other(3, 7, alloc2);
    other.swap(copied);
    CHECK(other.get_allocator() == alloc2 && other.size() == 100000 && copied.size() == 3);

    // A map of strings, every node, bucket array and character in the heap.
    fa_map<int, fa_string> map(16, std::hash<int>(), std::equal_to<int>(), fa::allocator<std::pair<const int, fa_string>>(h1));
    for (int i = 0; i < 20000; i++) {
        fa_string s{fa::allocator<char>(h1)};
        s = "value number ";
        s += std::to_string(i).c_str();
        s.append(static_cast<std::size_t>(i % 40), '*');
        map.emplace(i, std::move(s));
    }
    std::size_t bad = 0;
    for (int i = 0; i < 20000; i++) {
        auto it = map.find(i);
        std::string want = "value number " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), '*');
        if (it == map.end() || it->second.c_str() != want) bad++;
    }
    CHECK(map.size() == 20000 && bad == 0);
    CHECK(map.get_allocator().get_heap() == h1.get());

    // Over-aligned elements.
    fa_vector<Line> lines(alloc1);
    lines.resize(33);
    CHECK(aligned(lines.data(), 64));
}

static void shared_ptr_and_threads(fa::heap& h1) {
    {
        std::shared_ptr<Widget> w = std::allocate_shared<Widget>(fa::allocator<Widget>(h1), 3, 4);
        CHECK(w->a == 3 && w->b == 4 && Widget::alive == 1);
        std::shared_ptr<Widget> w2 = w;
        CHECK(w.use_count() == 2);
        std::thread([](std::shared_ptr<Widget> mine) { mine.reset(); }, std::move(w2)).join();   // dropped elsewhere
        CHECK(w.use_count() == 1);
    }
    CHECK(Widget::alive == 0);

    // Blocks of a heap may be freed on any thread: a vector made here, destroyed over there.
    fa_vector<int> v(1000, 5, fa::allocator<int>(h1));
    std::thread([](fa_vector<int> mine) { (void)mine; }, std::move(v)).join();

    // Without a heap the allocator is fastalloc's thread heaps: any thread allocates.
    long long total = 0, want = 0;
    std::vector<std::thread> threads;
    std::vector<long long> sums(2);
    for (int t = 0; t < 2; t++)
        threads.emplace_back([t, &sums] {
            fa_vector<fa_string> words;
            for (int i = 0; i < 5000; i++) words.emplace_back(std::to_string(i * (t + 1)).c_str());
            for (const fa_string& w : words) sums[static_cast<std::size_t>(t)] += static_cast<long long>(w.size());
        });
    for (std::thread& t : threads) t.join();
    for (long long s : sums) total += s;
    for (int i = 0; i < 5000; i++) want += static_cast<long long>(std::to_string(i).size() + std::to_string(2 * i).size());
    CHECK(total == want);
}

#ifdef FASTALLOC_CPP_PMR
static void pmr_heap(fa::heap& h1) {
    fa::heap_resource res(h1);
    {
        std::pmr::vector<std::pmr::string> strings(&res);
        std::pmr::unordered_map<int, std::pmr::string> map(&res);
        for (int i = 0; i < 10000; i++) {
            strings.emplace_back(std::string(static_cast<std::size_t>(20 + i % 50), char('a' + i % 26)));
            map.emplace(i, strings.back());
        }
        std::size_t bad = 0;
        for (int i = 0; i < 10000; i++) {
            const std::pmr::string& s = map.at(i);
            if (s.size() != static_cast<std::size_t>(20 + i % 50) || s[0] != char('a' + i % 26) || s != strings[static_cast<std::size_t>(i)]) bad++;
        }
        CHECK(bad == 0);
        CHECK(strings[7].get_allocator().resource() == &res);    // the elements use it too
        CHECK(map.at(7).get_allocator().resource() == &res);
        CHECK(fa_heap_usable_size(h1.get(), strings[9999].data()) >= strings[9999].size());
    }
    void* big = res.allocate(1000, 256);
    CHECK(big != nullptr && aligned(big, 256));
    res.deallocate(big, 1000, 256);
    fa::heap_resource other(h1);
    CHECK(res == res && !(res == other));
    res.release();                                          // fa_heap_reset: the next round starts empty
    std::pmr::vector<int> again({1, 2, 3}, &res);
    CHECK(again.size() == 3 && again[2] == 3);

    fa::heap_resource shared;                               // the thread heaps: usable from any thread
    std::pmr::vector<int> made_here({4, 5, 6}, &shared);
    std::thread([&shared] {
        std::pmr::vector<int> made_there(1000, 1, &shared);
        CHECK(made_there.size() == 1000);
    }).join();
    CHECK(made_here[1] == 5);
}

static void pmr_arena(fa::heap& h1) {
    fa::arena_resource arena(h1.get(), 4096);               // chunks of 4 KiB from h1: many chunks
    {
        std::pmr::vector<std::pmr::string> strings(&arena);
        for (int i = 0; i < 3000; i++) strings.emplace_back(std::string(static_cast<std::size_t>(30 + i % 70), 'x'));
        std::size_t bytes = 0, want = 0;
        for (const auto& s : strings) bytes += s.size();
        for (int i = 0; i < 3000; i++) want += static_cast<std::size_t>(30 + i % 70);
        CHECK(bytes == want);
        CHECK(strings[100].get_allocator().resource() == &arena);
        void* over = arena.allocate(10, 128);
        CHECK(aligned(over, 128));
    }
    CHECK(fa_arena_used(arena.get_arena()) > 3000 * 30);
    arena.release();
    CHECK(fa_arena_used(arena.get_arena()) == 0);

    alignas(16) static unsigned char buffer[4096];          // a fixed arena: full means bad_alloc
    fa::arena_resource fixed(fa_arena_init(buffer, sizeof buffer));
    bool threw = false;
    try {
        std::pmr::vector<char> v(&fixed);
        for (int i = 0; i < 100000; i++) v.push_back('z');
    } catch (const std::bad_alloc&) {
        threw = true;
    }
    CHECK(threw);
    fixed.release();
    std::pmr::vector<char> small(100, 'q', &fixed);
    CHECK(small.size() == 100);
}
#endif

int main() {
    {
        fa::heap h1, h2;
        allocator_traits_and_equality(h1, h2);
        vector_and_map(h1, h2);
        shared_ptr_and_threads(h1);
#ifdef FASTALLOC_CPP_PMR
        pmr_heap(h1);
        pmr_arena(h2);
#endif
        fa::heap moved_to(std::move(h2));
        CHECK(h2.get() == nullptr && moved_to.get() != nullptr);
        CHECK(fa_heap_check(h1.get()) && fa_heap_check(moved_to.get()));
    }   // both heaps destroyed here, with whatever the checks left in them
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
