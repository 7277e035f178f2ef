/* Continue at the target in slot 0. */
OP { JUMP(0); }
