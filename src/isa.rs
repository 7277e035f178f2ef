//! The instruction set: four 64-bit registers and the instructions over them.
//!
//! Every instruction has the same meaning on every target and in the
//! [reference interpreter](crate::Interpreter). All arithmetic wraps; no
//! instruction has an undefined result. This file is shared with `build.rs`,
//! which generates one stencil per instruction form from it.

use core::fmt;

/// One of the four 64-bit registers.
///
/// All four are general purpose; [`Reg::SP`] (`R3`) is also the stack pointer
/// that [`Insn::Push`] and [`Insn::Pop`] use. Generated code is entered with
/// the four registers as its arguments and returns `R0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    /// Register 0: the first argument and the return value.
    R0,
    /// Register 1.
    R1,
    /// Register 2.
    R2,
    /// Register 3, also the stack pointer.
    R3,
}

impl Reg {
    /// The stack pointer used by push and pop: `R3`.
    pub const SP: Reg = Reg::R3;
    /// Every register, in order.
    pub const ALL: [Reg; 4] = [Reg::R0, Reg::R1, Reg::R2, Reg::R3];

    /// The register's number, 0 to 3.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The register's name in the C stencils.
    pub const fn c_name(self) -> &'static str {
        match self {
            Reg::R0 => "r0",
            Reg::R1 => "r1",
            Reg::R2 => "r2",
            Reg::R3 => "r3",
        }
    }
}

/// Declares a field-less enum with an `ALL` list, a C semantics function name
/// and a one-line description per variant.
macro_rules! op_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $c:literal, $doc:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = $doc] $variant,)*
        }

        impl $name {
            /// Every variant, in stencil-table order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The variant's position in [`Self::ALL`].
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The mnemonic, which is also the suffix of its C function `cj_<name>`.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $c,)* }
            }

            /// What the operation computes, in one line.
            pub const fn description(self) -> &'static str {
                match self { $($name::$variant => $doc,)* }
            }
        }
    };
}

op_enum! {
    /// A two-operand ALU operation: `dst = lhs op rhs`.
    BinOp {
        Add = "add", "Wrapping addition.";
        Sub = "sub", "Wrapping subtraction.";
        Mul = "mul", "Wrapping multiplication (low 64 bits).";
        And = "and", "Bitwise and.";
        Or = "or", "Bitwise or.";
        Xor = "xor", "Bitwise exclusive or.";
        Shl = "shl", "Shift left by `rhs % 64`.";
        Shr = "shr", "Logical shift right by `rhs % 64`.";
        Sar = "sar", "Arithmetic shift right by `rhs % 64`.";
        UDiv = "udiv", "Unsigned division; `x / 0 = 0`.";
        SDiv = "sdiv", "Signed division toward zero; `x / 0 = 0`, `i64::MIN / -1 = i64::MIN`.";
        URem = "urem", "Unsigned remainder; `x % 0 = x`.";
        SRem = "srem", "Signed remainder (sign of `lhs`); `x % 0 = x`, `i64::MIN % -1 = 0`.";
    }
}

op_enum! {
    /// A 32-bit ALU operation with an immediate: `dst = lhs op imm`
    /// computed in 64 bits, of which the low 32 are kept and zero-extended.
    ///
    /// These are the operations whose result on zero-extended 32-bit
    /// operands can reach past bit 31; the others (and, or, xor, logical
    /// shift right, unsigned division and remainder) keep such operands
    /// zero-extended as they are, so 32-bit code needs only these.
    BinOp32 {
        Add32 = "add32", "Wrapping 32-bit addition, zero-extended.";
        Sub32 = "sub32", "Wrapping 32-bit subtraction, zero-extended.";
        Mul32 = "mul32", "Wrapping 32-bit multiplication (low 32 bits), zero-extended.";
        Shl32 = "shl32", "The low 32 bits of `lhs << imm`, zero-extended (0 for `imm` 32 to 63).";
    }
}

op_enum! {
    /// A one-operand ALU operation: `dst = op src`.
    UnOp {
        Not = "not", "Bitwise not.";
        Neg = "neg", "Wrapping negation.";
    }
}

