//! Finished code, and the typestate that makes it executable: writable
//! [`Code`] becomes [`Executable`] by consuming it, flushing the instruction
//! cache first and changing permissions second.

use crate::emit::CODE_ALIGN;
use crate::error::Error;
use crate::platform::{AllCores, Platform};
use core::fmt;
use core::marker::PhantomData;

/// The signature of generated code: the four registers in, `R0` out.
type Entry = unsafe extern "C" fn(u64, u64, u64, u64) -> u64;

/// Finished code, still writable: the output of [`crate::Assembler::finish`].
///
/// Dropping it throws the code away; [`Code::make_executable`] is what makes
/// it runnable.
#[must_use = "finished code does nothing until it is made executable"]
pub struct Code<'a> {
    buf: &'a mut [u8],
    entry: usize,
    end: usize,
}

impl<'a> Code<'a> {
    pub(crate) fn new(buf: &'a mut [u8], entry: usize, end: usize) -> Self {
        Code { buf, entry, end }
    }

    /// The code's bytes, from its entry point to its end.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.entry..self.end]
    }

    /// The code's offset in the buffer it was emitted into.
    pub fn entry_offset(&self) -> usize {
        self.entry
    }

    /// Copies the code into `buf` at its first [`CODE_ALIGN`]-aligned
    /// address. Branch targets are relative, so the copy runs unchanged;
    /// host function pointers stay as they are.
    pub fn copy_to<'b>(&self, buf: &'b mut [u8]) -> Result<Code<'b>, Error> {
        let base = buf.as_ptr() as usize;
        let entry = base.next_multiple_of(CODE_ALIGN) - base;
        let end = entry + self.bytes().len();
        let capacity = buf.len();
        let dst = buf.get_mut(entry..end).ok_or(Error::BufferTooSmall {
            needed: end,
            capacity,
        })?;
        dst.copy_from_slice(self.bytes());
        Ok(Code { buf, entry, end })
    }

    /// Flushes the instruction cache over the code, then makes the whole
    /// buffer executable (and, where the platform can, not writable).
    ///
    /// On error the buffer is made writable again and the code is dropped.
    ///
    /// # Panics
    /// If the platform refuses to make the buffer executable and then also
    /// fails to make it writable again: the buffer cannot be handed back
    /// while it may not be writable (see [`Platform`]).
    pub fn make_executable<P: Platform>(
        self,
        platform: &'a P,
    ) -> Result<Executable<'a, P>, P::Error> {
        platform.flush_icache(self.bytes())?;
        let (ptr, len) = (self.buf.as_mut_ptr(), self.buf.len());
        // SAFETY: `self.buf` is borrowed mutably for 'a and moves into the
        // returned `Executable`, which never writes it and makes it writable
        // again before handing it back or on drop.
        if let Err(e) = unsafe { platform.make_executable(ptr, len) } {
            // SAFETY: the same region, which nothing runs yet.
            let restored = unsafe { platform.make_writable(ptr, len) };
            restore(restored);
            return Err(e);
        }
        Ok(Executable {
            ptr,
            len,
            entry: self.entry,
            end: self.end,
            platform,
            _buf: PhantomData,
        })
    }
}

impl fmt::Debug for Code<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("buf", &self.buf.as_ptr_range())
            .field("entry", &self.entry)
            .field("end", &self.end)
            .finish()
    }
}

/// Code that can run. Dropping it makes the buffer writable again.
///
/// The buffer stays borrowed, and is not written, for as long as this value
/// lives. Where the platform's flushes and permissions cover every core
/// ([`AllCores`], as on hosted Linux), it is `Send` and `Sync`: the code can
/// be run from several threads at once.
///
/// # Panics
/// Dropping it panics if the platform fails to make the buffer writable
/// again, since the borrow ends there and safe code could then write memory
/// that is not writable. [`Executable::into_writable`] reports that failure
/// instead, and keeps the code executable.
#[must_use = "dropping executable code makes its buffer writable again at once"]
pub struct Executable<'a, P: Platform> {
    ptr: *mut u8,
    len: usize,
    entry: usize,
    end: usize,
    platform: &'a P,
    _buf: PhantomData<&'a mut [u8]>,
}

// SAFETY: an `Executable` is a shared view of a buffer that nothing writes
// while it lives (it holds the buffer's only `&'a mut [u8]`, and generated
// code never writes its own bytes: data slots are only read), plus a `&'a P`.
// `P: AllCores` includes `P: Sync`, so the platform reference can move and
// be shared, and promises that the flush and the permissions hold on every
// core and thread; `Send` makes the move itself a synchronizing operation.
// So moving it to another thread, calling it from several threads at once
// (`call` takes `&self` and only fetches instructions from the buffer), and
// dropping it on another thread (`make_writable` through `&P`, permissions
// being the same for every thread) are all sound. What the program does to
// other memory when run from several threads is `call`'s safety contract.
unsafe impl<P: AllCores> Send for Executable<'_, P> {}
// SAFETY: as for `Send` above.
unsafe impl<P: AllCores> Sync for Executable<'_, P> {}

