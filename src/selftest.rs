//! A self-test of every op form, for the host test suite and for firmware.
//!
//! Each op family is a [`Group`] of cases. A case is a short program, the
//! registers it starts from and the registers (and, for stores, the memory)
//! it must leave behind. The expected values are computed here, independently
//! of both the stencils and the [`Interpreter`]. Every case runs as
//! generated code, emitted into the caller's buffer and made executable by
//! the caller's [`Platform`], and in the interpreter; each way once per
//! register, ending with a copy of that register into `R0`, so all four
//! registers are compared exactly and no global state is needed.
//!
//! Every stencil form is exercised (each register assignment is its own
//! stencil, but for division where pointers are 32 bits: one stencil, which
//! reads the registers' numbers from a slot, runs every assignment): every
//! ALU form with twelve value pairs from [`EDGES`] and one form with every
//! pair, every branch form under every condition, every load
//! and store width on every register pair, push and pop, host calls and
//! calls between generated functions. [`Summary::forms_covered`] counts them.
//!
//! The self-test needs no allocator and never panics: a buffer that is too
//! small or a platform that refuses shows up as failed cases.
//!
//! On hosted Linux, `copyjit-linux` runs it with its `Linux` platform and a
//! `CodeMemory` (an example in that crate's documentation); the bare-metal
//! image `platform/riscv64-virt/demo` runs it with `SingleHart`, printing a
//! line per group.

use crate::emit::Assembler;
use crate::error::Error;
use crate::interp::Interpreter;
use crate::isa::{BinOp, BinOp32, Cond, Insn, Label, Load, Reg, UnOp, Width};
use crate::lower;
use crate::platform::Platform;
use crate::stencil::TABLE;
use crate::variant::Variant;
use core::cell::Cell;
use core::fmt;

/// Values that find edge cases: zero, one, shift amounts around 64, the
/// 32-bit and 64-bit sign boundaries, all ones and a mixed bit pattern.
pub const EDGES: [u64; 12] = [
    0,
    1,
    2,
    7,
    63,
    64,
    0x7fff_ffff,
    0x8000_0000,
    i64::MAX as u64,
    i64::MIN as u64,
    u64::MAX,
    0x0123_4567_89ab_cdef,
];

/// One family of ops, tested together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// `dst = lhs op rhs` for every [`BinOp`].
    Alu,
    /// `dst = lhs op imm` for every [`BinOp`] and [`BinOp32`].
    AluImm,
    /// `dst = op src` for every [`UnOp`].
    Unary,
    /// `dst = src`.
    Mov,
    /// `dst = imm`.
    MovImm,
    /// Register-register branches under every [`Cond`].
    Branch,
    /// Register-immediate and memory-immediate branches under every
    /// [`Cond`].
    BranchImm,
    /// Forward and backward jumps, and no-ops.
    Jump,
    /// Loads of every [`Load`] kind, with positive and negative offsets;
    /// big-endian loads at every misalignment.
    Load,
    /// Stores of every [`Width`].
    Store,
    /// Push and pop of every register.
    Stack,
    /// Calls of a host function into every register.
    HostCall,
    /// Calls between generated functions, and returns (of `R0` and of an
    /// immediate).
    Call,
}

impl Group {
    /// Every group, in the order [`run`] runs them.
    pub const ALL: &'static [Group] = &[
        Group::Alu,
        Group::AluImm,
        Group::Unary,
        Group::Mov,
        Group::MovImm,
        Group::Branch,
        Group::BranchImm,
        Group::Jump,
        Group::Load,
        Group::Store,
        Group::Stack,
        Group::HostCall,
        Group::Call,
    ];

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Group::Alu => "alu",
            Group::AluImm => "alu-imm",
            Group::Unary => "unary",
            Group::Mov => "mov",
            Group::MovImm => "mov-imm",
            Group::Branch => "branch",
            Group::BranchImm => "branch-imm",
            Group::Jump => "jump+nop",
            Group::Load => "load",
            Group::Store => "store",
            Group::Stack => "push+pop",
            Group::HostCall => "call-host",
            Group::Call => "call+ret",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Which way a case ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// As generated code.
    Jit,
    /// In the reference interpreter.
    Interpreter,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Jit => "generated code",
            Engine::Interpreter => "interpreter",
        })
    }
}

/// What went wrong in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// Emitting, finishing or interpreting the program failed.
    Error(Error),
    /// The platform refused to make the code executable.
    Platform,
    /// A register ended with the wrong value.
    Register {
        /// The register.
        reg: Reg,
        /// The value the case expects.
        expected: u64,
        /// The value it had.
        got: u64,
    },
    /// A byte of the scratch memory ended with the wrong value.
    Memory {
        /// The byte's offset in the scratch memory.
        offset: usize,
        /// The value the case expects.
        expected: u8,
        /// The value it had.
        got: u8,
    },
}

