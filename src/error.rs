//! The one error type of the core.

use crate::isa::Label;
use core::fmt;

/// Why code could not be emitted, finished, copied or interpreted.
///
/// Every error leaves the buffer as it was before the failing call: no op is
/// ever half-written. An assembler that returned an error refuses to finish,
/// so no executable code comes out of a failed build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer cannot hold the next op: `needed` bytes, `capacity` available.
    BufferTooSmall {
        /// Bytes the buffer would need.
        needed: usize,
        /// Bytes the buffer has.
        capacity: usize,
    },
    /// A label was used but never bound.
    UnboundLabel(Label),
    /// A label was bound twice.
    LabelRebound(Label),
    /// A label's number is not below the assembler's label capacity.
    LabelOutOfRange(Label),
    /// An immediate the instruction form cannot hold (a shift of 64 or more).
    ImmediateOutOfRange {
        /// The immediate given.
        imm: u64,
        /// The largest the form takes.
        max: u64,
    },
    /// The stencil table of this target lacks the op form.
    Unsupported,
    /// The interpreter's calls nested deeper than its limit
    /// ([`crate::Limits::call_depth`], or the length of its call stack).
    CallDepthExceeded,
    /// The interpreter ran as many instructions as [`crate::Limits::fuel`]
    /// allows, and the program had not returned.
    FuelExhausted,
    /// An earlier call on this assembler failed, so it cannot finish.
    EarlierError,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferTooSmall { needed, capacity } => {
                write!(
                    f,
                    "code buffer too small: {needed} bytes needed, {capacity} available"
                )
            }
            Error::UnboundLabel(l) => write!(f, "label {l} is used but never bound"),
            Error::LabelRebound(l) => write!(f, "label {l} is bound twice"),
            Error::LabelOutOfRange(l) => {
                write!(f, "label {l} is beyond the assembler's label capacity")
            }
            Error::ImmediateOutOfRange { imm, max } => {
                write!(f, "immediate {imm} is out of range (at most {max})")
            }
            Error::Unsupported => f.write_str("this target's stencil table lacks the op"),
            Error::CallDepthExceeded => {
                f.write_str("calls nested deeper than the interpreter's limit")
            }
            Error::FuelExhausted => {
                f.write_str("the interpreter ran out of fuel before the program returned")
            }
            Error::EarlierError => f.write_str("an earlier instruction failed to assemble"),
        }
    }
}

impl core::error::Error for Error {}
