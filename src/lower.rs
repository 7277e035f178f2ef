//! From an instruction to its stencil form and slot values, with the operand
//! checks the emitter and the interpreter share.

use crate::error::Error;
use crate::isa::{Insn, Label};
use crate::variant::Variant;

/// What goes into one data slot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// A value, stored as is.
    Value(u64),
    /// A code address, stored relative to the slot.
    Label(Label),
}

/// Checks the operands an instruction form constrains, and that every label
/// it names is below `labels`.
pub(crate) fn check(insn: &Insn, labels: usize) -> Result<(), Error> {
    match *insn {
        Insn::BinImm { op, imm, .. } if op.is_shift() && imm > 63 => {
            Err(Error::ImmediateOutOfRange { imm, max: 63 })
        }
        _ => match target(insn) {
            Some(l) if usize::from(l.0) >= labels => Err(Error::LabelOutOfRange(l)),
            _ => Ok(()),
        },
    }
}

/// The label an instruction refers to or binds, if any.
pub(crate) fn target(insn: &Insn) -> Option<Label> {
    match *insn {
        Insn::Branch { target, .. }
        | Insn::BranchImm { target, .. }
        | Insn::Jump { target }
        | Insn::Call { target } => Some(target),
        Insn::Bind(l) => Some(l),
        _ => None,
    }
}

/// The stencil form of `insn` and its slot values; `None` for a pseudo
/// instruction that emits nothing ([`Insn::Bind`]).
pub(crate) fn lower(insn: &Insn) -> Option<(Variant, [Slot; 2])> {
    const NONE: Slot = Slot::Value(0);
    let v = Slot::Value;
    Some(match *insn {
        Insn::Bin { op, dst, lhs, rhs } => (Variant::Bin(op, dst, lhs, rhs), [NONE; 2]),
        Insn::BinImm { op, dst, lhs, imm } => (Variant::BinImm(op, dst, lhs), [v(imm), NONE]),
        Insn::Unary { op, dst, src } => (Variant::Unary(op, dst, src), [NONE; 2]),
        Insn::Mov { dst, src } => (Variant::Mov(dst, src), [NONE; 2]),
        Insn::MovImm { dst, imm } => (Variant::MovImm(dst), [v(imm), NONE]),
        Insn::Branch {
            cond,
            lhs,
            rhs,
            target,
        } => (Variant::Branch(cond, lhs, rhs), [Slot::Label(target), NONE]),
        Insn::BranchImm {
            cond,
            lhs,
            imm,
            target,
        } => (Variant::BranchImm(cond, lhs), [v(imm), Slot::Label(target)]),
        Insn::Jump { target } => (Variant::Jump, [Slot::Label(target), NONE]),
        Insn::Load {
            kind,
            dst,
            base,
            offset,
        } => (Variant::Load(kind, dst, base), [v(offset as u64), NONE]),
        Insn::Store {
            width,
            src,
            base,
            offset,
        } => (Variant::Store(width, src, base), [v(offset as u64), NONE]),
        Insn::Push { src } => (Variant::Push(src), [NONE; 2]),
        Insn::Pop { dst } => (Variant::Pop(dst), [NONE; 2]),
        Insn::CallHost { dst, func } => (Variant::CallHost(dst), [v(func as usize as u64), NONE]),
        Insn::Call { target } => (Variant::Call, [Slot::Label(target), NONE]),
        Insn::Ret => (Variant::Ret, [NONE; 2]),
        Insn::Nop => (Variant::Nop, [NONE; 2]),
        Insn::Bind(_) => return None,
    })
}
