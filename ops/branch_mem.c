/* if CMP(the 64-bit word at BASE + slot 0, slot 1), continue at the target
 * in slot 2. */
OP {
    if (CMP(cj_u64_load(CJ_ADDR(BASE, IMM(0))), IMM(1)))
        JUMP(2);
    NEXT();
}
