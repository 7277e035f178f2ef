//! Sums the first billion integers with generated code:
//!
//! ```text
//! R0 = 0, R1 = 0, R2 = 1, R3 = N
//! loop: R0 = R0 + R1; R1 = R1 + R2; if R1 < R3 goto loop
//! return R0
//! ```
//!
//! The loop is three ops. The constants live in registers: an op with an
//! immediate reads it from a slot inside the op and must jump over it, so
//! register operands keep the loop free of such jumps.
//!
//! `cargo run --release --example billion_sum [N]`

use copyjit::{Assembler, BinOp, Cond, Insn, Label, Reg};
use copyjit_linux::{CodeMemory, Linux};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1_000_000_000,
    };
    let top = Label(0);
    let program = [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R2,
            imm: 1,
        },
        Insn::MovImm {
            dst: Reg::R3,
            imm: n,
        },
        Insn::Bind(top),
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            rhs: Reg::R2,
        },
        Insn::Branch {
            cond: Cond::ULt,
            lhs: Reg::R1,
            rhs: Reg::R3,
            target: top,
        },
        Insn::Ret,
    ];

    let mut memory = CodeMemory::new(4096)?;
    let started = Instant::now();
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(&program)?;
    let code = asm.finish()?;
    let bytes = code.bytes().len();
    let code = code.make_executable(&Linux)?;
    let compiled = started.elapsed();

    let started = Instant::now();
    // SAFETY: the program touches no memory and calls nothing.
    let sum = unsafe { code.call([0; 4]) };
    let ran = started.elapsed();

    println!("{sum}");
    println!(
        "compiled {} instructions into {bytes} bytes in {compiled:?}; ran in {ran:?} ({:.2} ns per iteration; stencils: {} by {})",
        program.len(),
        ran.as_nanos() as f64 / n.max(1) as f64,
        copyjit::TARGET,
        copyjit::COMPILER,
    );
    Ok(())
}