/// One failed case.
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    /// The instruction the case tests.
    pub insn: Insn,
    /// The registers the case started from.
    pub args: [u64; 4],
    /// Which way it ran.
    pub engine: Engine,
    /// What went wrong.
    pub mismatch: Mismatch,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.args;
        write!(
            f,
            "{}: {:?} from [{a:#x}, {b:#x}, {c:#x}, {d:#x}]: ",
            self.engine, self.insn
        )?;
        match self.mismatch {
            Mismatch::Error(e) => write!(f, "{e}"),
            Mismatch::Platform => f.write_str("the platform refused to make the code executable"),
            Mismatch::Register { reg, expected, got } => {
                write!(f, "{reg:?} = {got:#x}, expected {expected:#x}")
            }
            Mismatch::Memory {
                offset,
                expected,
                got,
            } => write!(f, "memory[{offset}] = {got:#x}, expected {expected:#x}"),
        }
    }
}

/// The outcome of one group.
#[derive(Clone, Copy, Debug)]
pub struct GroupReport {
    /// The group.
    pub group: Group,
    /// Cases run (each both as generated code and in the interpreter).
    pub cases: u32,
    /// Cases that failed either way.
    pub failed: u32,
    /// Stencil forms the group's programs use.
    pub forms: usize,
    /// The first failure, if any.
    pub first_failure: Option<Failure>,
}

impl GroupReport {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// The group's line of a report, for a group that took `ms`
    /// milliseconds: its name, cases, forms, time and `ok` or `FAILED`,
    /// and, on a second line, how many cases failed and the first failure.
    pub fn line(&self, ms: u64) -> impl fmt::Display + '_ {
        Line(move |f: &mut fmt::Formatter<'_>| {
            write!(
                f,
                "  {:<10} {:>6} cases {:>4} forms {:>6} ms  {}",
                self.group.name(),
                self.cases,
                self.forms,
                ms,
                if self.passed() { "ok" } else { "FAILED" },
            )?;
            match &self.first_failure {
                Some(failure) => write!(f, "\n    {} failed, the first: {failure}", self.failed),
                None => Ok(()),
            }
        })
    }
}

/// The outcome of every group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases run.
    pub cases: u32,
    /// Cases that failed.
    pub failed: u32,
    /// Stencil forms the programs used.
    pub forms_covered: usize,
    /// Stencil forms there are (every one an instruction can select).
    pub forms_total: usize,
}

impl Summary {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// Whether every case passed and the cases used every form.
    pub fn complete(&self) -> bool {
        self.passed() && self.forms_covered == self.forms_total
    }

    /// The report's last line, for a self-test that took `ms` milliseconds.
    pub fn line(&self, ms: u64) -> impl fmt::Display + '_ {
        Line(move |f: &mut fmt::Formatter<'_>| {
            write!(
                f,
                "self-test: {} cases, {} of {} op forms, {} failed, {} ms",
                self.cases, self.forms_covered, self.forms_total, self.failed, ms,
            )
        })
    }
}

/// Text written by a function, for the lines of a report.
struct Line<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Line<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// The sum loop the bare-metal images run after the self-test (the
/// billion-sum with a bound that suits them): `R0 = 0 + 1 + ... + (n - 1)`,
/// three ops an iteration, the bound an immediate. `n` must be at least 1.
pub fn sum_below(n: u64) -> [Insn; 7] {
    let top = Label(0);
    [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::BranchImm {
            cond: Cond::Ne,
            lhs: Reg::R1,
            imm: n,
            target: top,
        },
        Insn::Ret,
    ]
}

/// Runs every group with `code` as the buffer for generated code, calling
/// `report` after each group.
pub fn run<P: Platform>(
    platform: &P,
    code: &mut [u8],
    mut report: impl FnMut(&GroupReport),
) -> Summary {
    let mut all = Forms::new();
    let mut summary = Summary {
        forms_total: Forms::total(),
        ..Summary::default()
    };
    for &group in Group::ALL {
        let mut runner = Runner::new(platform, &mut *code, group);
        runner.run();
        all.add(&runner.forms);
        let r = runner.report();
        summary.cases = summary.cases.saturating_add(r.cases);
        summary.failed = summary.failed.saturating_add(r.failed);
        report(&r);
    }
    summary.forms_covered = all.count();
    summary
}

/// Runs one group with `code` as the buffer for generated code.
pub fn run_group<P: Platform>(group: Group, platform: &P, code: &mut [u8]) -> GroupReport {
    let mut runner = Runner::new(platform, code, group);
    runner.run();
    runner.report()
}

/// Labels a case program may use.
const LABELS: usize = 4;
/// The longest case program but one, with the instruction that observes a
/// register.
const MAX_PROGRAM: usize = 24;
/// The longest case program, the one across code blocks (see
/// `Runner::across_blocks`), with the instruction that observes a register.
const MAX_LONG_PROGRAM: usize = ACROSS_BLOCKS_BODY + 8;
/// Ops in the body of the loop across code blocks: three blocks' worth of
/// the densest ops with a slot.
const ACROSS_BLOCKS_BODY: usize = 3 * crate::stencil::SLOT_DISTANCE / 8;
/// Registers that are not operands of a case start with these.
const MARKERS: [u64; 4] = [0x1111, 0x2222, 0x3333, 0x4444];
/// Scratch memory for loads and stores, in bytes.
const SCRATCH: usize = 32;
/// Stack for push, pop and recursive calls, in 8-byte words.
const STACK_WORDS: usize = 64;
/// What scratch memory holds before a store.
const FILL: u8 = 0xAA;

