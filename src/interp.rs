//! The reference interpreter: the same instructions with the same meaning,
//! run directly. It is the oracle the JIT is tested against, and a fallback
//! for embedders that cannot make memory executable.
//!
//! It never recurses: an [`Insn::Call`] pushes a [`Frame`] onto a call
//! stack of fixed size and [`Insn::Ret`] pops it, so the native stack it
//! needs does not grow with the program's call depth. [`Interpreter::run`]
//! keeps that call stack in a local array of [`MAX_CALL_DEPTH`] frames
//! ([`RUN_STACK_BYTES`] of native stack, plus a few hundred bytes for the
//! loop itself); [`Interpreter::run_on`] uses frames the caller provides
//! (a `static`, a heap buffer), for small native stacks or deeper calls.
//! [`Limits`] bounds the call depth and the number of instructions run.

use crate::error::Error;
use crate::isa::{BinOp, Cond, Insn, Label, Load, Reg, UnOp, Width};
use crate::lower;

/// How deep [`Insn::Call`]s may nest in [`Interpreter::run`], and the size
/// of the call stack it keeps on the native stack.
pub const MAX_CALL_DEPTH: usize = 1024;

/// Native stack taken by the call stack of [`Interpreter::run`]:
/// [`MAX_CALL_DEPTH`] frames of 32 bytes (28 on i686): 32 KiB on 64-bit targets.
pub const RUN_STACK_BYTES: usize = MAX_CALL_DEPTH * core::mem::size_of::<Frame>();

/// What an [`Insn::Call`] saves for its return: where to continue, and the
/// caller's `R1`–`R3`, which a call keeps.
///
/// The interpreter's call stack is a slice of these; [`Frame::EMPTY`] fills
/// one, e.g. `[Frame::EMPTY; 100_000]` in a `static mut` or a `Vec`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The instruction index after the call.
    ret: usize,
    /// The caller's `R1`, `R2` and `R3`.
    kept: [u64; 3],
}

impl Frame {
    /// An unused frame.
    pub const EMPTY: Frame = Frame {
        ret: 0,
        kept: [0; 3],
    };
}

/// How far a program may go in the interpreter before it is stopped with an
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How deep calls may nest: a call made at this depth fails with
    /// [`Error::CallDepthExceeded`]. `0` allows no call at all. The call
    /// stack's length bounds it too.
    pub call_depth: usize,
    /// How many instructions may run; the next one fails with
    /// [`Error::FuelExhausted`]. Every instruction counts one, `Bind` and
    /// `Nop` included; running off the end of the program costs nothing.
    pub fuel: u64,
}

impl Limits {
    /// [`MAX_CALL_DEPTH`] calls deep, and no limit on instructions
    /// (`u64::MAX` of them would take centuries).
    pub const DEFAULT: Limits = Limits {
        call_depth: MAX_CALL_DEPTH,
        fuel: u64::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A checked program, ready to interpret. `LABELS` bounds the label numbers
/// as in [`crate::Assembler`].
#[derive(Clone, Debug)]
pub struct Interpreter<'p, const LABELS: usize = 64> {
    program: &'p [Insn],
    /// The instruction index each label is bound to.
    targets: [usize; LABELS],
}

impl<'p, const LABELS: usize> Interpreter<'p, LABELS> {
    /// Checks `program` exactly as the assembler would, and reports the same
    /// error: the first instruction (in program order) with an operand out of
    /// range or rebinding a label, else the lowest-numbered label that is
    /// used but never bound (as [`crate::Assembler::finish`] does).
    pub fn new(program: &'p [Insn]) -> Result<Self, Error> {
        const UNBOUND: usize = usize::MAX;
        let mut targets = [UNBOUND; LABELS];
        for (i, insn) in program.iter().enumerate() {
            lower::check(insn, LABELS)?;
            if let Insn::Bind(l) = *insn {
                let slot = &mut targets[usize::from(l.0)];
                if *slot != UNBOUND {
                    return Err(Error::LabelRebound(l));
                }
                *slot = i;
            }
        }
        if let Some(l) = program
            .iter()
            .filter_map(lower::target)
            .filter(|l| targets[usize::from(l.0)] == UNBOUND)
            .min_by_key(|l| l.0)
        {
            return Err(Error::UnboundLabel(l));
        }
        Ok(Interpreter { program, targets })
    }

