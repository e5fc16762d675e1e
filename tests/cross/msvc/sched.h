/* sched.h for the clang-cl (MSVC-mode) test builds: sched_yield over SwitchToThread. */
#ifndef FA_TEST_MSVC_SCHED_H
#define FA_TEST_MSVC_SCHED_H
#include <windows.h>
static __inline int sched_yield(void) { SwitchToThread(); return 0; }
#endif
