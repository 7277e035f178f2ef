/* A self-contained op with a dense switch: built with -fno-jump-tables it
 * becomes compares and branches inside the op, with no table in .rodata,
 * so the build must accept it. */
OP {
    switch (r1 & 7) {
    case 0: r0 = r2 + r3; break;
    case 1: r0 = r2 - r3; break;
    case 2: r0 = r2 * r3; break;
    case 3: r0 = r2 & r3; break;
    case 4: r0 = r2 | r3; break;
    case 5: r0 = r2 ^ r3; break;
    case 6: r0 = r2 << (r3 & 63); break;
    default: r0 = r2 >> (r3 & 63); break;
    }
    NEXT();
}
