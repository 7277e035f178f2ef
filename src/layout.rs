//! Where code and data go: the geometry shared by `build.rs`, which links
//! every op with its slots at the slot distance and checks that every op
//! fits a block, and the emitter, which lays code out by the same rules.
//!
//! Generated code alternates **code blocks** and **data blocks**; the slot
//! distance `D` is a per-target choice (`build/link.rs`):
//!
//! ```text
//!  code block 0                data block 0          code block 1         data block 1
//! [op op op ... op ... op skip] [slot    slot slot ] [op op ... op skip ] [slot ...]
//!            ^c                  ^c + D: the op at c reads its K-th slot at c + D + 8 K
//! ```
//!
//! - An op's K-th 8-byte data slot lies exactly `D + 8 K` bytes after the
//!   op's first byte, wherever the op is placed: the op reads it
//!   PC-relatively with a distance the linker resolved, so no op jumps over
//!   data and code stays dense.
//! - Every op is at least as long as its slots, 8 bytes each ([`footprint`]):
//!   `build.rs` ends a shorter one with no-ops. So the slots of ops placed
//!   one after the other follow one another too, never overlapping.
//! - Ops follow one another in a code block with nothing between them but,
//!   where the target needs aligned slots (`SLOT_ALIGN`), padding before an
//!   op with slots.
//! - A code block's data block starts `D` bytes after the block's first op
//!   with slots, so the block's code must end there. When the next op (its
//!   padding, its code, and room for a skip after it) would not fit, a
//!   **skip** ends the block: the empty op linked with its continuation `D`
//!   bytes past its end, one direct jump over the data block into the next
//!   code block. Code without slots needs no data block and no skip: it
//!   runs on, dense, until an op with slots.
//! - A code block starts `D` bytes after the previous skip's end, so it is
//!   not at a fixed address: all distances are relative, and finished code
//!   runs wherever it is copied (with the same alignment).
//!
//! A program with any slot therefore needs `D` bytes more than its code,
//! and code with slots takes about twice its size: its data block beside it.

/// The most padding the emitter puts before one op: up to the slot
/// alignment (8), and on powerpc64 up to 60 bytes more to keep a prefixed
/// instruction inside a 64-byte block.
pub const MAX_PAD: usize = 64;

/// Bytes the emitter copies per stencil when it stages a long program: a
/// fixed-size window of the stencil table that starts with the stencil's
/// code (the bytes after it are overwritten by the next op), one move or
/// two instead of a copy of the stencil's exact length. `build.rs` ends the
/// table with this many bytes of zeros, so that every stencil's window lies
/// inside it.
pub const WINDOW: usize = 32;

/// The bytes of an op's slots, which `build.rs` makes the least length of
/// its code: an op shorter than its slots ends with no-ops, so that the next
/// op's slots, at the same distance from its start, follow its own.
#[inline(always)]
pub const fn footprint(slots: usize) -> usize {
    8 * slots
}

/// The offset of an op's `k`-th slot from the op's first byte.
#[inline(always)]
pub const fn slot_offset(distance: usize, k: usize) -> usize {
    distance + 8 * k
}

/// Whether an op of `code_len` bytes, placed at `pos` after `pad` bytes of
/// padding, leaves room for a skip of `skip_len` bytes before `block_end`,
/// the end of its code block. The emitter asks it of every op; build.rs
/// asks it of every op in an empty block with the most padding
/// ([`MAX_PAD`]), so that every op fits a fresh block.
#[inline(always)]
pub const fn fits(
    pos: usize,
    pad: usize,
    code_len: usize,
    skip_len: usize,
    block_end: usize,
) -> bool {
    pos + pad + code_len + skip_len <= block_end
}
