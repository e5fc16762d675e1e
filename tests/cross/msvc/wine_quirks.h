/* wine_quirks.h — force-included (/FI) into every clang-cl build of tests/cross/run.sh.
   Wine's winnt.h, seen by clang-cl (_MSC_VER and __clang__), defines InterlockedCompareExchange128
   as a static inline function spelled _InterlockedCompareExchange128, which clang reports as a
   redefinition of its builtin once <intrin.h> or C++ mode has declared it. The Windows SDK's winnt.h
   uses #pragma intrinsic instead, so real MSVC and clang-cl builds never meet this. Renaming Wine's
   definition keeps the builtin alone; nothing here calls it. */
#define _InterlockedCompareExchange128 fa_wine_InterlockedCompareExchange128
