/* An op that calls its continuation instead of jumping to it: the rest of
 * the program would run as a nested call, one native stack frame deeper for
 * every op executed, until a long loop overflows the stack. */
OP {
    reg_t t = CJ_NEXT_SYM(CJ_ARGS); /* not a tail call */
    return t + 1;
}
