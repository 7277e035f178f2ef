#![doc = include_str!("../README.md")]
#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
extern crate std;

mod code;
mod emit;
mod error;
mod interp;
mod isa;
mod lower;
mod platform;
pub mod selftest;
mod stencil;
mod variant;

pub use code::{Code, Executable};
pub use emit::{Assembler, CODE_ALIGN};
pub use error::Error;
pub use interp::{Frame, Interpreter, Limits, MAX_CALL_DEPTH, RUN_STACK_BYTES};
pub use isa::{BinOp, Cond, HostFn, Insn, Label, Load, Reg, UnOp, Width};
pub use platform::Platform;
pub use stencil::{COMPILER, SLOT_ALIGN, TARGET};
