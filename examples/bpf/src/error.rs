//! Why a program was rejected, or could not be translated or compiled.

use core::fmt;

/// Why a cBPF program was rejected, or could not be translated, emitted or
/// interpreted. Validation never panics; every rejection names the
/// instruction at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The program has no instruction.
    Empty,
    /// The program is longer than [`crate::MAX_INSNS`] instructions.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// An opcode libpcap's `bpf_filter` does not execute.
    UnknownOpcode {
        /// The instruction's index.
        pc: usize,
        /// Its opcode.
        code: u16,
    },
    /// A jump leaves the program.
    JumpOutOfRange {
        /// The jump's index.
        pc: usize,
        /// Where it would land, as libpcap computes it (32-bit wrapping).
        target: u32,
    },
    /// Division or modulo by the constant 0.
    DivisionByZero {
        /// The instruction's index.
        pc: usize,
    },
    /// A scratch-memory index of 16 or more.
    ScratchOutOfRange {
        /// The instruction's index.
        pc: usize,
        /// The index it names.
        index: u32,
    },
    /// The last instruction is not a return.
    NoFinalReturn,
    /// The translation needs more labels than the filter's `LABELS`.
    TooManyLabels {
        /// Labels the translation needs.
        needed: usize,
        /// The capacity, `LABELS`.
        capacity: usize,
    },
    /// The slice given for the translation is too short.
    TranslationTooLong {
        /// Instructions the translation has.
        needed: usize,
        /// Instructions the slice holds.
        capacity: usize,
    },
    /// The copyjit core refused the translation (a code buffer too small).
    Jit(copyjit::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Empty => f.write_str("the program is empty"),
            Error::TooLong { len } => write!(
                f,
                "the program has {len} instructions, more than {}",
                crate::MAX_INSNS
            ),
            Error::UnknownOpcode { pc, code } => {
                write!(f, "instruction {pc}: unknown opcode 0x{code:02x}")
            }
            Error::JumpOutOfRange { pc, target } => {
                write!(f, "instruction {pc}: jump to {target}, outside the program")
            }
            Error::DivisionByZero { pc } => {
                write!(f, "instruction {pc}: division or modulo by the constant 0")
            }
            Error::ScratchOutOfRange { pc, index } => {
                write!(f, "instruction {pc}: scratch index {index} is not below 16")
            }
            Error::NoFinalReturn => f.write_str("the last instruction is not a return"),
            Error::TooManyLabels { needed, capacity } => write!(
                f,
                "the translation needs {needed} labels, the filter allows {capacity}"
            ),
            Error::TranslationTooLong { needed, capacity } => write!(
                f,
                "the translation has {needed} instructions, the slice holds {capacity}"
            ),
            Error::Jit(e) => write!(f, "copyjit: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Jit(e) => Some(e),
            _ => None,
        }
    }
}

impl From<copyjit::Error> for Error {
    fn from(e: copyjit::Error) -> Self {
        Error::Jit(e)
    }
}
