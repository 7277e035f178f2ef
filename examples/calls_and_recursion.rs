//! Calls between generated functions: a recursive Fibonacci that keeps its
//! intermediate result on a stack of its own (`R3` is the stack pointer).
//!
//! ```text
//! main: call fib; return                     ; R1 = n, R3 = top of the stack
//! fib:  if R1 < 2 goto base
//!       R1 = R1 - 1; call fib               ; R0 = fib(n - 1); calls keep R1-R3
//!       push R0
//!       R1 = R1 - 1; call fib               ; R0 = fib(n - 2)
//!       pop R2; R0 = R0 + R2; return
//! base: R0 = R1; return
//! ```
//!
//! Generated code recurses on the native stack, one frame per call. The
//! interpreter recurses on a call stack of fixed size instead, so a program
//! that recurses forever stops with an error there, within the limits the
//! caller chooses.
//!
//! `cargo run --release --example calls_and_recursion`

use copyjit::{Assembler, BinOp, Cond, Error, Frame, Insn, Interpreter, Label, Limits, Reg};
use copyjit_linux::{CodeMemory, Linux};

fn fib_program() -> Vec<Insn> {
    let (fib, base) = (Label(0), Label(1));
    let dec = Insn::BinImm {
        op: BinOp::Sub,
        dst: Reg::R1,
        lhs: Reg::R1,
        imm: 1,
    };
    vec![
        Insn::Call { target: fib },
        Insn::Ret,
        Insn::Bind(fib),
        Insn::BranchImm {
            cond: Cond::ULt,
            lhs: Reg::R1,
            imm: 2,
            target: base,
        },
        dec,
        Insn::Call { target: fib },
        Insn::Push { src: Reg::R0 },
        dec,
        Insn::Call { target: fib },
        Insn::Pop { dst: Reg::R2 },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R2,
        },
        Insn::Ret,
        Insn::Bind(base),
        Insn::Mov {
            dst: Reg::R0,
            src: Reg::R1,
        },
        Insn::Ret,
    ]
}

fn fib(n: u64) -> u64 {
    (0..n).fold((0, 1), |(a, b), _| (b, a + b)).0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 27;
    let program = fib_program();
    // The program's own stack: one word per level of recursion is enough.
    let mut stack = vec![0u64; 64];
    let top = stack.as_mut_ptr_range().end as u64;
    let args = [0, n, 0, top];

    let mut memory = CodeMemory::new(4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(&program)?;
    let code = asm.finish()?.make_executable(&Linux)?;
    // SAFETY: the program pushes at most `n` words below `top`, inside
    // `stack`, and recurses `n` calls deep on the native stack.
    let jit = unsafe { code.call(args) };

    let interpreter: Interpreter = Interpreter::new(&program)?;
    // SAFETY: as above; the interpreter's calls go on its own call stack.
    let interpreted = unsafe { interpreter.run(args) }?;
    println!("fib({n}): generated code {jit}, interpreter {interpreted}");
    assert_eq!((jit, interpreted), (fib(n), fib(n)));

    // The interpreter stops a recursion that never ends, on any stack: here
    // with a call stack of 100 frames, and with 10,000 instructions of fuel.
    let forever = [Insn::Bind(Label(0)), Insn::Call { target: Label(0) }];
    let forever: Interpreter = Interpreter::new(&forever)?;
    let mut frames = [Frame::EMPTY; 100];
    // SAFETY: the program touches no memory.
    let deep = unsafe { forever.run_on([0; 4], Limits::DEFAULT, &mut frames) };
    println!("endless recursion, 100 frames: {deep:?}");
    assert_eq!(deep, Err(Error::CallDepthExceeded));
    let spin = [Insn::Bind(Label(0)), Insn::Jump { target: Label(0) }];
    let spin: Interpreter = Interpreter::new(&spin)?;
    let limits = Limits {
        fuel: 10_000,
        ..Limits::DEFAULT
    };
    // SAFETY: the program touches no memory.
    let endless = unsafe { spin.run_on([0; 4], limits, &mut []) };
    println!("endless loop, 10,000 instructions of fuel: {endless:?}");
    assert_eq!(endless, Err(Error::FuelExhausted));
    Ok(())
}
