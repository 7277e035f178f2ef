//! The reference interpreter: the same instructions with the same meaning,
//! run directly. It is the oracle the JIT is tested against, and a fallback
//! for embedders that cannot make memory executable.

use crate::error::Error;
use crate::isa::{BinOp, Cond, Insn, Load, Reg, UnOp, Width};
use crate::lower;

/// How deep [`Insn::Call`]s may nest in the interpreter.
pub const MAX_CALL_DEPTH: usize = 1024;

/// A checked program, ready to interpret. `LABELS` bounds the label numbers
/// as in [`crate::Assembler`].
pub struct Interpreter<'p, const LABELS: usize = 64> {
    program: &'p [Insn],
    /// The instruction index each label is bound to.
    targets: [usize; LABELS],
}

impl<'p, const LABELS: usize> Interpreter<'p, LABELS> {
    /// Checks `program` exactly as the assembler would: operand ranges, and
    /// every used label bound once.
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
            .find(|l| targets[usize::from(l.0)] == UNBOUND)
        {
            return Err(Error::UnboundLabel(l));
        }
        Ok(Interpreter { program, targets })
    }

    /// Runs the program with the four registers set to `args`, and returns
    /// `R0`. Running off the end returns, as generated code does.
    ///
    /// # Safety
    /// As for [`crate::Executable::call`]: memory accesses must be valid, and
    /// host functions safe to call with the registers they receive.
    pub unsafe fn run(&self, args: [u64; 4]) -> Result<u64, Error> {
        // SAFETY: forwarded from the caller.
        unsafe { self.exec(0, args, 0) }
    }

    /// # Safety
    /// As for [`Self::run`].
    unsafe fn exec(&self, mut pc: usize, mut r: [u64; 4], depth: usize) -> Result<u64, Error> {
        let reg = |r: &[u64; 4], x: Reg| r[x.index()];
        while let Some(&insn) = self.program.get(pc) {
            pc += 1;
            match insn {
                Insn::Bin { op, dst, lhs, rhs } => {
                    r[dst.index()] = binary(op, reg(&r, lhs), reg(&r, rhs))
                }
                Insn::BinImm { op, dst, lhs, imm } => {
                    r[dst.index()] = binary(op, reg(&r, lhs), imm)
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
                        pc = self.targets[usize::from(target.0)];
                    }
                }
                Insn::BranchImm {
                    cond,
                    lhs,
                    imm,
                    target,
                } => {
                    if holds(cond, reg(&r, lhs), imm) {
                        pc = self.targets[usize::from(target.0)];
                    }
                }
                Insn::Jump { target } => pc = self.targets[usize::from(target.0)],
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
                    if depth >= MAX_CALL_DEPTH {
                        return Err(Error::CallDepthExceeded);
                    }
                    // SAFETY: forwarded from the caller.
                    r[0] = unsafe { self.exec(self.targets[usize::from(target.0)], r, depth + 1)? };
                }
                Insn::Ret => return Ok(r[0]),
                Insn::Nop | Insn::Bind(_) => {}
            }
        }
        Ok(r[0])
    }
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
