//! Generated code that reads and writes memory and calls back into Rust:
//! the sum of the squares of an array, each square computed by a host
//! function, the sum stored to memory. The same program runs as generated
//! code and in the interpreter, and both must agree.
//!
//! ```text
//! R0 = 0                              ; the sum
//! loop: if R1 >= R2 goto done         ; R1 walks the array up to R2
//!       R3 = load.u64 [R1]
//!       R3 = call_host square          ; square(R0, R1, R2, R3) = R3 * R3
//!       R0 = R0 + R3
//!       R1 = R1 + 8
//!       goto loop
//! done: R1 = &out; store.u64 R0, [R1]; return R0
//! ```
//!
//! `cargo run --release --example memory_and_host_calls`

use copyjit::{Assembler, BinOp, Cond, Insn, Interpreter, Label, Load, Reg, Width};
use copyjit_linux::{CodeMemory, Linux};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many times generated code called [`square`].
static CALLS: AtomicU64 = AtomicU64::new(0);

/// A host function: it receives all four registers and returns the value
/// for its destination register.
extern "C" fn square(_r0: u64, _r1: u64, _r2: u64, x: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    x.wrapping_mul(x)
}

fn program(out: *mut u64) -> Vec<Insn> {
    let (top, done) = (Label(0), Label(1));
    vec![
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::Branch {
            cond: Cond::UGe,
            lhs: Reg::R1,
            rhs: Reg::R2,
            target: done,
        },
        Insn::Load {
            kind: Load::U64,
            dst: Reg::R3,
            base: Reg::R1,
            offset: 0,
        },
        Insn::CallHost {
            dst: Reg::R3,
            func: square,
        },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R3,
        },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 8,
        },
        Insn::Jump { target: top },
        Insn::Bind(done),
        Insn::MovImm {
            dst: Reg::R1,
            imm: out as u64,
        },
        Insn::Store {
            width: Width::W64,
            src: Reg::R0,
            base: Reg::R1,
            offset: 0,
        },
        Insn::Ret,
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let numbers: Vec<u64> = (1..=1000).collect();
    let expected: u64 = numbers.iter().map(|x| x * x).sum();
    let range = numbers.as_ptr_range();
    let args = [0, range.start as u64, range.end as u64, 0];

    let mut out = 0u64;
    let program = program(&mut out);

    let mut memory = CodeMemory::new(4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(&program)?;
    let code = asm.finish()?.make_executable(&Linux)?;
    // SAFETY: the program reads `numbers` between the two pointers it is
    // given, writes `out`, and calls `square`, which is safe for any input.
    let jit = unsafe { code.call(args) };
    let jit_out = out;
    let jit_calls = CALLS.swap(0, Ordering::Relaxed);

    out = 0;
    let interpreter: Interpreter = Interpreter::new(&program)?;
    // SAFETY: as above.
    let interpreted = unsafe { interpreter.run(args) }?;
    let interpreted_calls = CALLS.load(Ordering::Relaxed);

    println!(
        "sum of squares of 1..=1000: generated code {jit} (stored {jit_out}, {jit_calls} host calls)"
    );
    println!(
        "                            interpreter    {interpreted} (stored {out}, {interpreted_calls} host calls)"
    );
    assert_eq!((jit, jit_out, jit_calls), (expected, expected, 1000));
    assert_eq!(
        (interpreted, out, interpreted_calls),
        (expected, expected, 1000)
    );
    Ok(())
}
