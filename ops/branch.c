/* if CMP(LHS, RHS), continue at the target in slot 0. */
OP {
    if (CMP(LHS, RHS))
        JUMP(0);
    NEXT();
}
