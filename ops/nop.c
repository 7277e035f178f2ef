/* One machine no-op, used to pad so that slots land aligned. */
OP_THROUGH {
    __asm__ volatile(CJ_NOP_ASM);
    NEXT_THROUGH();
}
