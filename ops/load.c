/* DST = memory of TYPE at BASE + slot 0, zero- or sign-extended by TYPE
 * (TYPE_load in semantics.h; the big-endian types at any alignment). */
OP {
    DST = CJ_CAT(TYPE, _load)(CJ_ADDR(BASE, IMM(0)));
    NEXT();
}
