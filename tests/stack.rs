//! Every op form in a long loop on a small native stack.
//!
//! An op whose continuation became a call instead of a jump (a compiler that
//! declined the tail call) still computes the right result, and short tests
//! pass: the rest of the program runs as a nested call and returns through
//! it. Only the native stack tells: it grows by one frame per op executed.
//! The build rejects such ops (`build/extract.rs`); this is the backstop
//! that runs them. Each form runs in a loop of [`ITERATIONS`] on a thread
//! with a [`STACK`]-byte stack, where a frame per execution overflows; and
//! first in a short loop whose host call checks that the native stack
//! pointer stays put, which names the form rather than crashing.

use copyjit::{Assembler, BinOp, BinOp32, Cond, Insn, Label, Load, Reg, UnOp, Width};
use copyjit_linux::{CodeMemory, Linux};
use std::cell::Cell;

/// Executions of each form: a frame of even 4 bytes per execution would
/// need more than [`STACK`].
const ITERATIONS: u64 = 10_000;
/// Executions in the first, checked run.
const SHORT: u64 = 64;
/// The native stack of the thread that runs the loops (the C library may
/// round it up, to 128 KiB on some targets: still less than a 16-byte frame
/// per execution needs).
const STACK: usize = 32 * 1024;

const TOP: Label = Label(0);
const AFTER: Label = Label(1);
const SUB: Label = Label(2);
const SUB_IMM: Label = Label(3);

thread_local! {
    /// The lowest and highest native stack address [`probe`] saw.
    static SPREAD: Cell<(usize, usize)> = const { Cell::new((usize::MAX, 0)) };
}

/// Records where the native stack is when generated code calls it.
extern "C" fn probe(r0: u64, _: u64, _: u64, _: u64) -> u64 {
    let marker = 0u8;
    let at = std::hint::black_box(&marker) as *const u8 as usize;
    SPREAD.with(|s| {
        let (low, high) = s.get();
        s.set((low.min(at), high.max(at)));
    });
    r0
}

extern "C" fn host(r0: u64, r1: u64, _: u64, _: u64) -> u64 {
    r0 ^ r1
}

/// Memory the loops read and write.
struct Memory {
    /// Walked by the loop counter, 8 bytes per iteration.
    counter: Vec<u64>,
    /// Where loads and stores whose base is not the counter go.
    data: Vec<u64>,
    /// The stack for push and pop, `R3` pointing at its middle.
    stack: Vec<u64>,
}

impl Memory {
    fn new() -> Self {
        Memory {
            counter: vec![0; ITERATIONS as usize + 1],
            data: vec![0; 4],
            stack: vec![0; 8],
        }
    }
    fn counter(&self) -> u64 {
        self.counter.as_ptr() as u64
    }
    fn data(&self) -> u64 {
        self.data.as_ptr() as u64
    }
    fn stack(&self) -> u64 {
        self.stack[4..].as_ptr() as u64
    }
}

/// The registers `insn` writes.
fn writes(insn: &Insn) -> Vec<Reg> {
    match *insn {
        Insn::Bin { dst, .. }
        | Insn::BinImm { dst, .. }
        | Insn::BinImm32 { dst, .. }
        | Insn::Unary { dst, .. }
        | Insn::Mov { dst, .. }
        | Insn::MovImm { dst, .. }
        | Insn::Load { dst, .. }
        | Insn::CallHost { dst, .. } => vec![dst],
        Insn::Pop { dst } => vec![dst, Reg::SP],
        Insn::Push { .. } => vec![Reg::SP],
        Insn::Call { .. } => vec![Reg::R0],
        _ => vec![],
    }
}

/// A loop that runs `body` `iterations` times, counting in a register none
/// of it writes, with the registers it uses as addresses set before it on
/// every iteration; with `checked`, a host call after it records the native
/// stack pointer. Returns the counter's final value.
fn program(body: &[Insn], memory: &Memory, iterations: u64, checked: bool) -> Vec<Insn> {
    let written: Vec<Reg> = body.iter().flat_map(writes).collect();
    let uses_stack = body
        .iter()
        .any(|i| matches!(i, Insn::Push { .. } | Insn::Pop { .. }));
    let counter = *Reg::ALL
        .iter()
        .find(|&&r| !written.contains(&r) && (!uses_stack || r != Reg::SP))
        .expect("a register for the counter");
    let mut p = vec![
        Insn::MovImm {
            dst: counter,
            imm: memory.counter(),
        },
        Insn::Bind(TOP),
    ];
    for insn in body {
        match *insn {
            Insn::Load { base, .. } | Insn::Store { base, .. } | Insn::BranchMem { base, .. }
                if base != counter =>
            {
                p.push(Insn::MovImm {
                    dst: base,
                    imm: memory.data(),
                });
            }
            _ => {}
        }
    }
    if uses_stack {
        p.push(Insn::MovImm {
            dst: Reg::SP,
            imm: memory.stack(),
        });
    }
    p.extend_from_slice(body);
    p.push(Insn::Bind(AFTER));
    if checked {
        let scratch = *Reg::ALL
            .iter()
            .find(|&&r| r != counter)
            .expect("a register");
        p.push(Insn::CallHost {
            dst: scratch,
            func: probe,
        });
    }
    p.extend([
        Insn::BinImm {
            op: BinOp::Add,
            dst: counter,
            lhs: counter,
            imm: 8,
        },
        Insn::BranchImm {
            cond: Cond::Ne,
            lhs: counter,
            imm: memory.counter() + 8 * iterations,
            target: TOP,
        },
        Insn::Mov {
            dst: Reg::R0,
            src: counter,
        },
        Insn::Ret,
        Insn::Bind(SUB),
        Insn::Ret,
        Insn::Bind(SUB_IMM),
        Insn::RetImm { imm: 5 },
    ]);
    p
}

