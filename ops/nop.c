/* One machine no-op, used to pad so that slots land aligned. Extended asm
 * (with the colons): GCC treats a basic asm statement as touching memory and
 * on armv7 reloads and stores back the stack-passed registers around it. */
OP {
    __asm__ volatile(CJ_NOP_ASM : :);
    NEXT();
}
