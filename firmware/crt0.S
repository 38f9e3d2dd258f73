/* Minimal start-up for the Caravel management core (VexRiscv, RV32I): stack, gp, .data copy, .bss clear,
 * main(), then park.  No interrupts are enabled here (the example polls ISR). */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la   gp, __global_pointer$
    .option pop
    la   sp, _stack_top
    la   a0, _sidata
    la   a1, _sdata
    la   a2, _edata
1:  bgeu a1, a2, 2f
    lw   t0, 0(a0)
    sw   t0, 0(a1)
    addi a0, a0, 4
    addi a1, a1, 4
    j    1b
2:  la   a1, _sbss
    la   a2, _ebss
3:  bgeu a1, a2, 4f
    sw   zero, 0(a1)
    addi a1, a1, 4
    j    3b
4:  call main
5:  j    5b
