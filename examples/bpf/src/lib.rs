#![doc = include_str!("../README.md")]
#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
extern crate std;

mod error;
mod filter;
mod instruction;
mod run;
mod text;
mod translate;

pub use error::Error;
pub use filter::{Filter, JitError, MAX_INSNS, MAX_LABELS};
pub use instruction::{Disassembly, Instruction, Listing, op};
pub use run::{Compiled, Interpreted, Run};
pub use text::{ParseError, parse_ddd};
pub use translate::{MAX_PER_INSN, Translation};