/// Emits `program` and runs it on a new thread with a [`STACK`]-byte native
/// stack; returns `R0` and the spread of native stack addresses [`probe`]
/// saw there.
fn run(program: &[Insn], memory: &mut CodeMemory) -> (u64, usize) {
    let mut asm: Assembler<4> = Assembler::new(memory.as_mut_slice());
    asm.emit_all(program).expect("emit");
    let code = asm
        .finish()
        .expect("finish")
        .make_executable(&Linux)
        .expect("mprotect");
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(scope, || {
                // SAFETY: the loops touch only `Memory`, which outlives them,
                // and call only `probe` and `host`.
                let r0 = unsafe { code.call([0; 4]) };
                let (low, high) = SPREAD.with(Cell::get);
                (r0, high.saturating_sub(low))
            })
            .expect("spawn")
            .join()
            .expect("the generated code returns")
    })
}

/// Runs each body in the checked short loop, then in the long one: each
/// whose forms the crate's features include (the loop itself needs the
/// `alu-imm`, `branch-imm` and `call-host` features).
fn run_all(mut bodies: Vec<Vec<Insn>>) {
    bodies.retain(|body| body.iter().all(copyjit::supports));
    let memory = Memory::new();
    let mut code = CodeMemory::new(1 << 16).expect("mmap");
    for body in &bodies {
        let (end, spread) = run(&program(body, &memory, SHORT, true), &mut code);
        assert_eq!(end, memory.counter() + 8 * SHORT, "{body:?}: loop count");
        assert_eq!(
            spread, 0,
            "{body:?}: the native stack moved by {spread} bytes over {SHORT} executions"
        );
        let (end, _) = run(&program(body, &memory, ITERATIONS, false), &mut code);
        assert_eq!(
            end,
            memory.counter() + 8 * ITERATIONS,
            "{body:?}: loop count"
        );
    }
}

fn regs2() -> impl Iterator<Item = (Reg, Reg)> {
    Reg::ALL
        .into_iter()
        .flat_map(|a| Reg::ALL.into_iter().map(move |b| (a, b)))
}

fn one(insn: Insn) -> Vec<Insn> {
    vec![insn]
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn binary_ops() {
    let mut bodies = Vec::new();
    for &op in BinOp::ALL {
        for (dst, lhs) in regs2() {
            for rhs in Reg::ALL {
                bodies.push(one(Insn::Bin { op, dst, lhs, rhs }));
            }
            bodies.push(one(Insn::BinImm {
                op,
                dst,
                lhs,
                imm: 3,
            }));
        }
    }
    for &op in BinOp32::ALL {
        for (dst, lhs) in regs2() {
            bodies.push(one(Insn::BinImm32 {
                op,
                dst,
                lhs,
                imm: 3,
            }));
        }
    }
    run_all(bodies);
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn unary_ops_and_moves() {
    let mut bodies = Vec::new();
    for (dst, src) in regs2() {
        for &op in UnOp::ALL {
            bodies.push(one(Insn::Unary { op, dst, src }));
        }
        bodies.push(one(Insn::Mov { dst, src }));
    }
    for dst in Reg::ALL {
        bodies.push(one(Insn::MovImm { dst, imm: 0x1234 }));
    }
    bodies.push(one(Insn::Nop));
    run_all(bodies);
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn branches_and_jumps() {
    let mut bodies = Vec::new();
    for &cond in Cond::ALL {
        for (lhs, rhs) in regs2() {
            bodies.push(one(Insn::Branch {
                cond,
                lhs,
                rhs,
                target: AFTER,
            }));
        }
        for lhs in Reg::ALL {
            bodies.push(one(Insn::BranchImm {
                cond,
                lhs,
                imm: 7,
                target: AFTER,
            }));
            bodies.push(one(Insn::BranchMem {
                cond,
                base: lhs,
                offset: 8,
                imm: 7,
                target: AFTER,
            }));
        }
    }
    bodies.push(one(Insn::Jump { target: AFTER }));
    run_all(bodies);
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn memory_ops() {
    let mut bodies = Vec::new();
    for (reg, base) in regs2() {
        for &kind in Load::ALL {
            bodies.push(one(Insn::Load {
                kind,
                dst: reg,
                base,
                offset: 0,
            }));
        }
        for &width in Width::ALL {
            bodies.push(one(Insn::Store {
                width,
                src: reg,
                base,
                offset: 0,
            }));
        }
    }
    for reg in Reg::ALL {
        bodies.push(one(Insn::Push { src: reg }));
        bodies.push(one(Insn::Pop { dst: reg }));
    }
    run_all(bodies);
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn calls() {
    let mut bodies: Vec<Vec<Insn>> = Reg::ALL
        .into_iter()
        .map(|dst| one(Insn::CallHost { dst, func: host }))
        .collect();
    bodies.push(one(Insn::Call { target: SUB }));
    bodies.push(one(Insn::Call { target: SUB_IMM }));
    run_all(bodies);
}

/// A loop body longer than a code block, so that a skip runs in every
/// iteration.
#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn skips() {
    let body = (0..300)
        .map(|i| Insn::MovImm {
            dst: Reg::R1,
            imm: i,
        })
        .collect();
    run_all(vec![body]);
}