/// Memory that generated code reads and writes through a raw pointer while
/// the test also reads it: a `Cell`, so no reference ever aliases a write.
#[repr(C, align(16))]
struct Scratch(Cell<[u8; SCRATCH]>);

/// Stack memory for push, pop and calls, used through `SP` like [`Scratch`].
#[repr(C, align(16))]
struct Stack(Cell<[u64; STACK_WORDS]>);

impl Stack {
    /// The address just past the stack: the initial `SP`.
    fn top(&self) -> u64 {
        self.0.as_ptr() as u64 + (STACK_WORDS * 8) as u64
    }
}

/// The stores a case must make: the scratch memory before and after.
struct Effect<'m> {
    scratch: &'m Scratch,
    before: [u8; SCRATCH],
    after: [u8; SCRATCH],
}

/// Which stencil forms programs used, one bit per form.
struct Forms([u64; TABLE.len().div_ceil(64)]);

impl Forms {
    fn new() -> Self {
        Forms([0; TABLE.len().div_ceil(64)])
    }

    /// Every form an instruction can select: all but the empty
    /// continuation and the skip between code blocks (which the
    /// block-crossing case of [`Group::Jump`] runs).
    fn total() -> usize {
        TABLE.len() - 2
    }

    fn mark(&mut self, insn: &Insn) {
        if let Some((v, _)) = lower::lower(insn) {
            let i = TABLE.index(v);
            if let Some(word) = self.0.get_mut(i / 64) {
                *word |= 1 << (i % 64);
            }
        }
    }

    fn add(&mut self, other: &Forms) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn count(&self) -> usize {
        let mut n: usize = self.0.iter().map(|w| w.count_ones() as usize).sum();
        for v in [Variant::Empty, Variant::Skip] {
            let i = TABLE.index(v);
            if self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0) {
                n -= 1;
            }
        }
        n
    }
}

/// Runs the cases of one group.
struct Runner<'a, P: Platform> {
    platform: &'a P,
    code: &'a mut [u8],
    group: Group,
    cases: u32,
    failed: u32,
    first_failure: Option<Failure>,
    forms: Forms,
}

impl<'a, P: Platform> Runner<'a, P> {
    fn new(platform: &'a P, code: &'a mut [u8], group: Group) -> Self {
        Runner {
            platform,
            code,
            group,
            cases: 0,
            failed: 0,
            first_failure: None,
            forms: Forms::new(),
        }
    }

    fn report(&self) -> GroupReport {
        GroupReport {
            group: self.group,
            cases: self.cases,
            failed: self.failed,
            forms: self.forms.count(),
            first_failure: self.first_failure,
        }
    }

    fn run(&mut self) {
        match self.group {
            Group::Alu => self.alu(),
            Group::AluImm => self.alu_imm(),
            Group::Unary => self.unary(),
            Group::Mov => self.mov(),
            Group::MovImm => self.mov_imm(),
            Group::Branch => self.branch(),
            Group::BranchImm => self.branch_imm(),
            Group::Jump => self.jump(),
            Group::Load => self.load(),
            Group::Store => self.store(),
            Group::Stack => self.stack(),
            Group::HostCall => self.host_call(),
            Group::Call => self.call(),
        }
    }

    /// Checks that `program`, started from `args`, leaves `expect` in the
    /// registers (and makes `effect`'s stores), as generated code and in the
    /// interpreter. `insn` is the instruction under test, for the report.
    fn case(
        &mut self,
        insn: Insn,
        program: &[Insn],
        args: [u64; 4],
        expect: [u64; 4],
        effect: Option<&Effect<'_>>,
    ) {
        // A case of a form the crate's features leave out (or that needs
        // one) is not run: the self-test covers the table's forms.
        if !program.iter().all(crate::stencil::supports) {
            return;
        }
        for i in program {
            self.forms.mark(i);
        }
        self.cases += 1;
        let outcome = self
            .check(Engine::Jit, program, args, expect, effect)
            .and_then(|()| self.check(Engine::Interpreter, program, args, expect, effect));
        if let Err((engine, mismatch)) = outcome {
            self.failed += 1;
            self.first_failure.get_or_insert(Failure {
                insn,
                args,
                engine,
                mismatch,
            });
        }
    }

    /// Runs the program once per register, each time ending it by copying
    /// that register into `R0`, so all four are observed exactly.
    fn check(
        &mut self,
        engine: Engine,
        program: &[Insn],
        args: [u64; 4],
        expect: [u64; 4],
        effect: Option<&Effect<'_>>,
    ) -> Result<(), (Engine, Mismatch)> {
        // Most programs are short: copy them into a short array.
        if program.len() < MAX_PROGRAM {
            self.check_in::<MAX_PROGRAM>(engine, program, args, expect, effect)
        } else {
            self.check_in::<MAX_LONG_PROGRAM>(engine, program, args, expect, effect)
        }
    }

