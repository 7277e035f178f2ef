//! A program outgrows its buffer and moves to a bigger one without being
//! emitted again; the map from instructions to code offsets.

mod common;

use common::LABELS;
use copyjit::{
    Assembler, BinOp, CODE_ALIGN, Cond, Error, Insn, Label, Load, Reg, SLOT_DISTANCE, Width,
};
use copyjit_linux::{CodeMemory, Linux};

/// A program of `n` blocks, each with immediates, a forward branch bound
/// in the next block, a backward jump, a store and a load: labels pending
/// and bound on both sides of any move. Only forms every feature set has.
fn program(n: u16) -> Vec<Insn> {
    let imm = |dst, imm| Insn::MovImm { dst, imm };
    let mut p = vec![imm(Reg::R0, 0)];
    for i in 0..n {
        let (top, next) = (Label(2 * i), Label(2 * i + 1));
        p.extend([
            imm(Reg::R1, u64::from(i % 5)),
            imm(Reg::R2, 0),
            Insn::Bind(top),
            Insn::Branch {
                cond: Cond::Eq,
                lhs: Reg::R1,
                rhs: Reg::R2,
                target: next,
            },
            imm(Reg::R2, u64::from(i) + 1),
            Insn::Bin {
                op: BinOp::Add,
                dst: Reg::R0,
                lhs: Reg::R0,
                rhs: Reg::R2,
            },
            Insn::Store {
                width: Width::W64,
                src: Reg::R0,
                base: Reg::R3,
                offset: 8,
            },
            Insn::Load {
                kind: Load::U64,
                dst: Reg::R0,
                base: Reg::R3,
                offset: 8,
            },
            imm(Reg::R2, 1),
            Insn::Bin {
                op: BinOp::Sub,
                dst: Reg::R1,
                lhs: Reg::R1,
                rhs: Reg::R2,
            },
            imm(Reg::R2, 0),
            Insn::Jump { target: top },
            Insn::Bind(next),
        ]);
    }
    p
}

/// What [`program`] returns.
fn expected(n: u16) -> u64 {
    (0..u64::from(n)).map(|i| (i % 5) * (i + 1)).sum()
}

/// A buffer of `len` bytes whose start is `misalign` bytes past a
/// [`CODE_ALIGN`] boundary.
fn buffer(storage: &mut Vec<u8>, len: usize, misalign: usize) -> &mut [u8] {
    storage.clear();
    storage.resize(len + 2 * CODE_ALIGN, 0xAA);
    let start = storage.as_ptr().align_offset(CODE_ALIGN) + misalign;
    &mut storage[start..start + len]
}

/// Emits `p` into a buffer of `first` bytes, moving to one twice as big
/// whenever it is too small; returns the code's bytes, what it returns when
/// run, and how many moves it took.
fn emit_growing(p: &[Insn], first: usize) -> (Vec<u8>, u64, usize) {
    // Every buffer the assembler has used lives as long as it does.
    let mut buffers: Vec<Vec<u8>> = (0..40).map(|_| Vec::new()).collect();
    let mut storages = buffers.iter_mut();
    let mut size = first;
    let mut asm: Assembler<LABELS> = Assembler::new(buffer(storages.next().unwrap(), size, 3));
    let mut moves = 0;
    let code = loop {
        let done = asm.emitted();
        let emitted = asm.emit_all(&p[done..]);
        // `finish` needs room too: for its return.
        let grow = match emitted {
            Ok(()) => match asm.len() + 64 <= size {
                true => break asm.finish().expect("finishes"),
                false => true,
            },
            Err(Error::BufferTooSmall { needed, capacity }) => {
                assert_eq!(capacity, size);
                assert!(needed > size, "{needed} {size}");
                true
            }
            Err(e) => panic!("{e}"),
        };
        assert!(grow);
        // A buffer of a few bytes may hold no aligned address: doubling
        // again is what a caller does.
        let old_size = size;
        let old = loop {
            size *= 2;
            let misalign = moves % CODE_ALIGN;
            match asm.move_to(buffer(storages.next().unwrap(), size, misalign)) {
                Ok(old) => break old,
                Err(Error::BufferTooSmall { .. }) if size < 64 => continue,
                Err(e) => panic!("{size}: {e}"),
            }
        };
        assert_eq!(old.len(), old_size);
        moves += 1;
    };
    let bytes = code.bytes().to_vec();
    let mut memory = CodeMemory::new(1 << 20).expect("mmap");
    let copy = code.copy_to(memory.as_mut_slice()).expect("fits");
    let exec = copy.make_executable(&Linux).expect("mprotect");
    let mut scratch = [0u64; 4];
    let r3 = scratch.as_mut_ptr() as u64;
    // SAFETY: the program loads and stores only at R3 + 8, in `scratch`.
    let result = unsafe { exec.call([0, 0, 0, r3]) };
    (bytes, result, moves)
}

