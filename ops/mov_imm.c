/* DST = slot 0 */
OP { DST = IMM(0); NEXT(); }
