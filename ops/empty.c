/* Nothing but the continuation: its bytes are the jump build.rs strips. */
OP_THROUGH { NEXT_THROUGH(); }