fn emit_direct(p: &[Insn]) -> Vec<u8> {
    let mut storage = Vec::new();
    let mut asm: Assembler<LABELS> = Assembler::new(buffer(&mut storage, 1 << 20, 0));
    asm.emit_all(p).unwrap();
    asm.finish().unwrap().bytes().to_vec()
}

#[test]
fn a_program_moved_while_emitting_is_the_program_emitted_in_one_buffer() {
    for blocks in [1, 40, 120] {
        let p = program(blocks);
        let direct = emit_direct(&p);
        for first in [1, 40, 300, SLOT_DISTANCE + 100] {
            let (grown, result, moves) = emit_growing(&p, first);
            assert!(moves > 0, "{blocks} {first}");
            assert!(
                grown == direct,
                "{blocks} blocks, first buffer {first} bytes"
            );
            assert_eq!(result, expected(blocks), "{blocks} {first}");
        }
    }
}

#[test]
fn a_move_to_a_buffer_too_small_changes_nothing() {
    let p = program(10);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut asm: Assembler<LABELS> = Assembler::new(buffer(&mut a, 1 << 20, 0));
    asm.emit_all(&p).unwrap();
    let len = asm.len();
    let small = buffer(&mut b, len - 1, 0);
    assert_eq!(
        asm.move_to(small),
        Err(Error::BufferTooSmall {
            needed: len,
            capacity: len - 1
        })
    );
    assert_eq!(asm.len(), len);
    let code = asm.finish().expect("the assembler goes on where it was");
    assert!(code.bytes().len() >= len, "{len}");
    assert!(b.iter().all(|&x| x == 0xAA), "the small buffer was written");
}

#[test]
fn only_a_buffer_too_small_is_undone_by_a_move() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut asm: Assembler<4> = Assembler::new(buffer(&mut a, 4096, 0));
    let bad = Insn::Jump { target: Label(9) };
    assert_eq!(asm.emit(bad), Err(Error::LabelOutOfRange(Label(9))));
    asm.move_to(buffer(&mut b, 8192, 0)).unwrap();
    assert_eq!(asm.emit(Insn::Nop), Err(Error::EarlierError));
    assert!(matches!(asm.finish(), Err(Error::EarlierError)));
}

#[test]
fn the_code_map_gives_each_instruction_its_code() {
    let p = program(30);
    let mut a = Vec::new();
    let mut asm: Assembler<LABELS> = Assembler::new(buffer(&mut a, 1 << 20, 0));
    let mut map = Vec::new();
    for &insn in &p {
        map.push((insn, asm.emit_mapped(insn).unwrap()));
    }
    let code_len = asm.code_len();
    for (insn, range) in &map {
        if let Insn::Bind(label) = insn {
            assert!(range.is_empty());
            assert_eq!(asm.label_offset(*label), Some(range.start));
        } else {
            assert!(!range.is_empty(), "{insn:?}");
        }
    }
    // In order, apart, inside the code.
    for pair in map.windows(2) {
        assert!(pair[0].1.end <= pair[1].1.start, "{pair:?}");
    }
    let code = asm.finish().unwrap();
    let last = map.last().unwrap().1.end;
    assert!(last <= code.bytes().len());
    // Without padding, skips and data blocks, the ranges add up to less
    // than the code.
    let sum: usize = map.iter().map(|(_, r)| r.len()).sum();
    assert!(sum <= code_len, "{sum} {code_len}");
    // Register code has no padding: its ranges are back to back.
    let mut asm: Assembler = Assembler::new(buffer(&mut a, 4096, 0));
    let mut end = 0;
    for _ in 0..20 {
        let range = asm
            .emit_mapped(Insn::Bin {
                op: BinOp::Add,
                dst: Reg::R0,
                lhs: Reg::R0,
                rhs: Reg::R1,
            })
            .unwrap();
        assert_eq!(range.start, end);
        end = range.end;
    }
    assert_eq!(asm.code_len(), end);
    assert_eq!(asm.label_offset(Label(0)), None);
    assert_eq!(asm.label_offset(Label(999)), None);
}
