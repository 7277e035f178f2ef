/*
 * DST = OPFN(LHS, RHS) for any registers: one op for every register form of
 * an operation, which finds the registers' numbers (0 to 3) in slot REGS,
 * the destination's at bit DST_AT and the left operand's at LHS_AT
 * (src/variant.rs, REG_FIELDS). RHS is REG(the right operand's bit) or a
 * slot (IMM(0)). The registers go through an array on the stack: for the
 * operations built this way (64-bit division where pointers are 32 bits, a
 * loop of 64 steps) that costs nothing measurable, and it saves a copy of
 * the loop per register form.
 */
#define REG(at) regs[(which >> (at)) & 3]
OP {
    reg_t regs[4] = {CJ_ARGS};
    reg_t which = IMM(REGS);
    REG(DST_AT) = OPFN(REG(LHS_AT), RHS);
    r0 = regs[0];
    r1 = regs[1];
    r2 = regs[2];
    r3 = regs[3];
    NEXT();
}
#undef REG
