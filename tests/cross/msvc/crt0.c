/* crt0.c — the part of the Microsoft C runtime's startup that a clang-cl (MSVC-mode) test program
   needs, for linking with lld-link against Wine's import libraries (Debian has no MSVC runtime):
   runs the C/C++ initializers (.CRT$XC*: __attribute__((constructor)), C++ static constructors),
   provides the static TLS directory (_Thread_local / __declspec(thread)) and _fltused, gets argc/argv
   from the Universal CRT (ucrtbase.dll, which Wine's headers target in MSVC mode) and calls main. Compiled with clang-cl /Zl /GS-, linked with /entry:mainCRTStartup.
   Written for tests/cross/run.sh (target clang-cl); a real MSVC build uses Microsoft's CRT instead. */
#include <corecrt_startup.h>
#include <stdlib.h>
#include <windows.h>

typedef void(__cdecl* crt_init_fn)(void);
typedef int(__cdecl* crt_init_int_fn)(void);

/* Initializer tables: the linker sorts .CRT$X?? sections by name, so what the compiler puts in
   .CRT$XCU / .CRT$XIU lies between these markers. */
#pragma section(".CRT$XCA", long, read)
#pragma section(".CRT$XCZ", long, read)
#pragma section(".CRT$XIA", long, read)
#pragma section(".CRT$XIZ", long, read)
__declspec(allocate(".CRT$XCA")) const crt_init_fn crt0_xc_a = NULL;
__declspec(allocate(".CRT$XCZ")) const crt_init_fn crt0_xc_z = NULL;
__declspec(allocate(".CRT$XIA")) const crt_init_int_fn crt0_xi_a = NULL;
__declspec(allocate(".CRT$XIZ")) const crt_init_int_fn crt0_xi_z = NULL;

/* Static TLS: the template runs from _tls_start to _tls_end (.tls$ sections sort the same way);
   the loader finds _tls_used through the PE header, which lld-link fills in. */
ULONG _tls_index = 0;
#pragma data_seg(".tls")
char _tls_start = 0;
#pragma data_seg(".tls$ZZZ")
char _tls_end = 0;
#pragma data_seg()
#pragma section(".CRT$XLA", long, read)
#pragma section(".CRT$XLZ", long, read)
__declspec(allocate(".CRT$XLA")) const PIMAGE_TLS_CALLBACK crt0_xl_a = NULL;
__declspec(allocate(".CRT$XLZ")) const PIMAGE_TLS_CALLBACK crt0_xl_z = NULL;
const IMAGE_TLS_DIRECTORY _tls_used = {
    (ULONG_PTR)&_tls_start, (ULONG_PTR)&_tls_end, (ULONG_PTR)&_tls_index, (ULONG_PTR)(&crt0_xl_a + 1), 0, 0,
};

int _fltused = 0x9875;

int __cdecl main(int argc, char** argv);

/* Walks a table between two markers; the linker may pad between contributions with zeros. The
   markers' addresses go through volatile so the compiler cannot assume they are unrelated. */
static void crt0_run_void(const crt_init_fn* volatile from, const crt_init_fn* volatile to) {
    for (const crt_init_fn* f = from + 1; f < to; f++)
        if (*f != NULL) (*f)();
}
static int crt0_run_int(const crt_init_int_fn* volatile from, const crt_init_int_fn* volatile to) {
    for (const crt_init_int_fn* f = from + 1; f < to; f++)
        if (*f != NULL && (*f)() != 0) return 1;
    return 0;
}

void __cdecl mainCRTStartup(void) {
    _set_app_type(_crt_console_app);
    if (_configure_narrow_argv(_crt_argv_unexpanded_arguments) != 0 || _initialize_narrow_environment() != 0) exit(255);
    if (crt0_run_int(&crt0_xi_a, &crt0_xi_z) != 0) exit(255);
    crt0_run_void(&crt0_xc_a, &crt0_xc_z);
    exit(main(*__p___argc(), *__p___argv()));
}
