// The README is the crate documentation. Its examples run generated code
// through copyjit-linux, which depends on this crate, so they run as that
// crate's doctests (where both crates are real dependencies, in the
// repository and packaged) rather than here.
#![cfg_attr(not(doctest), doc = include_str!("../README.md"))]
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
mod layout;
mod lower;
mod platform;
pub mod selftest;
mod stencil;
mod variant;

pub use code::{Code, Executable, IntoWritableError};
pub use emit::{Assembler, CODE_ALIGN};
pub use error::Error;
pub use interp::{Frame, Interpreter, Limits, MAX_CALL_DEPTH, RUN_STACK_BYTES};
pub use isa::{BinOp, BinOp32, Cond, HostFn, Insn, Label, Load, Reg, UnOp, Width};
pub use platform::{AllCores, Platform};
pub use stencil::{COMPILER, SLOT_ALIGN, SLOT_DISTANCE, TARGET, supports};
