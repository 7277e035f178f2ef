//! Sums the first billion integers with generated code:
//!
//! ```text
//! R0 = 0, R1 = 0, R2 = 1, R3 = N
//! loop: R0 = R0 + R1; R1 = R1 + R2; if R1 < R3 goto loop
//! return R0
//! ```
//!
//! The loop is three ops, its constants in registers; its only data slot is
//! the branch's target, in the data block beside the code.
//!
//! `cargo run --release --example billion_sum [N]`
//!
//! With `COPYJIT_PERF_MAP=1` it names its code `billion_sum` in the
//! process's perf map (`/tmp/perf-<pid>.map`), so that `perf report` shows
//! the time spent in it:
//!
//! ```text
//! COPYJIT_PERF_MAP=1 perf record -e cpu-clock -o /tmp/perf.data \
//!     target/release/examples/billion_sum
//! perf report -i /tmp/perf.data --stdio
//! ```

use copyjit::{Assembler, BinOp, Cond, Insn, Label, Reg};
use copyjit_linux::{CodeMemory, Linux, PerfMap};
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
    if std::env::var_os("COPYJIT_PERF_MAP").is_some() {
        PerfMap::open()?.register(code.bytes(), "billion_sum")?;
    }

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
