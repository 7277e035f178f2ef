//! Finished code, and the typestate that makes it executable: writable
//! [`Code`] becomes [`Executable`] by consuming it, flushing the instruction
//! cache first and changing permissions second.

use crate::emit::CODE_ALIGN;
use crate::error::Error;
use crate::platform::Platform;
use core::marker::PhantomData;

/// The signature of generated code: the four registers in, `R0` out.
type Entry = unsafe extern "C" fn(u64, u64, u64, u64) -> u64;

/// Finished code, still writable: the output of [`crate::Assembler::finish`].
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
    /// On error the buffer is made writable again where possible.
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
            let _ = unsafe { platform.make_writable(ptr, len) };
            return Err(e);
        }
        Ok(Executable {
            ptr,
            len,
            entry: self.entry,
            platform,
            _buf: PhantomData,
        })
    }
}

/// Code that can run. Dropping it makes the buffer writable again.
pub struct Executable<'a, P: Platform> {
    ptr: *mut u8,
    len: usize,
    entry: usize,
    platform: &'a P,
    _buf: PhantomData<&'a mut [u8]>,
}

impl<'a, P: Platform> Executable<'a, P> {
    /// Runs the code with the four registers set to `args`, and returns `R0`.
    ///
    /// # Safety
    /// The program is trusted as native code is: every memory access must be
    /// valid for its size and alignment, `R3` must point into a large enough
    /// stack if the program pushes, host functions must be safe to call with
    /// the registers they receive, and calls must not nest deeper than the
    /// native stack allows.
    pub unsafe fn call(&self, args: [u64; 4]) -> u64 {
        // SAFETY: `ptr + entry` is the entry of code a successful `finish`
        // produced (complete ops ending in a return), flushed and made
        // executable by `Code::make_executable`; it follows the C calling
        // convention of `Entry`. The caller upholds the program's contract.
        unsafe {
            let entry: Entry = core::mem::transmute::<*mut u8, Entry>(self.ptr.add(self.entry));
            entry(args[0], args[1], args[2], args[3])
        }
    }

    /// Makes the buffer writable again and hands it back.
    pub fn into_writable(self) -> Result<&'a mut [u8], P::Error> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: no code runs in the region: `call` borrows `self`, which
        // is consumed here.
        unsafe { this.platform.make_writable(this.ptr, this.len)? };
        // SAFETY: the region came from a `&'a mut [u8]` that this value held
        // exclusively; it is writable again.
        Ok(unsafe { core::slice::from_raw_parts_mut(this.ptr, this.len) })
    }
}

impl<P: Platform> Drop for Executable<'_, P> {
    fn drop(&mut self) {
        // SAFETY: as in `into_writable`: nothing runs in the region any more.
        let _ = unsafe { self.platform.make_writable(self.ptr, self.len) };
    }
}
