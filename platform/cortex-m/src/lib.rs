//! Bare-metal Cortex-M platform for copyjit: firmware running on one core
//! from RAM it may execute (QEMU's MPS2 machines are where it is tested;
//! `demo/` is the image).
//!
//! The stencils are Thumb code, as every M-profile core runs; the core
//! enters generated code and branches within it with the Thumb bit set.
//!
//! [`SingleCore`] makes generated code visible to instruction fetch with
//! `dsb` (the stores that wrote it complete) then `isb` (later instructions
//! are fetched anew). That is all a core without caches needs: Cortex-M0,
//! M0+, M3, M4, M23 and M33. A core with caches enabled (Cortex-M7, M55,
//! M85) also needs the data cache cleaned and the instruction cache
//! invalidated over the code, which `SingleCore` does not do: leave the
//! caches off for the code buffer (an MPU region) or clean and invalidate
//! them before [`copyjit::Code::make_executable`].
//!
//! Memory permissions are not changed: [`Platform::make_executable`] and
//! [`Platform::make_writable`] do nothing and cannot fail. The MPU could
//! make the buffer execute-never while it is written, but it has a few
//! regions, each a power of two in size and aligned to it, that the
//! firmware already uses; the [`copyjit::Code`]/[`copyjit::Executable`]
//! typestate is what keeps writes and runs apart.
//!
//! ```no_run
//! use copyjit::{Assembler, BinOp, Insn, Reg};
//! use copyjit_cortex_m::SingleCore;
//!
//! let mut buf = [0u8; 256];
//! let mut asm: Assembler = Assembler::new(&mut buf);
//! asm.emit(Insn::Bin { op: BinOp::Mul, dst: Reg::R0, lhs: Reg::R0, rhs: Reg::R1 })?;
//! let code = asm.finish()?.make_executable(&SingleCore).unwrap();
//! // SAFETY: the program touches no memory.
//! assert_eq!(unsafe { code.call([6, 7, 0, 0]) }, 42);
//! # Ok::<(), copyjit::Error>(())
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(all(target_arch = "arm", target_os = "none")))]
compile_error!("copyjit-cortex-m is for Cortex-M targets, e.g. thumbv7em-none-eabihf");

use copyjit::Platform;
use core::convert::Infallible;

/// A Cortex-M core without caches (or with them off over the code) running
/// generated code it wrote itself: `dsb` and `isb`, no permissions to
/// change. See the crate docs for cores with caches.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleCore;

impl Platform for SingleCore {
    type Error = Infallible;

    fn flush_icache(&self, _code: &[u8]) -> Result<(), Infallible> {
        // The barriers cover all earlier stores, not a range; both are
        // compiler barriers too, so the stores that wrote the code are not
        // moved after them.
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
        Ok(())
    }

    unsafe fn make_executable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }

    unsafe fn make_writable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }
}