impl<'a, P: Platform> Executable<'a, P> {
    /// Runs the code with the four registers set to `args`, and returns `R0`.
    ///
    /// # Safety
    /// The program is trusted as native code is: every memory access must be
    /// valid for its size and alignment, `R3` must point into a large enough
    /// stack if the program pushes, host functions must be safe to call with
    /// the registers they receive, and calls must not nest deeper than the
    /// native stack allows. When several threads run the code at once, its
    /// memory accesses and host calls must not race.
    pub unsafe fn call(&self, args: [u64; 4]) -> u64 {
        // A pointer to Thumb code carries the Thumb bit, which `blx` moves
        // into the execution state (M-profile cores fault without it).
        let entry = self.entry + crate::stencil::THUMB_BIT;
        // SAFETY: `ptr + entry` is the entry of code a successful `finish`
        // produced (complete ops ending in a return), flushed and made
        // executable by `Code::make_executable`, plus the Thumb bit where
        // it is Thumb code (still inside the buffer: the code is not
        // empty); it follows the C calling convention of `Entry`. The
        // caller upholds the program's contract.
        unsafe {
            let entry: Entry = core::mem::transmute::<*mut u8, Entry>(self.ptr.add(entry));
            entry(args[0], args[1], args[2], args[3])
        }
    }

    /// The code's bytes, from its entry point to its end, as they run (to
    /// name them for a profiler or show them in a disassembler).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `entry..end` lies in the buffer this value borrows
        // exclusively for 'a; nothing writes it while `self` lives, and the
        // platform leaves executable code readable (its contract).
        unsafe { core::slice::from_raw_parts(self.ptr.add(self.entry), self.end - self.entry) }
    }

    /// The code's offset in the buffer it was emitted into.
    pub fn entry_offset(&self) -> usize {
        self.entry
    }

    /// Makes the buffer writable again and hands it back.
    ///
    /// If the platform fails to, the code comes back still executable inside
    /// the error, and the buffer stays borrowed: nothing can write it. Try
    /// again, keep running the code, or drop it (which tries once more, see
    /// [`Executable`]).
    pub fn into_writable(self) -> Result<&'a mut [u8], IntoWritableError<'a, P>> {
        // SAFETY: no code runs in the region: `call` borrows `self`, which
        // is consumed here.
        if let Err(error) = unsafe { self.platform.make_writable(self.ptr, self.len) } {
            return Err(IntoWritableError {
                executable: self,
                error,
            });
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the region came from a `&'a mut [u8]` that this value held
        // exclusively; it is writable again, and `this` is not dropped, so
        // nothing else touches its permissions.
        Ok(unsafe { core::slice::from_raw_parts_mut(this.ptr, this.len) })
    }
}

impl<P: Platform> fmt::Debug for Executable<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executable")
            .field("buf", &(self.ptr..self.ptr.wrapping_add(self.len)))
            .field("entry", &self.entry)
            .field("end", &self.end)
            .finish()
    }
}

impl<P: Platform> Drop for Executable<'_, P> {
    fn drop(&mut self) {
        // SAFETY: as in `into_writable`: nothing runs in the region any more.
        let restored = unsafe { self.platform.make_writable(self.ptr, self.len) };
        restore(restored);
    }
}

/// The platform failed to make code writable again: the code, still
/// executable, and why.
pub struct IntoWritableError<'a, P: Platform> {
    /// The code, still executable; its buffer stays borrowed.
    pub executable: Executable<'a, P>,
    /// The platform's error.
    pub error: P::Error,
}

impl<P: Platform> fmt::Debug for IntoWritableError<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoWritableError")
            .field("executable", &self.executable)
            .field("error", &self.error)
            .finish()
    }
}

impl<P: Platform> fmt::Display for IntoWritableError<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the platform could not make the code buffer writable again: {}",
            self.error
        )
    }
}

impl<P: Platform> core::error::Error for IntoWritableError<'_, P> {}

/// Panics if the platform could not make a buffer writable again just
/// before the core hands it back: safe code would then write memory that
/// may not be writable. The [`Platform`] contract makes this rare (on Linux,
/// the kernel out of memory for its mapping structures).
fn restore<E: fmt::Display>(result: Result<(), E>) {
    if let Err(e) = result {
        panic!("the platform could not make a code buffer writable again: {e}");
    }
}