    /// [`Self::check`], with room for programs of `N - 1` instructions.
    fn check_in<const N: usize>(
        &mut self,
        engine: Engine,
        program: &[Insn],
        args: [u64; 4],
        expect: [u64; 4],
        effect: Option<&Effect<'_>>,
    ) -> Result<(), (Engine, Mismatch)> {
        let fail = |mismatch| (engine, mismatch);
        if let Some(e) = effect {
            e.scratch.0.set(e.before);
        }
        let mut observed = [Insn::Nop; N];
        let len = program.len() + 1;
        match observed.get_mut(..program.len()) {
            Some(body) if len <= N => body.copy_from_slice(program),
            // No case program is this long.
            _ => {
                let too_long = Error::BufferTooSmall {
                    needed: len,
                    capacity: N,
                };
                return Err(fail(Mismatch::Error(too_long)));
            }
        }
        for reg in Reg::ALL {
            if let Some(last) = observed.get_mut(program.len()) {
                *last = Insn::Mov {
                    dst: Reg::R0,
                    src: reg,
                };
            }
            let observed = observed.get(..len).unwrap_or_default();
            let got = match engine {
                Engine::Jit => self.jit(observed, args),
                Engine::Interpreter => interpret(observed, args),
            }
            .map_err(fail)?;
            let expected = expect[reg.index()];
            if got != expected {
                return Err(fail(Mismatch::Register { reg, expected, got }));
            }
        }
        if let Some(e) = effect {
            let now = e.scratch.0.get();
            if let Some(offset) = (0..SCRATCH).find(|&i| now[i] != e.after[i]) {
                return Err(fail(Mismatch::Memory {
                    offset,
                    expected: e.after[offset],
                    got: now[offset],
                }));
            }
        }
        Ok(())
    }

    /// Runs `program` as generated code in the caller's buffer.
    fn jit(&mut self, program: &[Insn], args: [u64; 4]) -> Result<u64, Mismatch> {
        let mut asm: Assembler<'_, LABELS> = Assembler::new(&mut *self.code);
        asm.emit_all(program).map_err(Mismatch::Error)?;
        let code = asm.finish().map_err(Mismatch::Error)?;
        let code = code
            .make_executable(self.platform)
            .map_err(|_| Mismatch::Platform)?;
        // SAFETY: the self-test's programs load and store only within the
        // runner's `Scratch` (at offsets the cases keep in bounds, and
        // aligned but for big-endian loads), push and pop only within its `Stack` with `SP` at its
        // top, call only `mix`, and nest calls at most 21 deep.
        Ok(unsafe { code.call(args) })
    }

    // ---- The groups -------------------------------------------------------

    fn alu(&mut self) {
        for &op in BinOp::ALL {
            for dst in Reg::ALL {
                for lhs in Reg::ALL {
                    for rhs in Reg::ALL {
                        // Every pair of edge values on one form; twelve
                        // pairs on every other.
                        let every = (dst, lhs, rhs) == (Reg::R0, Reg::R1, Reg::R2);
                        for_pairs(every, |a, b| {
                            let insn = Insn::Bin { op, dst, lhs, rhs };
                            let args = with(lhs, a, rhs, b);
                            let mut expect = args;
                            expect[dst.index()] =
                                expect_bin(op, args[lhs.index()], args[rhs.index()]);
                            self.case(insn, &[insn], args, expect, None);
                        });
                    }
                }
            }
        }
    }

    fn alu_imm(&mut self) {
        for &op in BinOp::ALL {
            for dst in Reg::ALL {
                for lhs in Reg::ALL {
                    let every = (dst, lhs) == (Reg::R0, Reg::R1);
                    for_pairs(every, |a, imm| {
                        let imm = if op.is_shift() { imm % 64 } else { imm };
                        let insn = Insn::BinImm { op, dst, lhs, imm };
                        let args = with(lhs, a, lhs, a);
                        let mut expect = args;
                        expect[dst.index()] = expect_bin(op, a, imm);
                        self.case(insn, &[insn], args, expect, None);
                    });
                }
            }
        }
        for &op in BinOp32::ALL {
            for dst in Reg::ALL {
                for lhs in Reg::ALL {
                    let every = (dst, lhs) == (Reg::R0, Reg::R1);
                    for_pairs(every, |a, imm| {
                        let imm = if op.is_shift() { imm % 64 } else { imm };
                        let insn = Insn::BinImm32 { op, dst, lhs, imm };
                        let args = with(lhs, a, lhs, a);
                        let mut expect = args;
                        expect[dst.index()] = expect_bin32(op, a, imm);
                        self.case(insn, &[insn], args, expect, None);
                    });
                }
            }
        }
    }

    fn unary(&mut self) {
        for &op in UnOp::ALL {
            for dst in Reg::ALL {
                for src in Reg::ALL {
                    for a in EDGES {
                        let insn = Insn::Unary { op, dst, src };
                        let args = with(src, a, src, a);
                        let mut expect = args;
                        expect[dst.index()] = match op {
                            UnOp::Not => a ^ u64::MAX,
                            UnOp::Neg => 0u64.wrapping_sub(a),
                        };
                        self.case(insn, &[insn], args, expect, None);
                    }
                }
            }
        }
    }

    fn mov(&mut self) {
        for dst in Reg::ALL {
            for src in Reg::ALL {
                for a in EDGES {
                    let insn = Insn::Mov { dst, src };
                    let args = with(src, a, src, a);
                    let mut expect = args;
                    expect[dst.index()] = a;
                    self.case(insn, &[insn], args, expect, None);
                }
            }
        }
    }

