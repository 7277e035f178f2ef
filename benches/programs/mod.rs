//! The programs the benchmarks compile and run, as `copyjit::Insn` lists.
//!
//! One source for every benchmark: `benches/emit.rs` and `benches/run.rs`
//! declare it as `mod programs;`, and the Cranelift comparison
//! (`benches/cranelift`) includes this file by path, so both compile the
//! very same instructions.

#![allow(dead_code, reason = "each benchmark uses part of the programs")]

use copyjit::{BinOp, Cond, Insn, Label, Load, Reg, UnOp, Width};

/// Bytes of scratch memory the straight-line programs address through `R3`.
pub const SCRATCH_BYTES: usize = 256;

/// The seed every benchmark uses, so all of them compile the same programs.
pub const SEED: u64 = 0x00c0_ffee_5eed;

/// The billion-sum's loop as a program: `R0 = 0 + 1 + ... + (n - 1)`.
///
/// ```text
/// R0 = 0, R1 = 0, R2 = 1, R3 = n
/// loop: R0 = R0 + R1; R1 = R1 + R2; if R1 != R3 goto loop
/// return R0
/// ```
///
/// The constants live in registers, so the loop is three ops without
/// immediates. `n` must be at least 1.
pub fn sum_loop(n: u64) -> Vec<Insn> {
    let top = Label(0);
    vec![
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
            cond: Cond::Ne,
            lhs: Reg::R1,
            rhs: Reg::R3,
            target: top,
        },
        Insn::Ret,
    ]
}

/// The value [`sum_loop`] returns.
pub fn sum_expected(n: u64) -> u64 {
    let n = u128::from(n);
    (n * n.saturating_sub(1) / 2) as u64
}

/// The same loop in Rust, as a compiler would write it: the step and the
/// bound pass through `black_box`, so the compiler cannot replace the loop
/// with its closed form (it no longer knows the trip count) but keeps
/// everything in registers, three instructions and a branch per iteration.
#[inline(never)]
pub fn native_sum(n: u64) -> u64 {
    let step = std::hint::black_box(1u64);
    let n = std::hint::black_box(n);
    let (mut sum, mut i) = (0u64, 0u64);
    loop {
        sum = sum.wrapping_add(i);
        i = i.wrapping_add(step);
        if i == n {
            return sum;
        }
    }
}

/// A small deterministic generator (SplitMix64), so that every benchmark
/// builds the same programs without a dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`); the slight bias does not matter here.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Registers the straight-line programs compute in; `R3` holds the scratch
/// buffer's address and is never written.
const DATA: [Reg; 3] = [Reg::R0, Reg::R1, Reg::R2];

/// A straight-line program of `len` instructions (no branches, labels or
/// calls), the same for the same `len` and `seed`.
///
/// The mix, by weight: register ALU 30, immediate ALU 25, unary 5, move 10,
/// move immediate 10, load 10, store 10. Every operation of each family
/// appears, divisions included. `R0`–`R2` hold data; loads and stores
/// address `[R3 + offset]`, aligned to their size, inside
/// [`SCRATCH_BYTES`] of scratch memory, so the program runs when entered
/// with `R3` pointing at such a buffer (8-aligned).
pub fn straight_line(len: usize, seed: u64) -> Vec<Insn> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| random_insn(&mut rng)).collect()
}

/// [`straight_line`]`(block, seed)` repeated `times` times: as many
/// instructions as a long random program, in a sequence a branch predictor
/// learns, which separates the emitter's work from its mispredictions.
pub fn repeated(block: usize, times: usize, seed: u64) -> Vec<Insn> {
    straight_line(block, seed).repeat(times)
}

fn random_imm(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.next_u64(),
        1 => rng.next_u64() as u32 as u64,
        _ => rng.below(256) as u64,
    }
}

fn random_offset(rng: &mut Rng, size: usize) -> i64 {
    (rng.below(SCRATCH_BYTES / size) * size) as i64
}

fn random_insn(rng: &mut Rng) -> Insn {
    let roll = rng.below(100);
    let dst = rng.pick(&DATA);
    match roll {
        0..30 => Insn::Bin {
            op: rng.pick(BinOp::ALL),
            dst,
            lhs: rng.pick(&DATA),
            rhs: rng.pick(&DATA),
        },
        30..55 => {
            let op = rng.pick(BinOp::ALL);
            let imm = if op.is_shift() {
                rng.below(64) as u64
            } else {
                random_imm(rng)
            };
            Insn::BinImm {
                op,
                dst,
                lhs: rng.pick(&DATA),
                imm,
            }
        }
        55..60 => Insn::Unary {
            op: rng.pick(UnOp::ALL),
            dst,
            src: rng.pick(&DATA),
        },
        60..70 => Insn::Mov {
            dst,
            src: rng.pick(&DATA),
        },
        70..80 => Insn::MovImm {
            dst,
            imm: random_imm(rng),
        },
        80..90 => {
            let kind = rng.pick(Load::ALL);
            Insn::Load {
                kind,
                dst,
                base: Reg::R3,
                offset: random_offset(rng, kind.size()),
            }
        }
        _ => {
            let width = rng.pick(Width::ALL);
            Insn::Store {
                width,
                src: rng.pick(&DATA),
                base: Reg::R3,
                offset: random_offset(rng, width.size()),
            }
        }
    }
}

/// An 8-aligned scratch buffer for [`straight_line`] programs.
#[repr(C, align(8))]
pub struct Scratch(pub [u8; SCRATCH_BYTES]);

impl Default for Scratch {
    /// A buffer with the same contents every time.
    fn default() -> Self {
        let mut rng = Rng::new(SEED ^ 0x05c4_a7c4);
        let mut bytes = [0; SCRATCH_BYTES];
        bytes.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
        Scratch(bytes)
    }
}

impl Scratch {
    /// The registers to enter a straight-line program with.
    pub fn args(&mut self) -> [u64; 4] {
        [1, 2, 3, self.0.as_mut_ptr() as u64]
    }
}

/// The chain lengths the chain benchmark runs.
pub const CHAIN_LENGTHS: [usize; 4] = [64, 1_024, 4_096, 16_384];

/// A straight-line chain of `n` additions into `R0` and a return: with
/// `imm`, each adds the immediate 1 (`add r0, r0, 1`, an op with a data
/// slot); without, each adds `R1` (`add r0, r0, r1`, no slot). Both return
/// `n` when `R0 = 0` and `R1 = 1` at entry.
pub fn chain(n: usize, imm: bool) -> Vec<Insn> {
    let (dst, lhs) = (Reg::R0, Reg::R0);
    let add = if imm {
        Insn::BinImm {
            op: BinOp::Add,
            dst,
            lhs,
            imm: 1,
        }
    } else {
        Insn::Bin {
            op: BinOp::Add,
            dst,
            lhs,
            rhs: Reg::R1,
        }
    };
    let mut program = vec![add; n];
    program.push(Insn::Ret);
    program
}
