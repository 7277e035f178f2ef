//! From an instruction to its stencil form and slot values, with the operand
//! checks the emitter and the interpreter share.

use crate::error::Error;
use crate::isa::{Insn, Label};
use crate::stencil::TABLE;
use crate::variant::{Variant, reg_numbers};

/// What goes into one data slot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// A value, stored as is.
    Value(u64),
    /// A code address, stored relative to the slot.
    Label(Label),
}

/// Receives an instruction's stencil form and slot values from
/// [`lower_with`], with the number of slots known at compile time.
///
/// The emitter implements it to place the stencil directly, so the one
/// `match` over the instruction in [`lower_with`] is all the dispatching it
/// does, and every slot count and kind is a constant where it is used.
pub(crate) trait Form {
    /// What receiving the form produces.
    type Output;

    /// Receives the form and its `N` slots (`N` is `variant.slots()`).
    fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output;
}

/// Hands the stencil form of `insn` and its slot values to `form`; `None`
/// for a pseudo instruction that emits nothing ([`Insn::Bind`]).
#[inline(always)]
pub(crate) fn lower_with<F: Form>(insn: &Insn, form: F) -> Option<F::Output> {
    let v = Slot::Value;
    Some(match *insn {
        // A constant `false` but for division where pointers are 32 bits.
        Insn::Bin { op, dst, lhs, rhs } if TABLE.regs_in_slot(op) => form.form(
            Variant::BinAny(op, dst, lhs, rhs),
            [v(reg_numbers(dst, lhs, rhs))],
        ),
        Insn::Bin { op, dst, lhs, rhs } => form.form(Variant::Bin(op, dst, lhs, rhs), []),
        Insn::BinImm { op, dst, lhs, imm } if TABLE.regs_in_slot(op) => form.form(
            Variant::BinImmAny(op, dst, lhs),
            [v(imm), v(reg_numbers(dst, lhs, dst))],
        ),
        Insn::BinImm { op, dst, lhs, imm } => form.form(Variant::BinImm(op, dst, lhs), [v(imm)]),
        Insn::BinImm32 { op, dst, lhs, imm } => {
            form.form(Variant::BinImm32(op, dst, lhs), [v(imm)])
        }
        Insn::Unary { op, dst, src } => form.form(Variant::Unary(op, dst, src), []),
        Insn::Mov { dst, src } => form.form(Variant::Mov(dst, src), []),
        Insn::MovImm { dst, imm } => form.form(Variant::MovImm(dst), [v(imm)]),
        Insn::Branch {
            cond,
            lhs,
            rhs,
            target,
        } => form.form(Variant::Branch(cond, lhs, rhs), [Slot::Label(target)]),
        Insn::BranchImm {
            cond,
            lhs,
            imm,
            target,
        } => form.form(Variant::BranchImm(cond, lhs), [v(imm), Slot::Label(target)]),
        Insn::BranchMem {
            cond,
            base,
            offset,
            imm,
            target,
        } => form.form(
            Variant::BranchMem(cond, base),
            [v(offset as u64), v(imm), Slot::Label(target)],
        ),
        Insn::Jump { target } => form.form(Variant::Jump, [Slot::Label(target)]),
        Insn::Load {
            kind,
            dst,
            base,
            offset,
        } => form.form(Variant::Load(kind, dst, base), [v(offset as u64)]),
        Insn::Store {
            width,
            src,
            base,
            offset,
        } => form.form(Variant::Store(width, src, base), [v(offset as u64)]),
        Insn::Push { src } => form.form(Variant::Push(src), []),
        Insn::Pop { dst } => form.form(Variant::Pop(dst), []),
        Insn::CallHost { dst, func } => {
            form.form(Variant::CallHost(dst), [v(func as usize as u64)])
        }
        Insn::Call { target } => form.form(Variant::Call, [Slot::Label(target)]),
        Insn::Ret => form.form(Variant::Ret, []),
        Insn::RetImm { imm } => form.form(Variant::RetImm, [v(imm)]),
        Insn::Nop => form.form(Variant::Nop, []),
        Insn::Bind(_) => return None,
    })
}

/// The stencil form of `insn` and its slot values; `None` for a pseudo
/// instruction that emits nothing ([`Insn::Bind`]).
#[inline]
pub(crate) fn lower(insn: &Insn) -> Option<(Variant, [Slot; 3])> {
    struct Pair;
    impl Form for Pair {
        type Output = (Variant, [Slot; 3]);
        #[inline(always)]
        fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output {
            let mut all = [Slot::Value(0); 3];
            all[..N].copy_from_slice(&slots);
            (variant, all)
        }
    }
    lower_with(insn, Pair)
}

/// Checks the operands an instruction form constrains, and that every label
/// it names is below `labels`.
#[inline]
pub(crate) fn check(insn: &Insn, labels: usize) -> Result<(), Error> {
    struct Check(usize);
    impl Form for Check {
        type Output = Result<(), Error>;
        #[inline(always)]
        fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output {
            check_form(variant, &slots, self.0)
        }
    }
    match *insn {
        Insn::Bind(label) => check_label(label, labels),
        _ => lower_with(insn, Check(labels)).unwrap_or(Ok(())),
    }
}