    fn mov_imm(&mut self) {
        for dst in Reg::ALL {
            for imm in EDGES {
                let insn = Insn::MovImm { dst, imm };
                let mut expect = MARKERS;
                expect[dst.index()] = imm;
                self.case(insn, &[insn], MARKERS, expect, None);
            }
        }
    }

    fn branch(&mut self) {
        for &cond in Cond::ALL {
            for lhs in Reg::ALL {
                for rhs in Reg::ALL {
                    for a in EDGES {
                        for b in [0, 1, u64::MAX, i64::MIN as u64, a] {
                            let args = with(lhs, a, rhs, b);
                            let (x, y) = (args[lhs.index()], args[rhs.index()]);
                            let insn = Insn::Branch {
                                cond,
                                lhs,
                                rhs,
                                target: TAKEN,
                            };
                            self.branch_case(insn, args, expect_cond(cond, x, y));
                        }
                    }
                }
            }
        }
    }

    fn branch_imm(&mut self) {
        for &cond in Cond::ALL {
            for lhs in Reg::ALL {
                let every = lhs == Reg::R1;
                for_pairs(every, |a, imm| {
                    let insn = Insn::BranchImm {
                        cond,
                        lhs,
                        imm,
                        target: TAKEN,
                    };
                    self.branch_case(insn, with(lhs, a, lhs, a), expect_cond(cond, a, imm));
                });
            }
        }
        self.branch_mem();
    }

    /// Branches on a 64-bit word in memory under every [`Cond`], through
    /// every base register, with positive and negative offsets.
    fn branch_mem(&mut self) {
        let scratch = Scratch(Cell::new([FILL; SCRATCH]));
        let p = scratch.0.as_ptr() as u64;
        for &cond in Cond::ALL {
            for base in Reg::ALL {
                let every = base == Reg::R2;
                let mut n = 0;
                for_pairs(every, |a, imm| {
                    let mut bytes = [FILL; SCRATCH];
                    if let Some(word) = bytes.get_mut(16..24) {
                        word.copy_from_slice(&a.to_ne_bytes());
                    }
                    // Every other case reaches the word from 1000 bytes
                    // past it.
                    let (base_value, offset) = if n % 2 == 0 {
                        (p, 16)
                    } else {
                        (p + 1000, 16 - 1000)
                    };
                    n += 1;
                    let insn = Insn::BranchMem {
                        cond,
                        base,
                        offset,
                        imm,
                        target: TAKEN,
                    };
                    let mut args = MARKERS;
                    args[base.index()] = base_value;
                    let effect = Effect {
                        scratch: &scratch,
                        before: bytes,
                        after: bytes,
                    };
                    let taken = expect_cond(cond, a, imm);
                    self.branch_case_in(insn, args, taken, Some(&effect));
                });
            }
        }
    }

    /// `R0 = 1` if `branch` goes to [`TAKEN`], else `R0 = 2`; the other
    /// registers are kept.
    fn branch_case(&mut self, branch: Insn, args: [u64; 4], taken: bool) {
        self.branch_case_in(branch, args, taken, None);
    }

    /// [`Self::branch_case`] over memory that must hold `effect`'s bytes.
    fn branch_case_in(
        &mut self,
        branch: Insn,
        args: [u64; 4],
        taken: bool,
        effect: Option<&Effect<'_>>,
    ) {
        let done = Label(1);
        let program = [
            branch,
            mov_imm(Reg::R0, 2),
            Insn::Jump { target: done },
            Insn::Bind(TAKEN),
            mov_imm(Reg::R0, 1),
            Insn::Bind(done),
        ];
        let mut expect = args;
        expect[0] = if taken { 1 } else { 2 };
        self.case(branch, &program, args, expect, effect);
    }

    fn jump(&mut self) {
        // R1 += 3 while counting R0 down to 0 through a backward branch; a
        // forward jump skips an instruction that would spoil R1.
        let (back, skip) = (Label(0), Label(1));
        let jump = Insn::Jump { target: skip };
        let program = [
            mov_imm(Reg::R1, 0),
            Insn::Bind(back),
            bin_imm(BinOp::Add, Reg::R1, Reg::R1, 3),
            bin_imm(BinOp::Sub, Reg::R0, Reg::R0, 1),
            Insn::BranchImm {
                cond: Cond::Ne,
                lhs: Reg::R0,
                imm: 0,
                target: back,
            },
            jump,
            mov_imm(Reg::R1, 999),
            Insn::Bind(skip),
            Insn::Mov {
                dst: Reg::R2,
                src: Reg::R1,
            },
        ];
        let args = [10, MARKERS[1], MARKERS[2], MARKERS[3]];
        self.case(jump, &program, args, [0, 30, 30, MARKERS[3]], None);
        // A jump to the very next instruction, and no-ops.
        let next = Label(0);
        let jump = Insn::Jump { target: next };
        self.case(jump, &[jump, Insn::Bind(next)], MARKERS, MARKERS, None);
        let nops = [Insn::Nop; 3];
        self.case(Insn::Nop, &nops, MARKERS, MARKERS, None);
        self.across_blocks();
    }

