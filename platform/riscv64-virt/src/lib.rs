//! Bare-metal riscv64 platform for copyjit: firmware and kernels running on
//! one hart, without paging, in M-mode or S-mode (QEMU's `virt` machine is
//! where it is tested; `demo/` is the image).
//!
//! [`SingleHart`] makes generated code visible to instruction fetch with
//! `fence.i`, which orders this hart's earlier stores before its later
//! instruction fetches. It does nothing for other harts: on a multi-hart
//! system each hart that runs the code must execute `fence.i` itself (or be
//! asked to by an inter-processor interrupt, such as SBI's `remote_fence_i`)
//! before jumping to it. That is why the platform is called `SingleHart`.
//!
//! Memory permissions are not changed: [`Platform::make_executable`] and
//! [`Platform::make_writable`] do nothing and cannot fail. Without paging
//! (`satp` = Bare) the only protection is PMP, and it does not fit a buffer
//! that flips between writable and executable: in M-mode a PMP entry binds
//! the hart only when it is locked, and a locked entry cannot be changed
//! again until reset; in S-mode PMP belongs to the firmware (OpenSBI). Code
//! buffers are therefore plain RAM, writable and executable at once, and
//! the [`copyjit::Code`]/[`copyjit::Executable`] typestate is what keeps
//! writes and runs apart.
//!
//! ```no_run
//! use copyjit::{Assembler, BinOp, Insn, Reg};
//! use copyjit_riscv64_virt::SingleHart;
//!
//! let mut buf = [0u8; 256];
//! let mut asm: Assembler = Assembler::new(&mut buf);
//! asm.emit(Insn::Bin { op: BinOp::Mul, dst: Reg::R0, lhs: Reg::R0, rhs: Reg::R1 })?;
//! let code = asm.finish()?.make_executable(&SingleHart).unwrap();
//! // SAFETY: the program touches no memory.
//! assert_eq!(unsafe { code.call([6, 7, 0, 0]) }, 42);
//! # Ok::<(), copyjit::Error>(())
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(any(target_arch = "riscv64", target_arch = "riscv32")))]
compile_error!(
    "copyjit-riscv64-virt is for RISC-V targets, e.g. riscv64gc-unknown-none-elf or riscv32imac-unknown-none-elf"
);

use copyjit::Platform;
use core::convert::Infallible;

/// A riscv64 hart running generated code it wrote itself: `fence.i` for the
/// instruction cache, no permissions to change. See the crate docs for why
/// it is one hart only.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleHart;

impl Platform for SingleHart {
    type Error = Infallible;

    fn flush_icache(&self, _code: &[u8]) -> Result<(), Infallible> {
        // `fence.i` covers all of this hart's earlier stores, not a range.
        // SAFETY: `fence.i` (Zifencei, part of G) only orders memory and
        // instruction fetch; it reads and writes no register or memory. The
        // asm block is a compiler barrier too (no `nomem`), so the stores
        // that wrote the code are not moved after it.
        unsafe { core::arch::asm!("fence.i", options(nostack, preserves_flags)) };
        Ok(())
    }

    unsafe fn make_executable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }

    unsafe fn make_writable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }
}
