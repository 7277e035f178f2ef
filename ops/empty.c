/* Nothing but the continuation: its bytes are the jump build.rs strips. */
OP { NEXT(); }