op_enum! {
    /// A comparison for a conditional branch.
    Cond {
        Eq = "eq", "Equal.";
        Ne = "ne", "Not equal.";
        ULt = "ult", "Unsigned less than.";
        ULe = "ule", "Unsigned less than or equal.";
        UGt = "ugt", "Unsigned greater than.";
        UGe = "uge", "Unsigned greater than or equal.";
        SLt = "slt", "Signed less than.";
        SLe = "sle", "Signed less than or equal.";
        SGt = "sgt", "Signed greater than.";
        SGe = "sge", "Signed greater than or equal.";
        Test = "tst", "`lhs & rhs` is not zero (any bit in common).";
        NotTest = "ntst", "`lhs & rhs` is zero (no bit in common).";
    }
}

op_enum! {
    /// What a load reads and how it widens the value to 64 bits.
    Load {
        U8 = "u8", "8 bits, zero-extended.";
        U16 = "u16", "16 bits, zero-extended.";
        U32 = "u32", "32 bits, zero-extended.";
        U64 = "u64", "64 bits.";
        I8 = "i8", "8 bits, sign-extended.";
        I16 = "i16", "16 bits, sign-extended.";
        I32 = "i32", "32 bits, sign-extended.";
        Be16 = "be16", "16 bits stored big-endian (most significant byte first), zero-extended; any alignment.";
        Be32 = "be32", "32 bits stored big-endian, zero-extended; any alignment.";
        Be64 = "be64", "64 bits stored big-endian; any alignment.";
    }
}

op_enum! {
    /// How many low bits of a register a store writes.
    Width {
        W8 = "u8", "8 bits.";
        W16 = "u16", "16 bits.";
        W32 = "u32", "32 bits.";
        W64 = "u64", "64 bits.";
    }
}

impl BinOp {
    /// Whether the operation shifts, so that an immediate operand must be below 64.
    pub const fn is_shift(self) -> bool {
        matches!(self, BinOp::Shl | BinOp::Shr | BinOp::Sar)
    }

    /// Whether the operation divides: a division or a remainder.
    pub const fn is_division(self) -> bool {
        matches!(self, BinOp::UDiv | BinOp::SDiv | BinOp::URem | BinOp::SRem)
    }
}

impl BinOp32 {
    /// Whether the operation shifts, so that its immediate must be below 64.
    pub const fn is_shift(self) -> bool {
        matches!(self, BinOp32::Shl32)
    }

    /// The 64-bit operation whose low 32 bits this one keeps.
    pub const fn wide(self) -> BinOp {
        match self {
            BinOp32::Add32 => BinOp::Add,
            BinOp32::Sub32 => BinOp::Sub,
            BinOp32::Mul32 => BinOp::Mul,
            BinOp32::Shl32 => BinOp::Shl,
        }
    }
}

impl Load {
    /// The access size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Load::U8 | Load::I8 => 1,
            Load::U16 | Load::I16 | Load::Be16 => 2,
            Load::U32 | Load::I32 | Load::Be32 => 4,
            Load::U64 | Load::Be64 => 8,
        }
    }

    /// Whether the load reads its bytes most significant first, whatever
    /// the target's byte order (and then at any alignment).
    pub const fn is_big_endian(self) -> bool {
        matches!(self, Load::Be16 | Load::Be32 | Load::Be64)
    }
}

impl Width {
    /// The access size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Width::W8 => 1,
            Width::W16 => 2,
            Width::W32 => 4,
            Width::W64 => 8,
        }
    }
}

/// A position in generated code, named by a small number.
///
/// A label may be used before or after it is bound with [`Insn::Bind`]; every
/// used label must be bound exactly once before the code is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub u16);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A function of the embedding program that generated code may call.
///
/// It receives the four registers and its result goes into the destination
/// register of [`Insn::CallHost`].
pub type HostFn = extern "C" fn(u64, u64, u64, u64) -> u64;