    /// A loop whose body spans three code blocks: skips between blocks, a
    /// backward branch and a forward jump across them. The body's ops each
    /// read a slot, so each takes at least 8 bytes of its block; on targets
    /// with longer ops, fewer of them fill three blocks.
    fn across_blocks(&mut self) {
        let op = bin_imm(BinOp::Add, Reg::R1, Reg::R1, 1);
        let op_len = lower::lower(&op)
            .and_then(|(v, _)| crate::stencil::code(v))
            .map_or(8, |code| code.len().max(8));
        let body = ACROSS_BLOCKS_BODY.min(3 * crate::stencil::SLOT_DISTANCE / op_len + 1);
        let (back, skip) = (Label(0), Label(1));
        let jump = Insn::Jump { target: skip };
        let mut storage = [Insn::Nop; ACROSS_BLOCKS_BODY + 7];
        let program = &mut storage[..body + 7];
        program[0] = mov_imm(Reg::R1, 0);
        program[1] = Insn::Bind(back);
        let mut per_iteration = 0u64;
        for (i, insn) in program[2..2 + body].iter_mut().enumerate() {
            let imm = 1 + (i as u64 % 3);
            per_iteration += imm;
            *insn = bin_imm(BinOp::Add, Reg::R1, Reg::R1, imm);
        }
        program[body + 2] = bin_imm(BinOp::Sub, Reg::R0, Reg::R0, 1);
        program[body + 3] = Insn::BranchImm {
            cond: Cond::Ne,
            lhs: Reg::R0,
            imm: 0,
            target: back,
        };
        program[body + 4] = jump;
        program[body + 5] = mov_imm(Reg::R1, 999);
        program[body + 6] = Insn::Bind(skip);
        let args = [3, MARKERS[1], MARKERS[2], MARKERS[3]];
        let expect = [0, 3 * per_iteration, MARKERS[2], MARKERS[3]];
        self.case(jump, program, args, expect, None);
    }

    fn load(&mut self) {
        let scratch = Scratch(Cell::new([0; SCRATCH]));
        let p = scratch.0.as_ptr() as u64;
        for (i, value) in EDGES.into_iter().enumerate() {
            let mut bytes = [FILL; SCRATCH];
            if let Some(word) = bytes.get_mut(16..24) {
                word.copy_from_slice(&value.to_ne_bytes());
            }
            scratch.0.set(bytes);
            for &kind in Load::ALL {
                // The low `size` bytes of the value, wherever the target
                // keeps them.
                let (mut at, mut bytes, mut expected) = (
                    if cfg!(target_endian = "big") {
                        24 - kind.size()
                    } else {
                        16
                    },
                    bytes,
                    expect_load(kind, value),
                );
                if kind.is_big_endian() {
                    // The value's bytes most significant first, at every
                    // misalignment (one per value, 0 to 7).
                    at = 8 + i % 8;
                    bytes = [FILL; SCRATCH];
                    let mut rest = value;
                    for b in bytes.iter_mut().skip(at).take(8).rev() {
                        *b = rest as u8;
                        rest >>= 8;
                    }
                    expected = expect_load_be(kind.size(), &bytes[at..]);
                }
                // Half the values are reached with a positive offset, half
                // from 1000 bytes past them with a negative one.
                let (base_value, offset) = if i % 2 == 0 {
                    (p, at as i64)
                } else {
                    (p + 1000, at as i64 - 1000)
                };
                for base in Reg::ALL {
                    for dst in Reg::ALL {
                        let insn = Insn::Load {
                            kind,
                            dst,
                            base,
                            offset,
                        };
                        let mut args = MARKERS;
                        args[base.index()] = base_value;
                        let mut expect = args;
                        expect[dst.index()] = expected;
                        let effect = Effect {
                            scratch: &scratch,
                            before: bytes,
                            after: bytes,
                        };
                        self.case(insn, &[insn], args, expect, Some(&effect));
                    }
                }
            }
        }
    }

    fn store(&mut self) {
        let scratch = Scratch(Cell::new([0; SCRATCH]));
        let p = scratch.0.as_ptr() as u64;
        for &width in Width::ALL {
            for base in Reg::ALL {
                for src in Reg::ALL {
                    for value in EDGES {
                        // Storing the base register stores the address.
                        let value = if src == base { p } else { value };
                        let insn = Insn::Store {
                            width,
                            src,
                            base,
                            offset: 8,
                        };
                        let mut args = MARKERS;
                        args[src.index()] = value;
                        args[base.index()] = p;
                        let mut after = [FILL; SCRATCH];
                        let stored = expect_store(width, value);
                        let n = width.size();
                        if let (Some(to), Some(from)) = (after.get_mut(8..8 + n), stored.get(..n)) {
                            to.copy_from_slice(from);
                        }
                        let effect = Effect {
                            scratch: &scratch,
                            before: [FILL; SCRATCH],
                            after,
                        };
                        self.case(insn, &[insn], args, args, Some(&effect));
                    }
                }
            }
        }
    }

