//! Stencil forms: every op family with its registers fixed.
//!
//! This file is shared with `build.rs`. The build script walks
//! [`Table::forms`] to generate one C function per form, in table order; the
//! emitter maps an instruction to its form with [`Table::index`]. Both use
//! the same arithmetic below, and the build checks that they agree.
//!
//! Besides the crate's features, the forms depend on one thing about the
//! target, its pointer width ([`Table::regs_in_slot`]), which a [`Table`] is
//! made for: the crate's is `crate::stencil::TABLE`, made from its own
//! `usize`; `build.rs`, where `usize` is the host's, makes it from cargo's
//! `CARGO_CFG_TARGET_POINTER_WIDTH`.

use crate::isa::{BinOp, BinOp32, Cond, Load, Reg, UnOp, Width};

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
    /// `if mem64[base + slot0] cond slot1 goto slot2`.
    BranchMem(Cond, Reg),
    /// `dst = zext32(lhs op slot0)`.
    BinImm32(BinOp32, Reg, Reg),
    /// `dst = lhs op rhs` for any registers, whose numbers slot0 holds
    /// ([`reg_numbers`]): one stencil for every register form of the
    /// operation, where [`Table::regs_in_slot`] says so.
    BinAny(BinOp, Reg, Reg, Reg),
    /// `dst = lhs op slot0` for any registers, whose numbers slot1 holds
    /// ([`reg_numbers`], `rhs` unused): one stencil for every register form
    /// of the operation, where [`Table::regs_in_slot`] says so.
    BinImmAny(BinOp, Reg, Reg),
}

const R: usize = 4;

// ---- Which forms the crate's features include --------------------------
//
// Each cargo feature of the crate leaves a set of forms out when it is off
// (the README's "Flash budget" lists them). A form left out is neither
// compiled nor linked nor in the table: [`Table::forms`] skips it, the
// table is numbered without it, and its [`Table::index`] is
// [`Table::len`], past the table's end, so the emitter finds no stencil for
// it. A form or operator no feature names is always included.

/// Whether the binary operation's forms are included.
#[allow(
    clippy::match_like_matches_macro,
    reason = "one arm per feature, whichever are on"
)]
const fn bin_op_included(op: BinOp) -> bool {
    match op {
        BinOp::Mul => cfg!(feature = "mul"),
        BinOp::UDiv | BinOp::SDiv | BinOp::URem | BinOp::SRem => cfg!(feature = "div"),
        BinOp::Shl | BinOp::Shr | BinOp::Sar => cfg!(feature = "shift"),
        _ => true,
    }
}

/// Whether the 32-bit operation's forms are included: with its 64-bit
/// operation (`mul32` with `mul`, `shl32` with `shift`).
const fn bin_op32_included(op: BinOp32) -> bool {
    bin_op_included(op.wide())
}

/// Whether the branch condition's forms (register and immediate) are
/// included.
#[allow(
    clippy::match_like_matches_macro,
    reason = "one arm per feature, whichever are on"
)]
const fn cond_included(cond: Cond) -> bool {
    match cond {
        // Each is another condition with its operands swapped.
        Cond::ULe | Cond::UGt | Cond::SLe | Cond::SGt => cfg!(feature = "cond-swapped"),
        Cond::Test | Cond::NotTest => cfg!(feature = "cond-test"),
        _ => true,
    }
}

/// Whether the load kind's forms are included.
#[allow(
    clippy::match_like_matches_macro,
    reason = "one arm per feature, whichever are on"
)]
const fn load_included(kind: Load) -> bool {
    match kind {
        Load::I8 | Load::I16 | Load::I32 => cfg!(feature = "load-signed"),
        Load::Be16 | Load::Be32 | Load::Be64 => cfg!(feature = "load-be"),
        _ => true,
    }
}

/// Whether ALU forms whose destination is not their left operand are
/// included (without them, `dst = dst op rhs` only).
const THREE_ADDRESS: bool = cfg!(feature = "three-address");

/// The included members of an operator enum: each member's position among
/// them, so that the table has no room for the others.
#[derive(Clone, Copy, Debug)]
struct Subset<const N: usize> {
    /// Position among the included members, for each member.
    rank: [u8; N],
    /// How many members are included.
    len: usize,
    /// Whether every included member's rank is its own index (no member
    /// left out comes before one included), so that none is looked up.
    identity: bool,
}

