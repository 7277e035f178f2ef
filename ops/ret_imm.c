/* r0 = slot 0, returned to whoever called this generated function. */
OP { return IMM(0); }