    fn stack(&mut self) {
        let stack = Stack(Cell::new([0; STACK_WORDS]));
        let top = stack.top();
        for src in Reg::ALL {
            for dst in Reg::ALL {
                let push = Insn::Push { src };
                let args = [10, 20, 30, top];
                let mut expect = args;
                // Pushing SP pushes its old value; popping into SP only loads.
                expect[dst.index()] = args[src.index()];
                self.case(push, &[push, Insn::Pop { dst }], args, expect, None);
            }
        }
        // Two pushes, popped in reverse.
        let program = [
            Insn::Push { src: Reg::R0 },
            Insn::Push { src: Reg::R1 },
            Insn::Pop { dst: Reg::R0 },
            Insn::Pop { dst: Reg::R1 },
        ];
        self.case(program[0], &program, [1, 2, 3, top], [2, 1, 3, top], None);
    }

    fn host_call(&mut self) {
        for dst in Reg::ALL {
            for (i, a) in EDGES.into_iter().enumerate() {
                let b = EDGES[(i + 7) % EDGES.len()];
                let insn = Insn::CallHost { dst, func: mix };
                let args = [a, b, a ^ 0x5555, b.wrapping_add(3)];
                let mut expect = args;
                expect[dst.index()] = expect_mix(args);
                self.case(insn, &[insn], args, expect, None);
            }
        }
    }

    fn call(&mut self) {
        // A return from the generated function itself, of R0 and of an
        // immediate (no call needed): the caller sees R0 whatever register
        // the case observes, since the move that observes it never runs.
        let ret = [mov_imm(Reg::R0, 7), Insn::Ret];
        self.case(Insn::Ret, &ret, MARKERS, [7; 4], None);
        for imm in EDGES {
            let ret = Insn::RetImm { imm };
            self.case(ret, &[ret], MARKERS, [imm; 4], None);
        }

        // main: R1 = 5; call square; R0 += R1 (the call keeps R1).
        // square: R0 *= R0; R1 = 77 (not seen by the caller); ret.
        let (square, done) = (Label(0), Label(1));
        let call = Insn::Call { target: square };
        let program = [
            mov_imm(Reg::R1, 5),
            call,
            bin(BinOp::Add, Reg::R0, Reg::R0, Reg::R1),
            Insn::Jump { target: done },
            Insn::Bind(square),
            bin(BinOp::Mul, Reg::R0, Reg::R0, Reg::R0),
            mov_imm(Reg::R1, 77),
            Insn::Ret,
            Insn::Bind(done),
        ];
        let args = [9, MARKERS[1], MARKERS[2], MARKERS[3]];
        self.case(call, &program, args, [86, 5, MARKERS[2], MARKERS[3]], None);

        // main: call f; f: ret imm (R0 = imm; the call keeps R1 to R3).
        for imm in EDGES {
            let (f, done) = (Label(0), Label(1));
            let ret = Insn::RetImm { imm };
            let program = [
                Insn::Call { target: f },
                Insn::Jump { target: done },
                Insn::Bind(f),
                mov_imm(Reg::R0, 5),
                ret,
                Insn::Bind(done),
            ];
            let args = [9, MARKERS[1], MARKERS[2], MARKERS[3]];
            self.case(ret, &program, args, [imm, args[1], args[2], args[3]], None);
        }

        // fib(n) by recursion, saving the argument on the stack.
        let (fib, base, done) = (Label(0), Label(1), Label(2));
        let call = Insn::Call { target: fib };
        let program = [
            call,
            Insn::Jump { target: done },
            Insn::Bind(fib),
            Insn::BranchImm {
                cond: Cond::ULt,
                lhs: Reg::R0,
                imm: 2,
                target: base,
            },
            Insn::Push { src: Reg::R0 },
            bin_imm(BinOp::Sub, Reg::R0, Reg::R0, 1),
            call,
            Insn::Pop { dst: Reg::R1 },
            Insn::Push { src: Reg::R0 },
            bin_imm(BinOp::Sub, Reg::R0, Reg::R1, 2),
            call,
            Insn::Pop { dst: Reg::R1 },
            bin(BinOp::Add, Reg::R0, Reg::R0, Reg::R1),
            Insn::Bind(base),
            Insn::Ret,
            Insn::Bind(done),
        ];
        let stack = Stack(Cell::new([0; STACK_WORDS]));
        for (n, fib_n) in [(0, 0), (1, 1), (2, 1), (10, 55), (20, 6765)] {
            let args = [n, MARKERS[1], MARKERS[2], stack.top()];
            let mut expect = args;
            expect[0] = fib_n;
            self.case(Insn::Ret, &program, args, expect, None);
        }
    }
}

/// The label a branch case jumps to when it is taken.
const TAKEN: Label = Label(0);

/// Calls `f(a, b)` with every pair of [`EDGES`] if `every`, else with twelve
/// pairs in which each edge value appears once on each side.
fn for_pairs(every: bool, mut f: impl FnMut(u64, u64)) {
    for (i, a) in EDGES.into_iter().enumerate() {
        if every {
            EDGES.into_iter().for_each(|b| f(a, b));
        } else {
            f(a, EDGES[(i + 7) % EDGES.len()]);
        }
    }
}

/// The marker registers, with `a` in `lhs` and then `b` in `rhs` (so the
/// same register holds `b`).
fn with(lhs: Reg, a: u64, rhs: Reg, b: u64) -> [u64; 4] {
    let mut r = MARKERS;
    r[lhs.index()] = a;
    r[rhs.index()] = b;
    r
}