    /// Runs the program with the four registers set to `args`, and returns
    /// `R0`. Running off the end returns, as generated code does.
    ///
    /// Calls nest at most [`MAX_CALL_DEPTH`] deep and instructions are not
    /// counted ([`Limits::DEFAULT`]). The call stack lives on the native
    /// stack: [`RUN_STACK_BYTES`] of it. Use [`Self::run_on`] to choose
    /// the limits or where the call stack lives.
    ///
    /// # Safety
    /// As for [`crate::Executable::call`]: memory accesses must be valid, and
    /// host functions safe to call with the registers they receive.
    pub unsafe fn run(&self, args: [u64; 4]) -> Result<u64, Error> {
        let mut frames = [Frame::EMPTY; MAX_CALL_DEPTH];
        // SAFETY: forwarded from the caller.
        unsafe { self.run_on(args, Limits::DEFAULT, &mut frames) }
    }

    /// Runs the program as [`Self::run`] does, within `limits`, with
    /// `frames` as its call stack: calls nest at most
    /// `min(limits.call_depth, frames.len())` deep, and the native stack
    /// used does not depend on the program.
    ///
    /// A call beyond the depth fails with [`Error::CallDepthExceeded`], an
    /// instruction beyond the fuel with [`Error::FuelExhausted`]; memory the
    /// program wrote until then stays written.
    ///
    /// # Safety
    /// As for [`Self::run`].
    pub unsafe fn run_on(
        &self,
        args: [u64; 4],
        limits: Limits,
        frames: &mut [Frame],
    ) -> Result<u64, Error> {
        let depth_limit = limits.call_depth.min(frames.len());
        let mut fuel = limits.fuel;
        let mut depth = 0;
        let mut pc = 0;
        let mut r = args;
        let reg = |r: &[u64; 4], x: Reg| r[x.index()];
        loop {
            let Some(&insn) = self.program.get(pc) else {
                // Running off the end returns, from a call too.
                match return_to(frames, &mut depth, &mut r) {
                    Some(ret) => {
                        pc = ret;
                        continue;
                    }
                    None => return Ok(r[0]),
                }
            };
            if fuel == 0 {
                return Err(Error::FuelExhausted);
            }
            fuel -= 1;
            pc += 1;
            match insn {
                Insn::Bin { op, dst, lhs, rhs } => {
                    r[dst.index()] = binary(op, reg(&r, lhs), reg(&r, rhs))
                }
                Insn::BinImm { op, dst, lhs, imm } => {
                    r[dst.index()] = binary(op, reg(&r, lhs), imm)
                }
                Insn::BinImm32 { op, dst, lhs, imm } => {
                    r[dst.index()] = u64::from(binary(op.wide(), reg(&r, lhs), imm) as u32)
                }
                Insn::Unary { op, dst, src } => r[dst.index()] = unary(op, reg(&r, src)),
                Insn::Mov { dst, src } => r[dst.index()] = reg(&r, src),
                Insn::MovImm { dst, imm } => r[dst.index()] = imm,
                Insn::Branch {
                    cond,
                    lhs,
                    rhs,
                    target,
                } => {
                    if holds(cond, reg(&r, lhs), reg(&r, rhs)) {
                        pc = self.target(target);
                    }
                }
                Insn::BranchImm {
                    cond,
                    lhs,
                    imm,
                    target,
                } => {
                    if holds(cond, reg(&r, lhs), imm) {
                        pc = self.target(target);
                    }
                }
                Insn::BranchMem {
                    cond,
                    base,
                    offset,
                    imm,
                    target,
                } => {
                    // SAFETY: as for loads.
                    let word = unsafe { load(Load::U64, address(reg(&r, base), offset)) };
                    if holds(cond, word, imm) {
                        pc = self.target(target);
                    }
                }
                Insn::Jump { target } => pc = self.target(target),
                Insn::Load {
                    kind,
                    dst,
                    base,
                    offset,
                } => {
                    // SAFETY: the caller vouches for the program's accesses.
                    r[dst.index()] = unsafe { load(kind, address(reg(&r, base), offset)) };
                }
                Insn::Store {
                    width,
                    src,
                    base,
                    offset,
                } => {
                    // SAFETY: as for loads.
                    unsafe { store(width, address(reg(&r, base), offset), reg(&r, src)) };
                }
                Insn::Push { src } => {
                    let value = reg(&r, src);
                    r[3] = r[3].wrapping_sub(8);
                    // SAFETY: as for loads; R3 points into the caller's stack.
                    unsafe { store(Width::W64, address(r[3], 0), value) };
                }
                Insn::Pop { dst } => {
                    // SAFETY: as for loads.
                    let value = unsafe { load(Load::U64, address(r[3], 0)) };
                    r[3] = r[3].wrapping_add(8);
                    r[dst.index()] = value;
                }
                Insn::CallHost { dst, func } => r[dst.index()] = func(r[0], r[1], r[2], r[3]),
                Insn::Call { target } => {
                    let frame = match frames.get_mut(depth) {
                        Some(frame) if depth < depth_limit => frame,
                        _ => return Err(Error::CallDepthExceeded),
                    };
                    *frame = Frame {
                        ret: pc,
                        kept: [r[1], r[2], r[3]],
                    };
                    depth += 1;
                    pc = self.target(target);
                }
                Insn::Ret => match return_to(frames, &mut depth, &mut r) {
                    Some(ret) => pc = ret,
                    None => return Ok(r[0]),
                },
                Insn::RetImm { imm } => {
                    r[0] = imm;
                    match return_to(frames, &mut depth, &mut r) {
                        Some(ret) => pc = ret,
                        None => return Ok(r[0]),
                    }
                }
                Insn::Nop | Insn::Bind(_) => {}
            }
        }
    }

