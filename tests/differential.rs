//! Differential testing: random well-formed programs must give the same
//! registers, memory and return value as generated code and in the
//! reference interpreter.
//!
//! `COPYJIT_DIFF_PROGRAMS=N` sets how many programs run (10,000 by default),
//! `COPYJIT_DIFF_SEED=S` the first seed. A mismatch is shrunk to a minimal
//! program before it is reported.
//!
//! Programs use only the forms the crate's features include
//! (`copyjit::supports`): an instruction of a form left out is drawn again,
//! loops count with register forms when the immediate forms are left out,
//! and without `call-host` the registers are not observed at the end (the
//! result and memory still are).

mod common;

use common::{EDGES, LABELS, jit};
use copyjit::{BinOp, BinOp32, Cond, Insn, Label, Load, Reg, UnOp, Width};
use fastrand::Rng;

/// Scratch memory the programs load from and store to, in 8-byte words.
const SCRATCH_WORDS: usize = 32;
/// Stack for push and pop, in 8-byte words.
const STACK_WORDS: usize = 64;

#[derive(Clone, Copy)]
struct Memory {
    scratch: [u64; SCRATCH_WORDS],
    stack: [u64; STACK_WORDS],
}

impl Memory {
    fn new(seed: u64) -> Box<Self> {
        let mut rng = Rng::with_seed(seed);
        Box::new(Memory {
            scratch: std::array::from_fn(|_| rng.u64(..)),
            stack: [0; STACK_WORDS],
        })
    }
    fn scratch_addr(&self) -> u64 {
        self.scratch.as_ptr() as u64
    }
    fn stack_top(&self) -> u64 {
        self.stack.as_ptr_range().end as u64
    }
}

extern "C" fn host(a: u64, b: u64, c: u64, d: u64) -> u64 {
    a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.rotate_right(13) ^ c.wrapping_sub(d)
}

/// A label for asking whether a branch form is supported.
const TOP_ANY: Label = Label(0);

/// Builds random programs; labels are allocated in order.
struct Gen<'m> {
    rng: Rng,
    mem: &'m Memory,
    next_label: u16,
    out: Vec<Insn>,
    /// How much longer than usual blocks, branch bodies and loop bodies
    /// are: 1, or [`LONG`] for programs that span many code blocks.
    scale: usize,
}

/// The scale of long programs: hundreds to thousands of instructions, so
/// that code runs through many code blocks and their skips, and branches
/// and loops cross block boundaries forward and backward.
const LONG: usize = 6;
/// One program in this many is long.
const LONG_EVERY: u64 = 16;

