//! Stencil forms: every op family with its registers fixed.
//!
//! This file is shared with `build.rs`. The build script walks
//! [`Variant::all`] to generate one C function per form, in table order; the
//! emitter maps an instruction to its form with [`Variant::index`]. Both use
//! the same arithmetic below, and the build checks that they agree.

use crate::isa::{BinOp, Cond, Load, Reg, UnOp, Width};

/// One stencil form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Only the continuation: the jump that is stripped from other ops.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "build.rs, which shares this file, uses it")
    )]
    Empty,
    /// One machine no-op, for padding.
    Nop,
    /// `dst = lhs op rhs`.
    Bin(BinOp, Reg, Reg, Reg),
    /// `dst = lhs op slot0`.
    BinImm(BinOp, Reg, Reg),
    /// `dst = op src`.
    Unary(UnOp, Reg, Reg),
    /// `dst = src`.
    Mov(Reg, Reg),
    /// `dst = slot0`.
    MovImm(Reg),
    /// `if lhs cond rhs goto slot0`.
    Branch(Cond, Reg, Reg),
    /// `if lhs cond slot0 goto slot1`.
    BranchImm(Cond, Reg),
    /// `goto slot0`.
    Jump,
    /// `dst = load(base + slot0)`.
    Load(Load, Reg, Reg),
    /// `store(base + slot0) = src`.
    Store(Width, Reg, Reg),
    /// Push a register.
    Push(Reg),
    /// Pop a register.
    Pop(Reg),
    /// `dst = host function in slot0 (registers)`.
    CallHost(Reg),
    /// `r0 = generated function at slot0 (registers)`.
    Call,
    /// Return r0.
    Ret,
    /// Continue [`SLOT_DISTANCE`](crate::stencil::SLOT_DISTANCE) bytes past
    /// the op's end: the jump from a full code block over its data block to
    /// the next code block. Emitted by the emitter, never by a program.
    Skip,
    /// `r0 = slot0`, then return r0.
    RetImm,
}

const R: usize = 4;

/// How many forms each family has, in table order.
const FAMILIES: [usize; 19] = [
    1,                            // Empty
    1,                            // Nop
    BinOp::ALL.len() * R * R * R, // Bin
    BinOp::ALL.len() * R * R,     // BinImm
    UnOp::ALL.len() * R * R,      // Unary
    R * R,                        // Mov
    R,                            // MovImm
    Cond::ALL.len() * R * R,      // Branch
    Cond::ALL.len() * R,          // BranchImm
    1,                            // Jump
    Load::ALL.len() * R * R,      // Load
    Width::ALL.len() * R * R,     // Store
    R,                            // Push
    R,                            // Pop
    R,                            // CallHost
    1,                            // Call
    1,                            // Ret
    1,                            // Skip
    1,                            // RetImm
];

/// The index of the first form of each family, and the number of forms.
const BASE: [usize; FAMILIES.len() + 1] = {
    let mut base = [0; FAMILIES.len() + 1];
    let mut i = 0;
    while i < FAMILIES.len() {
        base[i + 1] = base[i] + FAMILIES[i];
        i += 1;
    }
    base
};

/// The number of stencil forms.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "build.rs, which shares this file, uses it")
)]
pub const COUNT: usize = BASE[FAMILIES.len()];

