//! Helpers shared by the integration tests: run a program as generated code
//! or in the interpreter, and observe all four registers through a host call.
//! (`tests/ops.rs` observes them through the core's self-test instead.)

#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use copyjit::{Assembler, Error, Insn, Interpreter};
use copyjit_linux::{CodeMemory, Linux};
use std::cell::{Cell, RefCell};

/// Label capacity used by the tests.
pub const LABELS: usize = 256;

thread_local! {
    static SEEN: Cell<[u64; 4]> = const { Cell::new([0; 4]) };
    static MEMORY: RefCell<Option<CodeMemory>> = const { RefCell::new(None) };
}

/// Records the four registers; generated code calls it to expose them.
pub extern "C" fn observe(r0: u64, r1: u64, r2: u64, r3: u64) -> u64 {
    SEEN.with(|s| s.set([r0, r1, r2, r3]));
    r0
}

/// The registers [`observe`] saw last, and forgets them.
pub fn take_observed() -> [u64; 4] {
    SEEN.with(|s| s.replace([0xdead; 4]))
}

/// Runs `program` as generated code in this thread's code memory (1 MiB,
/// reused: room for the longest differential programs, code blocks and data
/// blocks) and returns `R0`.
pub fn jit(program: &[Insn], args: [u64; 4]) -> Result<u64, Error> {
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        let memory = m.get_or_insert_with(|| CodeMemory::new(1 << 20).expect("mmap"));
        let mut asm: Assembler<LABELS> = Assembler::new(memory.as_mut_slice());
        asm.emit_all(program)?;
        let code = asm.finish()?.make_executable(&Linux).expect("mprotect");
        // SAFETY: test programs only touch memory the tests provide.
        Ok(unsafe { code.call(args) })
    })
}

/// Runs `program` in the interpreter and returns `R0`.
pub fn interp(program: &[Insn], args: [u64; 4]) -> Result<u64, Error> {
    interp_fueled(program, args, u64::MAX)
}

/// Runs `program` in the interpreter for at most `fuel` instructions and
/// returns `R0`, or [`Error::FuelExhausted`].
pub fn interp_fueled(program: &[Insn], args: [u64; 4], fuel: u64) -> Result<u64, Error> {
    let i: Interpreter<LABELS> = Interpreter::new(program)?;
    let limits = copyjit::Limits {
        fuel,
        ..copyjit::Limits::DEFAULT
    };
    let mut frames = [copyjit::Frame::EMPTY; copyjit::MAX_CALL_DEPTH];
    // SAFETY: test programs only touch memory the tests provide.
    unsafe { i.run_on(args, limits, &mut frames) }
}

/// Values that find edge cases, shared with the self-test.
#[allow(unused_imports, reason = "each test binary uses part of the helpers")]
pub use copyjit::selftest::EDGES;
