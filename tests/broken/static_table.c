/* An op that is NOT self-contained: it reads a table in .rodata, outside
 * its own bytes. `.ci/broken-op` builds the crate with this file as an
 * extra op (COPYJIT_EXTRA_OP) and expects the build to fail naming it. */
static const reg_t table[4] = {0x1111, 0x2222, 0x3333, 0x4444};

OP {
    r0 = table[r1 & 3];
    NEXT();
}
