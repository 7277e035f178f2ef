//! Hosted Linux platform for copyjit.
//!
//! [`CodeMemory`] is anonymous page-aligned memory from `mmap`. It is either
//! writable or executable, never both: [`Linux`] switches it with `mprotect`
//! after flushing the instruction cache, as [`copyjit::Code::make_executable`]
//! asks.
//!
//! ```
//! use copyjit::{Assembler, BinOp, Insn, Reg};
//! use copyjit_linux::{CodeMemory, Linux};
//!
//! let mut memory = CodeMemory::new(4096)?;
//! let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
//! asm.emit(Insn::Bin { op: BinOp::Mul, dst: Reg::R0, lhs: Reg::R0, rhs: Reg::R1 })?;
//! let code = asm.finish()?.make_executable(&Linux)?;
//! // SAFETY: the program touches no memory.
//! assert_eq!(unsafe { code.call([6, 7, 0, 0]) }, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod icache;

use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// The hosted Linux platform: `mprotect` for permissions, and the
/// architecture's own instruction-cache maintenance (see `icache.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Linux;

impl copyjit::Platform for Linux {
    type Error = Errno;

    fn flush_icache(&self, code: &[u8]) -> Result<(), Errno> {
        icache::flush(code)
    }

    unsafe fn make_executable(&self, ptr: *mut u8, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller owns the region and stops writing it.
        unsafe { rustix::mm::mprotect(ptr.cast(), len, MprotectFlags::READ | MprotectFlags::EXEC) }
    }

    unsafe fn make_writable(&self, ptr: *mut u8, len: usize) -> Result<(), Errno> {
        // SAFETY: the caller owns the region and runs nothing in it.
        unsafe { rustix::mm::mprotect(ptr.cast(), len, MprotectFlags::READ | MprotectFlags::WRITE) }
    }
}

/// Anonymous, page-aligned memory for generated code, unmapped on drop.
pub struct CodeMemory {
    ptr: *mut u8,
    len: usize,
}

impl CodeMemory {
    /// Maps at least `len` bytes (rounded up to whole pages), readable and
    /// writable.
    pub fn new(len: usize) -> Result<Self, Errno> {
        let page = rustix::param::page_size();
        let len = len
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or(Errno::NOMEM)?;
        // SAFETY: a fresh anonymous private mapping aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )?
        };
        Ok(CodeMemory {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The whole mapping, for an assembler to write into.
    ///
    /// The mapping is writable whenever no [`copyjit::Executable`] borrows
    /// it: making code executable borrows this slice, and dropping the
    /// executable code makes the memory writable again.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, owned by `self`, and writable
        // (see above); `&mut self` makes the borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The mapping's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: it is at least a page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `mmap_anonymous` with this length,
        // and no borrow of it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: `CodeMemory` owns its mapping exclusively, like a `Box<[u8]>`.
unsafe impl Send for CodeMemory {}
