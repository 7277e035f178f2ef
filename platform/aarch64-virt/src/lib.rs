//! Bare-metal aarch64 platform for copyjit: a kernel or firmware running
//! generated code on the core that wrote it (QEMU's `virt` machine is where
//! it is tested; `demo/` is the image).
//!
//! [`SingleCore`] makes generated code visible to instruction fetch the way
//! the architecture asks: each data cache line of the code cleaned to the
//! point of unification (`dc cvau`), `dsb ish`, each instruction cache line
//! invalidated (`ic ivau`), `dsb ish`, `isb`. The maintenance is broadcast
//! to the inner shareable domain, but the final `isb` is this core's: any
//! other core that runs the code must execute an `isb` of its own first.
//!
//! Memory permissions are not changed: [`Platform::make_executable`] and
//! [`Platform::make_writable`] do nothing and cannot fail. They belong to
//! the kernel's page tables (or there are none, with the MMU off); the
//! [`copyjit::Code`]/[`copyjit::Executable`] typestate is what keeps
//! writes and runs apart.

#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_arch = "aarch64"))]
compile_error!("copyjit-aarch64-virt is for aarch64 targets, e.g. aarch64-unknown-none");

use copyjit::Platform;
use core::arch::asm;
use core::convert::Infallible;

/// An aarch64 core running generated code it wrote itself: data and
/// instruction cache maintenance over the code, no permissions to change.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleCore;

impl Platform for SingleCore {
    type Error = Infallible;

    fn flush_icache(&self, code: &[u8]) -> Result<(), Infallible> {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 (the cache line sizes) has no effect;
        // EL0 and up may read it.
        unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let (start, end) = (code.as_ptr() as usize, code.as_ptr() as usize + code.len());
        for line in (start & !(dline - 1)..end).step_by(dline) {
            // SAFETY: `dc cvau` writes one data cache line that holds some
            // of `code`, memory this function may read, back to the point
            // of unification; it changes no value in memory.
            unsafe { asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: a barrier: the cleaning completes before what follows.
        unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
        for line in (start & !(iline - 1)..end).step_by(iline) {
            // SAFETY: `ic ivau` only invalidates instruction cache lines.
            unsafe { asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: barriers: the invalidation completes, and this core
        // fetches its next instructions anew.
        unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
        Ok(())
    }

    unsafe fn make_executable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }

    unsafe fn make_writable(&self, _ptr: *mut u8, _len: usize) -> Result<(), Infallible> {
        Ok(())
    }
}
