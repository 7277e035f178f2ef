//! Hosted Linux platform for copyjit.
//!
//! [`CodeMemory`] is anonymous page-aligned memory from `mmap`. It is either
//! writable or executable, never both: [`Linux`] switches it with `mprotect`
//! after flushing the instruction cache, as [`copyjit::Code::make_executable`]
//! asks. [`PerfMap`] names generated code for `perf`.
//!
//! # Only whole pages
//!
//! `mprotect` works on whole pages: asked to protect part of a page, the
//! kernel protects all of it, and whatever else lives on that page becomes
//! read-only too, so that safe code writing it would crash. [`Linux`]
//! therefore changes permissions only on a region that starts on a page
//! boundary and is a whole number of pages long, and refuses any other with
//! [`Error::NotWholePages`] before changing anything. Such a region is sound
//! to protect: the core holds it as a `&mut [u8]`, the only reference to
//! any of its bytes, and since it covers its pages whole, no other data
//! (Rust's or the allocator's) lives on them. [`CodeMemory`] always gives
//! such a region; so does a page-aligned buffer of whole pages of any
//! origin.
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

mod error;
mod icache;
mod perf;

pub use error::Error;
pub use perf::PerfMap;

use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// The hosted Linux platform: `mprotect` for permissions, on whole pages
/// only (see the crate docs), and the architecture's own instruction-cache
/// maintenance (see `icache.rs`).
///
/// The core's self-test checks every op form on this machine, as generated
/// code through this platform and in the interpreter:
///
/// ```
/// use copyjit::selftest::{self, Group};
/// use copyjit_linux::{CodeMemory, Linux};
///
/// let mut memory = CodeMemory::new(1 << 16)?;
/// let report = selftest::run_group(Group::Load, &Linux, memory.as_mut_slice());
/// assert!(report.passed(), "{:?}", report.first_failure);
///
/// // Every group, a line each (as the bare-metal image prints them).
/// let summary = selftest::run(&Linux, memory.as_mut_slice(), |r| {
///     println!("{:<10} {:>6} cases {:>4} forms {}", r.group, r.cases, r.forms, r.failed);
/// });
/// assert!(summary.passed());
/// assert_eq!(summary.forms_covered, summary.forms_total);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Linux;

impl Linux {
    /// Whether the `len` bytes at `ptr` are whole pages, else the error.
    fn whole_pages(ptr: *mut u8, len: usize) -> Result<(), Error> {
        let page_size = rustix::param::page_size();
        let addr = ptr as usize;
        if addr.is_multiple_of(page_size) && len.is_multiple_of(page_size) {
            Ok(())
        } else {
            Err(Error::NotWholePages {
                addr,
                len,
                page_size,
            })
        }
    }
}

impl copyjit::Platform for Linux {
    type Error = Error;

    fn flush_icache(&self, code: &[u8]) -> Result<(), Error> {
        Ok(icache::flush(code)?)
    }

    /// Refuses, changing nothing, a region that is not whole pages.
    /// `mprotect` may fail part-way (out of memory to split a mapping); the
    /// core then calls [`copyjit::Platform::make_writable`], which restores
    /// all of it.
    unsafe fn make_executable(&self, ptr: *mut u8, len: usize) -> Result<(), Error> {
        Self::whole_pages(ptr, len)?;
        // SAFETY: the caller owns the region and stops writing it, and it
        // covers its pages whole, so the change reaches no other memory.
        unsafe {
            rustix::mm::mprotect(ptr.cast(), len, MprotectFlags::READ | MprotectFlags::EXEC)?
        };
        Ok(())
    }

    /// A region that is not whole pages was refused by `make_executable`
    /// before anything changed: it is still writable, and this succeeds.
    unsafe fn make_writable(&self, ptr: *mut u8, len: usize) -> Result<(), Error> {
        if Self::whole_pages(ptr, len).is_err() {
            return Ok(());
        }
        // SAFETY: the caller owns the region and runs nothing in it, and it
        // covers its pages whole.
        unsafe {
            rustix::mm::mprotect(ptr.cast(), len, MprotectFlags::READ | MprotectFlags::WRITE)?
        };
        Ok(())
    }
}

// SAFETY: `mprotect` changes the permissions of the process's one address
// space, so they hold for every thread. `icache::flush` covers every core:
// x86 and s390x fetch coherently with stores; aarch64's `dc cvau`/`ic ivau`
// and powerpc64's `dcbst`/`icbi` are broadcast to every core, followed by
// barriers; arm's `cacheflush` and riscv64's `riscv_flush_icache` (flags 0)
// ask the kernel to do it on every core. The code's pages are not
// executable while the core writes them, so no core can fetch from them
// until `make_executable` returns.
unsafe impl copyjit::AllCores for Linux {}

/// Anonymous, page-aligned memory for generated code, unmapped on drop.
#[derive(Debug)]
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
// SAFETY: through `&CodeMemory` only the length can be read.
unsafe impl Sync for CodeMemory {}

/// The project README's examples, run as this crate's doctests: running
/// generated code needs a platform, which the core crate cannot depend on.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