impl Gen<'_> {
    fn reg(&mut self) -> Reg {
        Reg::ALL[self.rng.usize(..4)]
    }
    fn reg_but(&mut self, not: &[Reg]) -> Reg {
        loop {
            let r = self.reg();
            if !not.contains(&r) {
                return r;
            }
        }
    }
    fn imm(&mut self) -> u64 {
        match self.rng.u8(..4) {
            0 => EDGES[self.rng.usize(..EDGES.len())],
            1 => self.rng.u64(..16),
            2 => (self.rng.i64(-300..300)) as u64,
            _ => self.rng.u64(..),
        }
    }
    fn label(&mut self) -> Label {
        self.next_label += 1;
        Label(self.next_label - 1)
    }
    fn pick<T: Copy>(&mut self, all: &[T]) -> T {
        all[self.rng.usize(..all.len())]
    }

    /// One straight-line instruction that writes none of `keep`, of a
    /// form the crate's features include.
    fn simple(&mut self, keep: &[Reg]) {
        loop {
            let insn = self.simple_any(keep);
            if copyjit::supports(&insn) {
                self.out.push(insn);
                return;
            }
        }
    }

    /// One straight-line instruction that writes none of `keep`.
    fn simple_any(&mut self, keep: &[Reg]) -> Insn {
        let dst = self.reg_but(keep);
        let (lhs, rhs) = (self.reg(), self.reg());
        match self.rng.u8(..11) {
            0..=3 => Insn::Bin {
                op: self.pick(BinOp::ALL),
                dst,
                lhs,
                rhs,
            },
            4 | 5 => {
                let op = self.pick(BinOp::ALL);
                let imm = if op.is_shift() {
                    self.rng.u64(..64)
                } else {
                    self.imm()
                };
                Insn::BinImm { op, dst, lhs, imm }
            }
            6 => Insn::Unary {
                op: self.pick(UnOp::ALL),
                dst,
                src: lhs,
            },
            7 => Insn::Mov { dst, src: lhs },
            8 => Insn::MovImm {
                dst,
                imm: self.imm(),
            },
            9 => {
                let op = self.pick(BinOp32::ALL);
                let imm = if op.is_shift() {
                    self.rng.u64(..64)
                } else {
                    self.imm()
                };
                Insn::BinImm32 { op, dst, lhs, imm }
            }
            _ => Insn::CallHost { dst, func: host },
        }
    }

    /// A load or store on the scratch memory through a fresh base register.
    fn memory(&mut self, keep: &[Reg]) {
        let base = self.reg_but(keep);
        let imm = self.mem.scratch_addr();
        self.out.push(Insn::MovImm { dst: base, imm });
        let kind = loop {
            let kind = self.pick(Load::ALL);
            let load = Insn::Load {
                kind,
                dst: base,
                base,
                offset: 0,
            };
            if copyjit::supports(&load) {
                break kind;
            }
        };
        let offset = if kind.is_big_endian() {
            // At any alignment.
            self.rng.usize(..=SCRATCH_WORDS * 8 - kind.size())
        } else {
            self.rng.usize(..SCRATCH_WORDS) * 8 + self.rng.usize(..8 / kind.size()) * kind.size()
        } as i64;
        if self.rng.bool() {
            let dst = self.reg_but(keep);
            self.out.push(Insn::Load {
                kind,
                dst,
                base,
                offset,
            });
        } else {
            let width = self.pick(Width::ALL);
            let offset = offset - offset % width.size() as i64;
            let src = self.reg();
            self.out.push(Insn::Store {
                width,
                src,
                base,
                offset,
            });
        }
    }

    /// Pushes and pops, balanced, with SP set first.
    fn stack(&mut self, keep: &[Reg]) {
        if keep.contains(&Reg::SP) || !copyjit::supports(&Insn::Push { src: Reg::SP }) {
            return;
        }
        let imm = self.mem.stack_top() - 8 * self.rng.u64(..8);
        self.out.push(Insn::MovImm { dst: Reg::SP, imm });
        let n = self.rng.usize(1..5);
        for _ in 0..n {
            let src = self.reg();
            self.out.push(Insn::Push { src });
        }
        let mut keep = keep.to_vec();
        keep.push(Reg::SP);
        for _ in 0..n {
            let dst = self.reg_but(&keep);
            self.out.push(Insn::Pop { dst });
        }
    }

    /// A forward branch over a few instructions.
    fn skip(&mut self, keep: &[Reg], depth: u32) {
        let over = self.label();
        loop {
            let lhs = self.reg();
            let cond = self.pick(Cond::ALL);
            // A memory operand is a scratch word, through a fresh base
            // register; compared with its initial value or another.
            let base = self.reg_but(keep);
            let branch = match self.rng.u8(..3) {
                0 => {
                    let word = self.rng.usize(..SCRATCH_WORDS);
                    let imm = if self.rng.bool() {
                        self.mem.scratch[word]
                    } else {
                        self.imm()
                    };
                    Insn::BranchMem {
                        cond,
                        base,
                        offset: 8 * word as i64,
                        imm,
                        target: over,
                    }
                }
                1 => {
                    let rhs = self.reg();
                    Insn::Branch {
                        cond,
                        lhs,
                        rhs,
                        target: over,
                    }
                }
                _ => {
                    let imm = self.imm();
                    Insn::BranchImm {
                        cond,
                        lhs,
                        imm,
                        target: over,
                    }
                }
            };
            if copyjit::supports(&branch) {
                if let Insn::BranchMem { base, .. } = branch {
                    let imm = self.mem.scratch_addr();
                    self.out.push(Insn::MovImm { dst: base, imm });
                }
                self.out.push(branch);
                break;
            }
        }
        self.block(keep, depth + 1, 4 * self.scale);
        self.out.push(Insn::Bind(over));
    }

    /// A loop of 1 to 8 iterations on a counter the body leaves alone.
    /// Without the immediate forms, the counter is decremented as
    /// `not(neg(counter))` and compared with a register that holds 0.
    fn counted_loop(&mut self, keep: &[Reg], depth: u32) {
        let counter = self.reg_but(keep);
        let mut inner = keep.to_vec();
        inner.push(counter);
        let decrement = Insn::BinImm {
            op: BinOp::Sub,
            dst: counter,
            lhs: counter,
            imm: 1,
        };
        let test = |cond, target| Insn::BranchImm {
            cond,
            lhs: counter,
            imm: 0,
            target,
        };
        let zero = if copyjit::supports(&decrement) && copyjit::supports(&test(Cond::Ne, TOP_ANY)) {
            None
        } else {
            if inner.len() >= 3 {
                return;
            }
            let zero = self.reg_but(&inner);
            inner.push(zero);
            Some(zero)
        };
        if inner.len() >= 4 {
            return;
        }
        let test = |cond, target| match zero {
            None => test(cond, target),
            Some(zero) => Insn::Branch {
                cond,
                lhs: counter,
                rhs: zero,
                target,
            },
        };
        let top = self.label();
        let trips = self.rng.u64(1..9);
        self.out.push(Insn::MovImm {
            dst: counter,
            imm: trips,
        });
        if let Some(zero) = zero {
            self.out.push(Insn::MovImm { dst: zero, imm: 0 });
        }
        self.out.push(Insn::Bind(top));
        self.block(&inner, depth + 1, 6 * self.scale);
        if zero.is_none() {
            self.out.push(decrement);
        } else {
            for op in [UnOp::Neg, UnOp::Not] {
                self.out.push(Insn::Unary {
                    op,
                    dst: counter,
                    src: counter,
                });
            }
        }
        if self.rng.bool() {
            self.out.push(test(Cond::Ne, top));
        } else {
            let done = self.label();
            self.out.push(test(Cond::Eq, done));
            self.out.push(Insn::Jump { target: top });
            self.out.push(Insn::Bind(done));
        }
    }

    /// A return of `R0` or of an immediate.
    fn ret(&mut self) {
        let ret = if self.rng.bool() {
            Insn::Ret
        } else {
            Insn::RetImm { imm: self.imm() }
        };
        self.out.push(ret);
    }

    fn block(&mut self, keep: &[Reg], depth: u32, len: usize) {
        for _ in 0..self.rng.usize(1..=len) {
            match self.rng.u8(..12) {
                0 if depth < 2 => self.counted_loop(keep, depth),
                1 if depth < 3 => self.skip(keep, depth),
                2 => self.memory(keep),
                3 => self.stack(keep),
                _ => self.simple(keep),
            }
        }
    }
}

