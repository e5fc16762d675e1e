/* startup.c — bare-metal start for the test images on QEMU's mps2-an386 (Cortex-M4): a vector
   table, a reset handler that clears .bss, opens semihosting (printf and exit go to the host),
   runs constructors (tests/harness.h sets up its region in one) and main; a fault reports itself
   and exits non-zero instead of hanging the emulator. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t __stack_top, __bss_start__, __bss_end__;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void _init(void) {}
void _fini(void) {}

void Reset_Handler(void) {
    for (uint32_t* p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

void Fault_Handler(void) {
    printf("embedded: CPU fault\n");
    exit(99);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,  /* NMI .. usage fault */
};