impl<const N: usize> Subset<N> {
    const fn new(included: [bool; N]) -> Self {
        let mut rank = [0; N];
        let mut len = 0;
        let mut identity = true;
        let mut i = 0;
        while i < N {
            rank[i] = len as u8;
            if included[i] {
                identity = identity && len == i;
                len += 1;
            }
            i += 1;
        }
        Subset {
            rank,
            len,
            identity,
        }
    }

    /// The position of the member with index `i` among the included ones.
    #[inline(always)]
    const fn rank(&self, i: usize) -> usize {
        if self.identity {
            i
        } else {
            self.rank[i] as usize
        }
    }
}

/// The [`Subset`] of an operator enum's `ALL` whose members `op` the
/// expression `included` keeps.
macro_rules! subset {
    ($enum:ident, $op:ident => $included:expr) => {{
        let mut included = [false; $enum::ALL.len()];
        let mut i = 0;
        while i < included.len() {
            let $op = $enum::ALL[i];
            included[i] = $included;
            i += 1;
        }
        Subset::new(included)
    }};
}

const BIN_OPS32: Subset<{ BinOp32::ALL.len() }> = subset!(BinOp32, op => bin_op32_included(op));
const CONDS: Subset<{ Cond::ALL.len() }> = subset!(Cond, c => cond_included(c));
const LOADS: Subset<{ Load::ALL.len() }> = subset!(Load, k => load_included(k));

/// Register forms of a binary operation with and without an immediate.
const BIN_REGS: usize = if THREE_ADDRESS { R * R * R } else { R * R };
const BIN_IMM_REGS: usize = if THREE_ADDRESS { R * R } else { R };

/// `n` if `feature` is on, else 0.
const fn count_if(feature: bool, n: usize) -> usize {
    if feature { n } else { 0 }
}

/// How many families of forms there are.
const FAMILIES: usize = 23;

/// Whether a binary operation's forms take their registers' numbers from a
/// slot on a target whose pointers are 32 bits wide (`narrow`) or not; see
/// [`Table::regs_in_slot`].
const fn regs_in_slot(narrow: bool, op: BinOp) -> bool {
    narrow && op.is_division()
}

/// Where [`Variant::BinAny`] and [`Variant::BinImmAny`] find each register's
/// number (0 to 3) in their slot: the lowest bit of the destination's, the
/// left operand's and the right operand's. `build/cgen.rs` hands them to the
/// C op.
pub const REG_FIELDS: [u32; 3] = [0, 8, 16];

/// The slot value that names the registers of a [`Variant::BinAny`] or
/// [`Variant::BinImmAny`] (which has no `rhs`: any register will do).
#[inline(always)]
pub const fn reg_numbers(dst: Reg, lhs: Reg, rhs: Reg) -> u64 {
    (dst as u64) << REG_FIELDS[0] | (lhs as u64) << REG_FIELDS[1] | (rhs as u64) << REG_FIELDS[2]
}

/// The stencil table's forms for one target: which forms there are, in
/// which order, given the crate's features and the target's pointer width.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// Whether the target's pointers are 32 bits wide (else 64).
    narrow: bool,
    /// The included operators with a form per register assignment
    /// ([`Variant::Bin`], [`Variant::BinImm`]).
    bin_ops: Subset<{ BinOp::ALL.len() }>,
    /// The included operators with one form for every register assignment
    /// ([`Variant::BinAny`], [`Variant::BinImmAny`]).
    any_ops: Subset<{ BinOp::ALL.len() }>,
    /// The index of the first form of each family, in table order, and the
    /// number of forms.
    base: [usize; FAMILIES + 1],
}

impl Table {
    /// The forms for a target whose pointers are `pointer_width` bits wide.
    pub const fn new(pointer_width: u32) -> Table {
        let narrow = pointer_width <= 32;
        let bin_ops = subset!(BinOp, op => bin_op_included(op) && !regs_in_slot(narrow, op));
        let any_ops = subset!(BinOp, op => bin_op_included(op) && regs_in_slot(narrow, op));
        let alu_imm = cfg!(feature = "alu-imm");
        let branch_imm = cfg!(feature = "branch-imm");
        let stack = cfg!(feature = "stack");
        // How many forms each family has, in table order.
        let families: [usize; FAMILIES] = [
            1,                                               // Empty
            1,                                               // Nop
            bin_ops.len * BIN_REGS,                          // Bin
            count_if(alu_imm, bin_ops.len * BIN_IMM_REGS),   // BinImm
            UnOp::ALL.len() * R * R,                         // Unary
            R * R,                                           // Mov
            R,                                               // MovImm
            CONDS.len * R * R,                               // Branch
            count_if(branch_imm, CONDS.len * R),             // BranchImm
            1,                                               // Jump
            LOADS.len * R * R,                               // Load
            Width::ALL.len() * R * R,                        // Store
            count_if(stack, R),                              // Push
            count_if(stack, R),                              // Pop
            count_if(cfg!(feature = "call-host"), R),        // CallHost
            count_if(cfg!(feature = "call"), 1),             // Call
            1,                                               // Ret
            1,                                               // Skip
            1,                                               // RetImm
            count_if(branch_imm, CONDS.len * R),             // BranchMem
            count_if(alu_imm, BIN_OPS32.len * BIN_IMM_REGS), // BinImm32
            any_ops.len,                                     // BinAny
            count_if(alu_imm, any_ops.len),                  // BinImmAny
        ];
        let mut base = [0; FAMILIES + 1];
        let mut i = 0;
        while i < FAMILIES {
            base[i + 1] = base[i] + families[i];
            i += 1;
        }
        Table {
            narrow,
            bin_ops,
            any_ops,
            base,
        }
    }

