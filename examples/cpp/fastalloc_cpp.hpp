/* =====================================================================================================
   >>cpp  C++: namespace fa                (C++11; the std::pmr resources from C++17 with <memory_resource>)
   For fastalloc.h, after the C declarations, inside #ifdef __cplusplus, outside extern "C". Until it
   is pasted there it lives in examples/cpp/fastalloc_cpp.hpp: include "fastalloc.h" first, then it.
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
