// cpp_impl.cpp — compiles the fastalloc implementation as C++ (linked with cpp_user.cpp).
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
