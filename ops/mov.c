/* DST = SRC */
OP { DST = SRC; NEXT(); }
