/* r3 -= 8, then the 8 bytes at r3 = SRC as it was before (so push r3
 * stores the old stack pointer). */
OP {
    reg_t value = SRC;
    r3 -= 8;
    *(cj_u64 *)CJ_ADDR(r3, 0) = value;
    NEXT();
}
