/* An op that is NOT self-contained: it keeps a running total in a global
 * variable (.bss), outside its own bytes. */
static reg_t total;

OP {
    total += r1;
    r0 = total;
    NEXT();
}