impl Variant {
    /// The form's position in the stencil table.
    ///
    /// The emitter computes this for every op, so every family takes the
    /// same path: a constant first index plus a mixed-radix number of four
    /// digits (the family's operator, then one base-4 digit per register),
    /// padded with leading zeros.
    #[inline]
    pub const fn index(self) -> usize {
        let (first, digits) = match self {
            Variant::Empty => (BASE[0], [0; 4]),
            Variant::Nop => (BASE[1], [0; 4]),
            Variant::Bin(op, d, a, b) => {
                (BASE[2], [op as usize, d as usize, a as usize, b as usize])
            }
            Variant::BinImm(op, d, a) => (BASE[3], [0, op as usize, d as usize, a as usize]),
            Variant::Unary(op, d, a) => (BASE[4], [0, op as usize, d as usize, a as usize]),
            Variant::Mov(d, s) => (BASE[5], [0, 0, d as usize, s as usize]),
            Variant::MovImm(d) => (BASE[6], [0, 0, 0, d as usize]),
            Variant::Branch(c, a, b) => (BASE[7], [0, c as usize, a as usize, b as usize]),
            Variant::BranchImm(c, a) => (BASE[8], [0, 0, c as usize, a as usize]),
            Variant::Jump => (BASE[9], [0; 4]),
            Variant::Load(k, d, b) => (BASE[10], [0, k as usize, d as usize, b as usize]),
            Variant::Store(w, s, b) => (BASE[11], [0, w as usize, s as usize, b as usize]),
            Variant::Push(s) => (BASE[12], [0, 0, 0, s as usize]),
            Variant::Pop(d) => (BASE[13], [0, 0, 0, d as usize]),
            Variant::CallHost(d) => (BASE[14], [0, 0, 0, d as usize]),
            Variant::Call => (BASE[15], [0; 4]),
            Variant::Ret => (BASE[16], [0; 4]),
            Variant::Skip => (BASE[17], [0; 4]),
            Variant::RetImm => (BASE[18], [0; 4]),
        };
        first + ((digits[0] * R + digits[1]) * R + digits[2]) * R + digits[3]
    }

    /// How many 8-byte data slots the form reads, at a fixed distance from
    /// its code (see `crate::layout`).
    pub const fn slots(self) -> usize {
        match self {
            Variant::BranchImm(..) => 2,
            Variant::BinImm(..)
            | Variant::MovImm(_)
            | Variant::Branch(..)
            | Variant::Jump
            | Variant::Load(..)
            | Variant::Store(..)
            | Variant::CallHost(_)
            | Variant::Call
            | Variant::RetImm => 1,
            _ => 0,
        }
    }

    #[allow(dead_code, reason = "build.rs, which shares this file, uses it")]
    /// Whether the form never continues with the next op: a jump, a
    /// return, or a branch whose condition always holds (`x <= x`).
    pub const fn is_terminal(self) -> bool {
        match self {
            Variant::Jump | Variant::Ret | Variant::RetImm => true,
            Variant::Branch(c, a, b) => {
                a as u8 == b as u8
                    && matches!(c, Cond::Eq | Cond::ULe | Cond::UGe | Cond::SLe | Cond::SGe)
            }
            _ => false,
        }
    }

    /// Every form, in table order.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "build.rs, which shares this file, uses it")
    )]
    pub fn all() -> impl Iterator<Item = Variant> {
        let regs = Reg::ALL;
        let r2 = move || regs.into_iter().flat_map(move |a| regs.map(|b| (a, b)));
        let r3 = move || r2().flat_map(move |(a, b)| regs.map(move |c| (a, b, c)));
        [Variant::Empty, Variant::Nop]
            .into_iter()
            .chain(
                BinOp::ALL
                    .iter()
                    .flat_map(move |&op| r3().map(move |(d, a, b)| Variant::Bin(op, d, a, b))),
            )
            .chain(
                BinOp::ALL
                    .iter()
                    .flat_map(move |&op| r2().map(move |(d, a)| Variant::BinImm(op, d, a))),
            )
            .chain(
                UnOp::ALL
                    .iter()
                    .flat_map(move |&op| r2().map(move |(d, a)| Variant::Unary(op, d, a))),
            )
            .chain(r2().map(|(d, s)| Variant::Mov(d, s)))
            .chain(regs.map(Variant::MovImm))
            .chain(
                Cond::ALL
                    .iter()
                    .flat_map(move |&c| r2().map(move |(a, b)| Variant::Branch(c, a, b))),
            )
            .chain(
                Cond::ALL
                    .iter()
                    .flat_map(move |&c| regs.map(move |a| Variant::BranchImm(c, a))),
            )
            .chain([Variant::Jump])
            .chain(
                Load::ALL
                    .iter()
                    .flat_map(move |&k| r2().map(move |(d, b)| Variant::Load(k, d, b))),
            )
            .chain(
                Width::ALL
                    .iter()
                    .flat_map(move |&w| r2().map(move |(s, b)| Variant::Store(w, s, b))),
            )
            .chain(regs.map(Variant::Push))
            .chain(regs.map(Variant::Pop))
            .chain(regs.map(Variant::CallHost))
            .chain([Variant::Call, Variant::Ret, Variant::Skip, Variant::RetImm])
    }
}