/// One instruction.
///
/// Memory is addressed by a register plus a signed 64-bit offset (truncated
/// to the pointer width on 32-bit targets); accesses must be aligned to their
/// size on targets that require it, except big-endian loads
/// ([`Load::is_big_endian`]), which work at any address on every target.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Insn {
    /// `dst = lhs op rhs`.
    Bin {
        /// The operation.
        op: BinOp,
        /// The destination.
        dst: Reg,
        /// The left operand.
        lhs: Reg,
        /// The right operand.
        rhs: Reg,
    },
    /// `dst = lhs op imm`; shifts take an immediate below 64.
    BinImm {
        /// The operation.
        op: BinOp,
        /// The destination.
        dst: Reg,
        /// The left operand.
        lhs: Reg,
        /// The right operand.
        imm: u64,
    },
    /// `dst = zext32(lhs op imm)`: 32-bit arithmetic whose result is
    /// zero-extended; the shift takes an immediate below 64.
    BinImm32 {
        /// The operation.
        op: BinOp32,
        /// The destination.
        dst: Reg,
        /// The left operand.
        lhs: Reg,
        /// The right operand.
        imm: u64,
    },
    /// `dst = op src`.
    Unary {
        /// The operation.
        op: UnOp,
        /// The destination.
        dst: Reg,
        /// The operand.
        src: Reg,
    },
    /// `dst = src`.
    Mov {
        /// The destination.
        dst: Reg,
        /// The source.
        src: Reg,
    },
    /// `dst = imm`.
    MovImm {
        /// The destination.
        dst: Reg,
        /// The value.
        imm: u64,
    },
    /// `if lhs cond rhs { goto target }`.
    Branch {
        /// The comparison.
        cond: Cond,
        /// The left operand.
        lhs: Reg,
        /// The right operand.
        rhs: Reg,
        /// Where to continue when the comparison holds.
        target: Label,
    },
    /// `if lhs cond imm { goto target }`.
    BranchImm {
        /// The comparison.
        cond: Cond,
        /// The left operand.
        lhs: Reg,
        /// The right operand.
        imm: u64,
        /// Where to continue when the comparison holds.
        target: Label,
    },
    /// `if mem64[base + offset] cond imm { goto target }`: compares the
    /// 64-bit word in memory (aligned to 8 on targets that require it) with
    /// an immediate, leaving every register as it is. A bounds check
    /// against a length kept in memory is one instruction.
    BranchMem {
        /// The comparison.
        cond: Cond,
        /// The base address of the word.
        base: Reg,
        /// Added to the base address.
        offset: i64,
        /// The right operand.
        imm: u64,
        /// Where to continue when the comparison holds.
        target: Label,
    },
    /// `goto target`.
    Jump {
        /// Where to continue.
        target: Label,
    },
    /// `dst = load(base + offset)`.
    Load {
        /// The access size and extension.
        kind: Load,
        /// The destination.
        dst: Reg,
        /// The base address.
        base: Reg,
        /// Added to the base address.
        offset: i64,
    },
    /// `store(base + offset) = src`.
    Store {
        /// The access size.
        width: Width,
        /// The value stored.
        src: Reg,
        /// The base address.
        base: Reg,
        /// Added to the base address.
        offset: i64,
    },
    /// `SP -= 8; mem[SP] = src` (pushing `SP` stores its old value).
    Push {
        /// The register pushed.
        src: Reg,
    },
    /// `dst = mem[SP]; SP += 8` (popping into `SP` just loads it).
    Pop {
        /// The register popped into.
        dst: Reg,
    },
    /// `dst = func(R0, R1, R2, R3)`; the other registers are kept.
    CallHost {
        /// Where the result goes.
        dst: Reg,
        /// The function called.
        func: HostFn,
    },
    /// `R0 = the generated function at target(R0, R1, R2, R3)`; `R1` to `R3`
    /// are kept. The callee ends with [`Insn::Ret`].
    Call {
        /// The callee's first instruction.
        target: Label,
    },
    /// Return `R0` to the caller: the host, or an [`Insn::Call`].
    Ret,
    /// `R0 = imm`, then return it as [`Insn::Ret`] does.
    RetImm {
        /// The value returned.
        imm: u64,
    },
    /// Do nothing (one machine no-op).
    Nop,
    /// Bind a label to the position of the next instruction.
    Bind(Label),
}