    /// The instruction index `label` is bound to; `new` checked that it is.
    #[inline]
    fn target(&self, label: Label) -> usize {
        self.targets[usize::from(label.0)]
    }
}

/// Returns from a call: pops the innermost frame, restores the caller's
/// `R1`–`R3` (`R0` is the result) and gives the instruction to continue at;
/// `None` at the outermost level, where the program itself returns.
#[inline]
fn return_to(frames: &[Frame], depth: &mut usize, r: &mut [u64; 4]) -> Option<usize> {
    *depth = depth.checked_sub(1)?;
    let frame = frames.get(*depth)?;
    r[1..].copy_from_slice(&frame.kept);
    Some(frame.ret)
}

/// `lhs op rhs`, as `ops/semantics.h` defines it.
pub(crate) fn binary(op: BinOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << (b & 63),
        BinOp::Shr => a >> (b & 63),
        BinOp::Sar => (sa >> (b & 63)) as u64,
        BinOp::UDiv => a.checked_div(b).unwrap_or(0),
        BinOp::URem => a.checked_rem(b).unwrap_or(a),
        BinOp::SDiv if b == 0 => 0,
        BinOp::SDiv => sa.wrapping_div(sb) as u64,
        BinOp::SRem if b == 0 => a,
        BinOp::SRem => sa.wrapping_rem(sb) as u64,
    }
}

/// `op a`.
pub(crate) fn unary(op: UnOp, a: u64) -> u64 {
    match op {
        UnOp::Not => !a,
        UnOp::Neg => a.wrapping_neg(),
    }
}

/// Whether `a cond b`.
pub(crate) fn holds(cond: Cond, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::ULt => a < b,
        Cond::ULe => a <= b,
        Cond::UGt => a > b,
        Cond::UGe => a >= b,
        Cond::SLt => sa < sb,
        Cond::SLe => sa <= sb,
        Cond::SGt => sa > sb,
        Cond::SGe => sa >= sb,
        Cond::Test => a & b != 0,
        Cond::NotTest => a & b == 0,
    }
}

/// `base + offset` as a pointer, truncated to the pointer width as the
/// stencils do.
fn address(base: u64, offset: i64) -> usize {
    base.wrapping_add(offset as u64) as usize
}

/// # Safety
/// `at` must be valid for reading `kind.size()` bytes.
unsafe fn load(kind: Load, at: usize) -> u64 {
    let p = at as *const u8;
    // SAFETY: forwarded from the caller; unaligned reads are fine here.
    unsafe {
        match kind {
            Load::U8 => u64::from(p.read()),
            Load::U16 => u64::from(p.cast::<u16>().read_unaligned()),
            Load::U32 => u64::from(p.cast::<u32>().read_unaligned()),
            Load::U64 => p.cast::<u64>().read_unaligned(),
            Load::I8 => p.cast::<i8>().read() as u64,
            Load::I16 => p.cast::<i16>().read_unaligned() as u64,
            Load::I32 => p.cast::<i32>().read_unaligned() as u64,
            Load::Be16 => u64::from(u16::from_be(p.cast::<u16>().read_unaligned())),
            Load::Be32 => u64::from(u32::from_be(p.cast::<u32>().read_unaligned())),
            Load::Be64 => u64::from_be(p.cast::<u64>().read_unaligned()),
        }
    }
}

/// # Safety
/// `at` must be valid for writing `width.size()` bytes.
unsafe fn store(width: Width, at: usize, value: u64) {
    let p = at as *mut u8;
    // SAFETY: forwarded from the caller.
    unsafe {
        match width {
            Width::W8 => p.write(value as u8),
            Width::W16 => p.cast::<u16>().write_unaligned(value as u16),
            Width::W32 => p.cast::<u32>().write_unaligned(value as u32),
            Width::W64 => p.cast::<u64>().write_unaligned(value),
        }
    }
}