/// A random program: a main body, an optional call of a straight-line
/// subroutine placed after the main return; each return is of `R0` or of an
/// immediate. Every [`LONG_EVERY`]th is long.
fn program(seed: u64, mem: &Memory) -> Vec<Insn> {
    let mut g = Gen {
        rng: Rng::with_seed(seed),
        mem,
        next_label: 0,
        out: Vec::new(),
        scale: if seed.is_multiple_of(LONG_EVERY) {
            LONG
        } else {
            1
        },
    };
    let sub = g.label();
    let call = g.rng.u8(..4) == 0 && copyjit::supports(&Insn::Call { target: sub });
    g.block(&[], 0, 12 * g.scale);
    if call {
        g.out.push(Insn::Call { target: sub });
        g.block(&[], 1, 3);
    }
    let observe = Insn::CallHost {
        dst: Reg::R0,
        func: common::observe,
    };
    if copyjit::supports(&observe) {
        g.out.push(observe);
    }
    g.ret();
    if call {
        g.out.push(Insn::Bind(sub));
        for _ in 0..g.rng.usize(1..6) {
            g.simple(&[Reg::SP]);
        }
        g.ret();
    }
    assert!(usize::from(g.next_label) <= LABELS);
    g.out
}

/// What one run leaves behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<u64, copyjit::Error>,
    registers: [u64; 4],
    scratch: [u64; SCRATCH_WORDS],
}