/// Runs `program` in the interpreter.
fn interpret(program: &[Insn], args: [u64; 4]) -> Result<u64, Mismatch> {
    let interpreter: Interpreter<'_, LABELS> =
        Interpreter::new(program).map_err(Mismatch::Error)?;
    // SAFETY: as for generated code in `Runner::jit`: the same program
    // touches only the runner's scratch memory and stack and calls `mix`.
    unsafe { interpreter.run(args) }.map_err(Mismatch::Error)
}

fn mov_imm(dst: Reg, imm: u64) -> Insn {
    Insn::MovImm { dst, imm }
}

fn bin(op: BinOp, dst: Reg, lhs: Reg, rhs: Reg) -> Insn {
    Insn::Bin { op, dst, lhs, rhs }
}

fn bin_imm(op: BinOp, dst: Reg, lhs: Reg, imm: u64) -> Insn {
    Insn::BinImm { op, dst, lhs, imm }
}

/// The host function of [`Group::HostCall`].
extern "C" fn mix(a: u64, b: u64, c: u64, d: u64) -> u64 {
    a.wrapping_mul(31) ^ b.rotate_left(7) ^ c.wrapping_add(d)
}

// ---- Expected values, written apart from the interpreter ------------------

/// `a op b`.
fn expect_bin(op: BinOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    let shift = (b % 64) as u32;
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a.wrapping_shl(shift),
        BinOp::Shr => a.wrapping_shr(shift),
        BinOp::Sar => sa.wrapping_shr(shift) as u64,
        BinOp::UDiv if b == 0 => 0,
        BinOp::UDiv => a / b,
        BinOp::URem if b == 0 => a,
        BinOp::URem => a % b,
        BinOp::SDiv if b == 0 => 0,
        BinOp::SDiv if sa == i64::MIN && sb == -1 => a,
        BinOp::SDiv => (sa / sb) as u64,
        BinOp::SRem if b == 0 => a,
        BinOp::SRem if sa == i64::MIN && sb == -1 => 0,
        BinOp::SRem => (sa % sb) as u64,
    }
}

/// `a op b` in 32-bit arithmetic, zero-extended.
fn expect_bin32(op: BinOp32, a: u64, b: u64) -> u64 {
    let (a, b) = (a as u32, b as u32);
    u64::from(match op {
        BinOp32::Add32 => a.wrapping_add(b),
        BinOp32::Sub32 => a.wrapping_sub(b),
        BinOp32::Mul32 => a.wrapping_mul(b),
        BinOp32::Shl32 => a.checked_shl(b % 64).unwrap_or(0),
    })
}

/// Whether `a cond b`.
fn expect_cond(cond: Cond, a: u64, b: u64) -> bool {
    use core::cmp::Ordering::{Equal, Greater, Less};
    let unsigned = a.cmp(&b);
    let signed = (a as i64).cmp(&(b as i64));
    match cond {
        Cond::Eq => unsigned == Equal,
        Cond::Ne => unsigned != Equal,
        Cond::ULt => unsigned == Less,
        Cond::ULe => unsigned != Greater,
        Cond::UGt => unsigned == Greater,
        Cond::UGe => unsigned != Less,
        Cond::SLt => signed == Less,
        Cond::SLe => signed != Greater,
        Cond::SGt => signed == Greater,
        Cond::SGe => signed != Less,
        Cond::Test => (0..64).any(|i| (a >> i) & 1 == 1 && (b >> i) & 1 == 1),
        Cond::NotTest => (0..64).all(|i| (a >> i) & 1 == 0 || (b >> i) & 1 == 0),
    }
}

/// What a load of `kind` gives from memory whose low bytes are `value`'s.
fn expect_load(kind: Load, value: u64) -> u64 {
    match kind {
        Load::U8 => value & 0xff,
        Load::U16 => value & 0xffff,
        Load::U32 => value & 0xffff_ffff,
        Load::U64 => value,
        Load::I8 => i64::from(value as u8 as i8) as u64,
        Load::I16 => i64::from(value as u16 as i16) as u64,
        Load::I32 => i64::from(value as u32 as i32) as u64,
        // From bytes, in `expect_load_be`.
        Load::Be16 | Load::Be32 | Load::Be64 => 0,
    }
}

/// What a big-endian load of `size` bytes gives from `bytes`.
fn expect_load_be(size: usize, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(size)
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// The bytes a store of `width` writes, in memory order, padded to 8.
fn expect_store(width: Width, value: u64) -> [u8; 8] {
    let mut out = [0; 8];
    let bytes: &[u8] = match width {
        Width::W8 => &[value as u8],
        Width::W16 => &(value as u16).to_ne_bytes(),
        Width::W32 => &(value as u32).to_ne_bytes(),
        Width::W64 => &value.to_ne_bytes(),
    };
    if let Some(dst) = out.get_mut(..bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    out
}

/// What [`mix`] returns, from the registers it is called with.
fn expect_mix(r: [u64; 4]) -> u64 {
    let [a, b, c, d] = r;
    (a << 5).wrapping_sub(a) ^ b.rotate_right(57) ^ c.wrapping_add(d)
}
