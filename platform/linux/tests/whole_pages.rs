//! The Linux platform changes permissions only on whole pages, so no other
//! data can become read-only; code made executable can run on any thread;
//! the perf map names it.

use copyjit::{Assembler, BinOp, Executable, Insn, Platform, Reg};
use copyjit_linux::{CodeMemory, Error, Linux, PerfMap};

fn page_size() -> usize {
    rustix::param::page_size()
}

/// The example that used to crash: code and other data on one page. Making
/// the code executable made the data read-only too, and the write to it
/// crashed with no `unsafe` code anywhere. Now it is refused, nothing
/// changes, and both stay writable.
#[test]
fn code_sharing_a_page_with_other_data_is_refused() -> Result<(), copyjit::Error> {
    #[repr(C, align(4096))]
    struct Page {
        code: [u8; 2048],
        data: [u8; 2048],
    }
    let mut page = Box::new(Page {
        code: [0; 2048],
        data: [0; 2048],
    });
    let Page { code, data } = &mut *page;
    let mut asm: Assembler = Assembler::new(code);
    asm.emit(Insn::MovImm {
        dst: Reg::R0,
        imm: 42,
    })?;
    let result = asm.finish()?.make_executable(&Linux);
    // Had the code been made executable, its page would be read-only now,
    // and this write would crash.
    data[0] = 1;
    match result.err() {
        Some(Error::NotWholePages {
            addr,
            len: 2048,
            page_size: size,
        }) => {
            assert_eq!(addr, code.as_ptr() as usize);
            assert_eq!(size, page_size());
        }
        other => panic!("expected NotWholePages, got {other:?}"),
    }
    code[0] = 1;
    data[1] = 1;
    assert_eq!((code[0], data[0], data[1]), (1, 1, 1));
    Ok(())
}

/// A buffer that starts on a page boundary but ends inside a page, and one
/// that is a whole page long but not aligned: both refused.
#[test]
fn partial_pages_are_refused() {
    let page = page_size();
    let mut memory = CodeMemory::new(2 * page).expect("mmap");
    let buf = memory.as_mut_slice();
    for range in [0..page - 64, 64..page + 64, page..2 * page - 1] {
        let region = &mut buf[range.clone()];
        let len = region.len();
        // SAFETY: the region is borrowed mutably here; nothing runs in it.
        let refused = unsafe { Linux.make_executable(region.as_mut_ptr(), len) };
        assert!(
            matches!(refused, Err(Error::NotWholePages { .. })),
            "{range:?}: {refused:?}"
        );
    }
    // Nothing changed: the whole mapping is writable.
    buf.fill(0xaa);
}

/// Whole pages inside a larger heap allocation are accepted, and the rest
/// of the allocation stays writable while the code runs.
#[test]
fn whole_pages_inside_other_memory_are_accepted() -> Result<(), Box<dyn std::error::Error>> {
    let page = page_size();
    let mut heap = vec![0u8; 4 * page];
    let offset = heap.as_ptr().align_offset(page);
    let (before, rest) = heap.split_at_mut(offset);
    let (code, after) = rest.split_at_mut(page);
    let mut asm: Assembler = Assembler::new(code);
    asm.emit(Insn::Bin {
        op: BinOp::Mul,
        dst: Reg::R0,
        lhs: Reg::R0,
        rhs: Reg::R1,
    })?;
    let exec = asm.finish()?.make_executable(&Linux)?;
    before.fill(1);
    after.fill(2);
    // SAFETY: the program touches no memory.
    assert_eq!(unsafe { exec.call([6, 7, 0, 0]) }, 42);
    let code = exec.into_writable().map_err(|e| e.error)?;
    code.fill(3);
    Ok(())
}

fn assert_send_sync<T: Send + Sync>() {}

/// Code made executable on one thread runs on others, several at once.
#[test]
fn executable_code_is_send_and_sync() -> Result<(), Box<dyn std::error::Error>> {
    assert_send_sync::<Executable<'static, Linux>>();
    assert_send_sync::<CodeMemory>();
    let mut memory = CodeMemory::new(4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit(Insn::Bin {
        op: BinOp::Add,
        dst: Reg::R0,
        lhs: Reg::R0,
        rhs: Reg::R1,
    })?;
    let exec = asm.finish()?.make_executable(&Linux)?;
    std::thread::scope(|s| {
        let exec = &exec;
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                s.spawn(move || {
                    (0..10_000u64)
                        // SAFETY: the program touches no memory.
                        .map(|i| unsafe { exec.call([t, i, 0, 0]) })
                        .sum::<u64>()
                })
            })
            .collect();
        for (t, thread) in threads.into_iter().enumerate() {
            let expected = 10_000 * t as u64 + (0..10_000).sum::<u64>();
            assert_eq!(thread.join().expect("thread"), expected);
        }
    });
    // Moved to another thread and dropped there.
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: as above.
            assert_eq!(unsafe { exec.call([1, 2, 0, 0]) }, 3);
            drop(exec);
        });
    });
    memory.as_mut_slice().fill(0);
    Ok(())
}

/// `perf` finds the code under its name in `/tmp/perf-<pid>.map`.
#[test]
fn the_perf_map_names_the_code() -> Result<(), Box<dyn std::error::Error>> {
    let mut memory = CodeMemory::new(4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit(Insn::MovImm {
        dst: Reg::R0,
        imm: 7,
    })?;
    let exec = asm.finish()?.make_executable(&Linux)?;
    let map = PerfMap::open()?;
    map.register(exec.bytes(), "whole_pages test\ncode")?;
    let line = format!(
        "{:x} {:x} whole_pages test code\n",
        exec.bytes().as_ptr() as usize,
        exec.bytes().len()
    );
    let text = std::fs::read_to_string(PerfMap::path())?;
    assert!(text.contains(&line), "{line:?} not in {text:?}");
    assert!(format!("{exec:?}").starts_with("Executable"));
    // The test's own map: this process is gone once the tests end.
    std::fs::remove_file(PerfMap::path())?;
    Ok(())
}
