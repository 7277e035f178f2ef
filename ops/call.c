/* r0 = the generated function at the target in slot 0 called with
 * (r0, r1, r2, r3); r1, r2 and r3 keep their values. */
OP {
    r0 = TARGET(0)(CJ_ARGS);
    NEXT();
}