/// [`check`] for a lowered instruction: a shift's immediate is below 64,
/// and every label slot names a label below `labels`.
#[inline(always)]
pub(crate) fn check_form(variant: Variant, slots: &[Slot], labels: usize) -> Result<(), Error> {
    let shift = match variant {
        Variant::BinImm(op, ..) | Variant::BinImmAny(op, ..) => op.is_shift(),
        Variant::BinImm32(op, ..) => op.is_shift(),
        _ => false,
    };
    if let (true, [Slot::Value(imm), ..]) = (shift, slots)
        && *imm > 63
    {
        return Err(Error::ImmediateOutOfRange { imm: *imm, max: 63 });
    }
    for slot in slots {
        if let Slot::Label(l) = *slot {
            check_label(l, labels)?;
        }
    }
    Ok(())
}

/// Checks that `label` is below `labels`.
#[inline(always)]
pub(crate) fn check_label(label: Label, labels: usize) -> Result<(), Error> {
    if usize::from(label.0) < labels {
        Ok(())
    } else {
        Err(Error::LabelOutOfRange(label))
    }
}

/// The label an instruction refers to or binds, if any.
#[inline]
pub(crate) fn target(insn: &Insn) -> Option<Label> {
    match *insn {
        Insn::Branch { target, .. }
        | Insn::BranchImm { target, .. }
        | Insn::BranchMem { target, .. }
        | Insn::Jump { target }
        | Insn::Call { target } => Some(target),
        Insn::Bind(l) => Some(l),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{BinOp, Cond, Reg};

    /// Every instruction form's slot count agrees with its stencil form.
    #[test]
    fn slot_counts_match_the_forms() {
        struct Count;
        impl Form for Count {
            type Output = (Variant, usize);
            fn form<const N: usize>(self, variant: Variant, _: [Slot; N]) -> Self::Output {
                (variant, N)
            }
        }
        extern "C" fn host(_: u64, _: u64, _: u64, _: u64) -> u64 {
            0
        }
        let (r, l) = (Reg::R1, Label(3));
        let all = [
            Insn::Bin {
                op: BinOp::Add,
                dst: r,
                lhs: r,
                rhs: r,
            },
            Insn::BinImm {
                op: BinOp::Shl,
                dst: r,
                lhs: r,
                imm: 3,
            },
            Insn::Bin {
                op: BinOp::SRem,
                dst: r,
                lhs: r,
                rhs: Reg::R2,
            },
            Insn::BinImm {
                op: BinOp::UDiv,
                dst: r,
                lhs: r,
                imm: 3,
            },
            Insn::BinImm32 {
                op: crate::isa::BinOp32::Shl32,
                dst: r,
                lhs: r,
                imm: 3,
            },
            Insn::Unary {
                op: crate::isa::UnOp::Neg,
                dst: r,
                src: r,
            },
            Insn::Mov { dst: r, src: r },
            Insn::MovImm { dst: r, imm: 1 },
            Insn::Branch {
                cond: Cond::Eq,
                lhs: r,
                rhs: r,
                target: l,
            },
            Insn::BranchImm {
                cond: Cond::Eq,
                lhs: r,
                imm: 1,
                target: l,
            },
            Insn::BranchMem {
                cond: Cond::ULt,
                base: r,
                offset: 8,
                imm: 1,
                target: l,
            },
            Insn::Jump { target: l },
            Insn::Load {
                kind: crate::isa::Load::U8,
                dst: r,
                base: r,
                offset: 1,
            },
            Insn::Store {
                width: crate::isa::Width::W8,
                src: r,
                base: r,
                offset: 1,
            },
            Insn::Push { src: r },
            Insn::Pop { dst: r },
            Insn::CallHost { dst: r, func: host },
            Insn::Call { target: l },
            Insn::Ret,
            Insn::RetImm { imm: 7 },
            Insn::Nop,
        ];
        for insn in &all {
            let (variant, n) = lower_with(insn, Count).unwrap();
            assert_eq!(variant.slots(), n, "{insn:?}");
            assert_eq!(check(insn, 4), Ok(()), "{insn:?}");
            let labels_ok = target(insn).is_none();
            assert_eq!(check(insn, 3).is_ok(), labels_ok, "{insn:?}");
        }
        assert!(lower_with(&Insn::Bind(l), Count).is_none());
        let shift = Insn::BinImm {
            op: BinOp::Sar,
            dst: r,
            lhs: r,
            imm: 64,
        };
        assert_eq!(
            check(&shift, 4),
            Err(Error::ImmediateOutOfRange { imm: 64, max: 63 })
        );
        let shift32 = Insn::BinImm32 {
            op: crate::isa::BinOp32::Shl32,
            dst: r,
            lhs: r,
            imm: 64,
        };
        assert_eq!(
            check(&shift32, 4),
            Err(Error::ImmediateOutOfRange { imm: 64, max: 63 })
        );
    }
}
