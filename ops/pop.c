/* DST = the 8 bytes at r3, then r3 += 8 (pop r3 just loads r3). */
OP {
    reg_t value = *(const cj_u64 *)CJ_ADDR(r3, 0);
    r3 += 8;
    DST = value;
    NEXT();
}
