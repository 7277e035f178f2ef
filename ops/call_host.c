/* DST = the host function in slot 0 called with (r0, r1, r2, r3); the other
 * registers keep their values. */
OP {
    DST = ((cj_fn)(uintptr_t)IMM(0))(CJ_ARGS);
    NEXT();
}
