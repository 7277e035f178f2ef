//! The global allocator: linked_list_allocator's heap behind spin's lock.
//! (linked_list_allocator's own locked heap needs atomic compare-and-swap,
//! which riscv32imc lacks; spin's lock gets it from portable-atomic there.)

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;
use spin::{Mutex, MutexGuard};

/// A heap that one caller at a time allocates from.
pub struct Locked(Mutex<Heap>);

impl Locked {
    /// A heap with no memory yet: see [`Heap::init`].
    pub const fn empty() -> Self {
        Locked(Mutex::new(Heap::empty()))
    }

    /// The heap, locked.
    pub fn lock(&self) -> MutexGuard<'_, Heap> {
        self.0.lock()
    }
}

// SAFETY: every call goes through the lock, and the heap's first-fit
// allocation hands out each block once, with the layout's size and
// alignment, until it is freed; a failed allocation returns null.
unsafe impl GlobalAlloc for Locked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.lock()
            .allocate_first_fit(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's caller passes a block this allocator
            // gave out, with the layout it gave it out for.
            unsafe { self.lock().deallocate(ptr, layout) }
        }
    }
}
