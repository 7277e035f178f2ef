/* DST = OPFN(LHS, slot 0): an ALU operation with a 64-bit immediate. */
OP { DST = OPFN(LHS, IMM(0)); NEXT(); }
