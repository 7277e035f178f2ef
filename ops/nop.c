/* One machine no-op, used to pad so that slots land aligned. */
OP {
    __asm__ volatile(CJ_NOP_ASM);
    NEXT();
}