    /// Whether `op`'s register forms are one stencil that reads the
    /// registers' numbers from a slot ([`Variant::BinAny`],
    /// [`Variant::BinImmAny`]) rather than a stencil per register form:
    /// division and remainder where pointers are 32 bits wide. There a
    /// 64-bit division is a loop of 64 steps inlined into the op
    /// (`ops/semantics.h`: libgcc's routine lies outside it), 160 to 900
    /// bytes that would otherwise be repeated in each of 80 forms, and
    /// picking the registers by number costs nothing next to it. 64-bit
    /// targets divide with an instruction or a few, so their forms stay
    /// small and keep their registers fixed.
    #[inline(always)]
    pub const fn regs_in_slot(&self, op: BinOp) -> bool {
        regs_in_slot(self.narrow, op)
    }

    /// The number of stencil forms the crate's features include.
    #[inline(always)]
    pub const fn len(&self) -> usize {
        self.base[FAMILIES]
    }

    /// The form's position in the stencil table.
    ///
    /// The emitter computes this for every op, so every family takes the
    /// same path: a constant first index plus a mixed-radix number of four
    /// digits (the family's operator, then one base-4 digit per register),
    /// padded with leading zeros. Operators and register forms the crate's
    /// features leave out take no room: an operator's digit is its rank
    /// among the included ones, and without `three-address` an ALU form
    /// has no digit for its left operand (it is the destination). A form
    /// with its registers in a slot has no register digits. A form left out
    /// gets [`Table::len`], past the table.
    #[inline(always)]
    pub const fn index(&self, v: Variant) -> usize {
        if !self.includes(v) {
            return self.len();
        }
        let base = &self.base;
        let (first, digits) = match v {
            Variant::Empty => (base[0], [0; 4]),
            Variant::Nop => (base[1], [0; 4]),
            Variant::Bin(op, d, a, b) => {
                let op = self.bin_ops.rank(op as usize);
                if THREE_ADDRESS {
                    (base[2], [op, d as usize, a as usize, b as usize])
                } else {
                    (base[2], [0, op, d as usize, b as usize])
                }
            }
            Variant::BinImm(op, d, a) => {
                let op = self.bin_ops.rank(op as usize);
                if THREE_ADDRESS {
                    (base[3], [0, op, d as usize, a as usize])
                } else {
                    (base[3], [0, 0, op, d as usize])
                }
            }
            Variant::Unary(op, d, a) => (base[4], [0, op as usize, d as usize, a as usize]),
            Variant::Mov(d, s) => (base[5], [0, 0, d as usize, s as usize]),
            Variant::MovImm(d) => (base[6], [0, 0, 0, d as usize]),
            Variant::Branch(c, a, b) => {
                (base[7], [0, CONDS.rank(c as usize), a as usize, b as usize])
            }
            Variant::BranchImm(c, a) => (base[8], [0, 0, CONDS.rank(c as usize), a as usize]),
            Variant::Jump => (base[9], [0; 4]),
            Variant::Load(k, d, b) => (
                base[10],
                [0, LOADS.rank(k as usize), d as usize, b as usize],
            ),
            Variant::Store(w, s, b) => (base[11], [0, w as usize, s as usize, b as usize]),
            Variant::Push(s) => (base[12], [0, 0, 0, s as usize]),
            Variant::Pop(d) => (base[13], [0, 0, 0, d as usize]),
            Variant::CallHost(d) => (base[14], [0, 0, 0, d as usize]),
            Variant::Call => (base[15], [0; 4]),
            Variant::Ret => (base[16], [0; 4]),
            Variant::Skip => (base[17], [0; 4]),
            Variant::RetImm => (base[18], [0; 4]),
            Variant::BranchMem(c, b) => (base[19], [0, 0, CONDS.rank(c as usize), b as usize]),
            Variant::BinImm32(op, d, a) => {
                let op = BIN_OPS32.rank(op as usize);
                if THREE_ADDRESS {
                    (base[20], [0, op, d as usize, a as usize])
                } else {
                    (base[20], [0, 0, op, d as usize])
                }
            }
            Variant::BinAny(op, ..) => (base[21], [0, 0, 0, self.any_ops.rank(op as usize)]),
            Variant::BinImmAny(op, ..) => (base[22], [0, 0, 0, self.any_ops.rank(op as usize)]),
        };
        first + ((digits[0] * R + digits[1]) * R + digits[2]) * R + digits[3]
    }

