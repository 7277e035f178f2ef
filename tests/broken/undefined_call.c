/* An op that calls a function defined nowhere in the op: the link cannot
 * resolve it, and the build must say which op reaches outside itself. */
extern reg_t some_helper(reg_t);

OP {
    r0 = some_helper(r1);
    NEXT();
}
