//! Making freshly written code visible to instruction fetch, per
//! architecture. One `imp` is picked here; the rest of the crate calls
//! [`flush`].
//!
//! x86 and s390x keep instruction fetch coherent with stores. The others need
//! the data cache written back to the point of unification and the
//! instruction cache invalidated, on every core that may run the code.

use rustix::io::Errno;

/// Makes `code`, just written through data stores, visible to instruction
/// fetch on every core.
pub(crate) fn flush(code: &[u8]) -> Result<(), Errno> {
    if code.is_empty() {
        return Ok(());
    }
    imp::flush(code)
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "s390x"))]
mod imp {
    use rustix::io::Errno;

    /// Nothing to do: instruction fetch sees stores on these architectures.
    pub(super) fn flush(_code: &[u8]) -> Result<(), Errno> {
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use core::arch::asm;
    use rustix::io::Errno;

    /// Cleans the data cache and invalidates the instruction cache by line
    /// (`dc cvau`, `ic ivau`, both broadcast to the inner shareable domain),
    /// with the line sizes from `CTR_EL0`, which Linux lets user space read.
    pub(super) fn flush(code: &[u8]) -> Result<(), Errno> {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects; Linux traps and
        // emulates it where the hardware does not allow it from EL0.
        unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let range = code.as_ptr_range();
        let (start, end) = (range.start as usize, range.end as usize);
        for line in (start & !(dline - 1)..end).step_by(dline) {
            // SAFETY: `dc cvau` writes a line of the caller's slice back to
            // the point of unification; it changes no memory contents.
            unsafe { asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: a barrier: the cleans complete before what follows.
        unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
        for line in (start & !(iline - 1)..end).step_by(iline) {
            // SAFETY: `ic ivau` only invalidates instruction cache lines.
            unsafe { asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: barriers: the invalidations complete, and this core
        // fetches its next instructions anew.
        unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
        Ok(())
    }
}

#[cfg(target_arch = "powerpc64")]
mod imp {
    use core::arch::asm;
    use rustix::io::Errno;

    /// The smallest cache line of any 64-bit Power processor: stepping by it
    /// reaches every line whatever the real size (128 bytes on recent ones).
    const LINE: usize = 32;

    /// `dcbst` writes each data cache line back, `sync` waits for it,
    /// `icbi` invalidates each instruction cache line (on every processor),
    /// `sync` waits for that, and `isync` discards prefetched instructions.
    pub(super) fn flush(code: &[u8]) -> Result<(), Errno> {
        let range = code.as_ptr_range();
        let (start, end) = (range.start as usize & !(LINE - 1), range.end as usize);
        for line in (start..end).step_by(LINE) {
            // SAFETY: `dcbst` stores a line of the caller's slice back to
            // memory; it changes no memory contents.
            unsafe { asm!("dcbst 0, {}", in(reg_nonzero) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: a barrier.
        unsafe { asm!("sync", options(nostack, preserves_flags)) };
        for line in (start..end).step_by(LINE) {
            // SAFETY: `icbi` only invalidates instruction cache blocks.
            unsafe { asm!("icbi 0, {}", in(reg_nonzero) line, options(nostack, preserves_flags)) };
        }
        // SAFETY: barriers: the invalidations complete, and this processor
        // fetches its next instructions anew.
        unsafe { asm!("sync", "isync", options(nostack, preserves_flags)) };
        Ok(())
    }
}

/// Architectures where only the kernel can maintain the instruction cache
/// for user space: a system call through the C library's `syscall`.
#[cfg(any(target_arch = "arm", target_arch = "riscv64"))]
mod imp {
    use core::ffi::c_long;
    use rustix::io::Errno;

    /// arm's private `cacheflush(start, end, 0)`; riscv64's
    /// `riscv_flush_icache(start, end, 0)`, whose flags 0 mean every hart
    /// (a thread may move to another one before it runs the code; a bare
    /// `fence.i` would only cover the current hart).
    #[cfg(target_arch = "arm")]
    const SYSCALL: c_long = 0x0f_0002;
    #[cfg(target_arch = "riscv64")]
    const SYSCALL: c_long = 259;

    unsafe extern "C" {
        /// The C library's generic system call.
        fn syscall(number: c_long, ...) -> c_long;
    }

    pub(super) fn flush(code: &[u8]) -> Result<(), Errno> {
        let range = code.as_ptr_range();
        // SAFETY: both system calls only maintain caches over the range,
        // which is mapped memory since it comes from a slice.
        let result = unsafe { syscall(SYSCALL, range.start, range.end, 0 as c_long) };
        if result == 0 {
            Ok(())
        } else {
            Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL))
        }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "s390x",
    target_arch = "aarch64",
    target_arch = "powerpc64",
    target_arch = "arm",
    target_arch = "riscv64"
)))]
compile_error!(
    "copyjit-linux does not know how to flush the instruction cache on this architecture"
);