    /// Whether the table has the form: whether the crate's features
    /// include it (see the README's "Flash budget") and, for a binary
    /// operation, whether the target gives it this kind of form
    /// ([`Table::regs_in_slot`]). A form left out has no stencil.
    #[inline(always)]
    pub const fn includes(&self, v: Variant) -> bool {
        match v {
            Variant::Bin(op, d, a, _) => {
                bin_op_included(op)
                    && !self.regs_in_slot(op)
                    && (THREE_ADDRESS || d as u8 == a as u8)
            }
            Variant::BinAny(op, d, a, _) => {
                bin_op_included(op)
                    && self.regs_in_slot(op)
                    && (THREE_ADDRESS || d as u8 == a as u8)
            }
            Variant::BinImm(op, d, a) => {
                cfg!(feature = "alu-imm")
                    && bin_op_included(op)
                    && !self.regs_in_slot(op)
                    && (THREE_ADDRESS || d as u8 == a as u8)
            }
            Variant::BinImmAny(op, d, a) => {
                cfg!(feature = "alu-imm")
                    && bin_op_included(op)
                    && self.regs_in_slot(op)
                    && (THREE_ADDRESS || d as u8 == a as u8)
            }
            Variant::Branch(c, ..) => cond_included(c),
            Variant::BranchImm(c, _) | Variant::BranchMem(c, _) => {
                cfg!(feature = "branch-imm") && cond_included(c)
            }
            Variant::BinImm32(op, d, a) => {
                cfg!(feature = "alu-imm")
                    && bin_op_included(op.wide())
                    && (THREE_ADDRESS || d as u8 == a as u8)
            }
            Variant::Load(k, ..) => load_included(k),
            Variant::Push(_) | Variant::Pop(_) => cfg!(feature = "stack"),
            Variant::CallHost(_) => cfg!(feature = "call-host"),
            Variant::Call => cfg!(feature = "call"),
            _ => true,
        }
    }

    /// Every form the table has, in table order; a form with its
    /// registers in a slot stands for all its register forms as the one
    /// with every register `R0`.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "build.rs, which shares this file, uses it")
    )]
    pub fn forms(&self) -> impl Iterator<Item = Variant> {
        let table = *self;
        let regs = Reg::ALL;
        let r2 = move || regs.into_iter().flat_map(move |a| regs.map(|b| (a, b)));
        let r3 = move || r2().flat_map(move |(a, b)| regs.map(move |c| (a, b, c)));
        let r0 = Reg::R0;
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
            .chain(
                Cond::ALL
                    .iter()
                    .flat_map(move |&c| regs.map(move |b| Variant::BranchMem(c, b))),
            )
            .chain(
                BinOp32::ALL
                    .iter()
                    .flat_map(move |&op| r2().map(move |(d, a)| Variant::BinImm32(op, d, a))),
            )
            .chain(
                BinOp::ALL
                    .iter()
                    .map(move |&op| Variant::BinAny(op, r0, r0, r0)),
            )
            .chain(
                BinOp::ALL
                    .iter()
                    .map(move |&op| Variant::BinImmAny(op, r0, r0)),
            )
            .filter(move |&v| table.includes(v))
    }
}

impl Variant {
    /// How many 8-byte data slots the form reads, at a fixed distance from
    /// its code (see `crate::layout`).
    pub const fn slots(self) -> usize {
        match self {
            Variant::BranchMem(..) => 3,
            Variant::BranchImm(..) | Variant::BinImmAny(..) => 2,
            Variant::BinImm(..)
            | Variant::BinAny(..)
            | Variant::BinImm32(..)
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
}
