/* if CMP(LHS, slot 0), continue at the target in slot 1. */
OP {
    if (CMP(LHS, IMM(0)))
        JUMP(1);
    NEXT();
}
