/* DST = OPFN(LHS, RHS): an ALU operation on three registers. */
OP { DST = OPFN(LHS, RHS); NEXT(); }
