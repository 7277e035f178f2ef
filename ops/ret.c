/* Return r0 to whoever called this generated function. */
OP { return r0; }
