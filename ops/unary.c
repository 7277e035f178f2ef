/* DST = OPFN(SRC) */
OP { DST = OPFN(SRC); NEXT(); }