fn run(p: &[Insn], seed: u64, mem: &mut Memory, use_jit: bool) -> Outcome {
    run_fueled(p, seed, mem, use_jit, u64::MAX)
}

/// As [`run`], the interpreter stopping after `fuel` instructions.
fn run_fueled(p: &[Insn], seed: u64, mem: &mut Memory, use_jit: bool, fuel: u64) -> Outcome {
    *mem = *Memory::new(seed);
    let args = [seed, !seed, seed.rotate_left(32), mem.stack_top()];
    common::take_observed();
    let result = if use_jit {
        jit(p, args)
    } else {
        common::interp_fueled(p, args, fuel)
    };
    let registers = common::take_observed();
    Outcome {
        result,
        registers,
        scratch: mem.scratch,
    }
}

/// Instructions the interpreter may run for a program the shrinking made:
/// removing an instruction can make a loop endless, and such a program is
/// no smaller example (the JIT, which cannot be stopped, never runs it).
const SHRINK_FUEL: u64 = 10_000_000;

/// Whether `p` is well formed, ends, and the two disagree on it.
fn mismatch(p: &[Insn], seed: u64, mem: &mut Memory) -> bool {
    let i = run_fueled(p, seed, mem, false, SHRINK_FUEL);
    i.result.is_ok() && i != run(p, seed, mem, true)
}

/// Removes instructions while the mismatch stays.
fn shrink(mut p: Vec<Insn>, seed: u64, mem: &mut Memory) -> Vec<Insn> {
    let mut i = 0;
    while i < p.len() {
        let mut q = p.clone();
        q.remove(i);
        if mismatch(&q, seed, mem) {
            p = q;
        } else {
            i += 1;
        }
    }
    p
}

#[test]
fn jit_and_interpreter_agree_on_random_programs() {
    let count: u64 =
        std::env::var("COPYJIT_DIFF_PROGRAMS").map_or(10_000, |v| v.parse().expect("a number"));
    let first: u64 = std::env::var("COPYJIT_DIFF_SEED").map_or(1, |v| v.parse().expect("a number"));
    let mut mem = Memory::new(0);
    let (mut insns, mut long, mut longest) = (0, 0, 0);
    for seed in first..first + count {
        let p = program(seed, &mem);
        insns += p.len();
        if seed.is_multiple_of(LONG_EVERY) {
            long += 1;
            longest = longest.max(p.len());
        }
        let i = run(&p, seed, &mut mem, false);
        assert!(
            i.result.is_ok(),
            "seed {seed}: generated an invalid program: {:?}",
            i.result
        );
        let j = run(&p, seed, &mut mem, true);
        if i != j {
            let small = shrink(p, seed, &mut mem);
            panic!(
                "seed {seed}: JIT and interpreter disagree.\nminimal program: {small:#?}\ninterpreter: {:?}\njit: {:?}",
                run(&small, seed, &mut mem, false),
                run(&small, seed, &mut mem, true)
            );
        }
    }
    println!(
        "{count} programs ({long} long, the longest {longest} instructions), {insns} instructions, 0 mismatches"
    );
}
