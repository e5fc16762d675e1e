/* libfastalloc: fastalloc as the process allocator (make lib; LD_PRELOAD=build/lib/libfastalloc.so). */
#define FASTALLOC_IMPLEMENTATION
#define FASTALLOC_OVERRIDE
#include "../../fastalloc.h"
