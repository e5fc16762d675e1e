/* fastalloc_cpp.hpp — the C++ section (namespace fa: heap, allocator<T>, heap_resource,
   arena_resource) now lives in fastalloc.h itself, compiled for every C++ includer; this file stays
   so that code written against the earlier example keeps building. */
#include "fastalloc.h"
