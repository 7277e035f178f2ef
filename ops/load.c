/* DST = memory of TYPE at BASE + slot 0, zero- or sign-extended by TYPE. */
OP {
    DST = (reg_t)(int64_t)*(const TYPE *)CJ_ADDR(BASE, IMM(0));
    NEXT();
}
