//! The writable/executable typestate when the platform fails: a buffer is
//! never handed back while it may not be writable.

use copyjit::{Assembler, Code, Insn, IntoWritableError, Platform, Reg};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A platform that changes no permissions (the buffer is plain memory) and
/// fails on demand.
#[derive(Debug, Default)]
struct Flaky {
    /// How many of the next `make_executable` calls fail.
    refuse_executable: Cell<u32>,
    /// How many of the next `make_writable` calls fail.
    refuse_writable: Cell<u32>,
    /// How many `make_writable` calls there were.
    writable_calls: Cell<u32>,
}

fn take(n: &Cell<u32>) -> bool {
    let left = n.get();
    n.set(left.saturating_sub(1));
    left > 0
}

impl Platform for Flaky {
    type Error = &'static str;

    fn flush_icache(&self, _code: &[u8]) -> Result<(), &'static str> {
        Ok(())
    }

    unsafe fn make_executable(&self, _ptr: *mut u8, _len: usize) -> Result<(), &'static str> {
        if take(&self.refuse_executable) {
            Err("no executable memory")
        } else {
            Ok(())
        }
    }

    unsafe fn make_writable(&self, _ptr: *mut u8, _len: usize) -> Result<(), &'static str> {
        self.writable_calls.set(self.writable_calls.get() + 1);
        if take(&self.refuse_writable) {
            Err("still executable")
        } else {
            Ok(())
        }
    }
}

fn finished(buf: &mut [u8]) -> Code<'_> {
    let mut asm: Assembler = Assembler::new(buf);
    asm.emit(Insn::Mov {
        dst: Reg::R0,
        src: Reg::R1,
    })
    .expect("emit");
    asm.finish().expect("finish")
}

#[test]
fn a_failed_into_writable_keeps_the_code_executable() {
    let flaky = Flaky::default();
    let mut buf = [0u8; 4096];
    let exec = finished(&mut buf)
        .make_executable(&flaky)
        .expect("executable");
    flaky.refuse_writable.set(1);
    let IntoWritableError { executable, error } = exec.into_writable().expect_err("refused");
    assert_eq!(error, "still executable");
    // The buffer is still borrowed by the code: it cannot be written here,
    // which the borrow checker enforces. Trying again succeeds.
    let bytes = executable.bytes().to_vec();
    let buf = executable.into_writable().expect("writable");
    assert_eq!(flaky.writable_calls.get(), 2);
    assert!(buf.windows(bytes.len()).any(|w| w == bytes));
    buf.fill(0);
}

#[test]
fn dropping_code_the_platform_cannot_make_writable_panics() {
    let flaky = Flaky::default();
    let mut buf = [0u8; 4096];
    let exec = finished(&mut buf)
        .make_executable(&flaky)
        .expect("executable");
    flaky.refuse_writable.set(u32::MAX);
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(exec)));
    assert!(dropped.is_err(), "the drop must not hand the buffer back");
}

#[test]
fn a_refused_make_executable_restores_the_buffer() {
    let flaky = Flaky::default();
    let mut buf = [0u8; 4096];
    flaky.refuse_executable.set(1);
    let refused = finished(&mut buf).make_executable(&flaky).err();
    assert_eq!(refused, Some("no executable memory"));
    assert_eq!(flaky.writable_calls.get(), 1);
    buf.fill(0);

    // And when restoring fails too, the buffer is not handed back.
    flaky.refuse_executable.set(1);
    flaky.refuse_writable.set(1);
    let code = finished(&mut buf);
    let made = catch_unwind(AssertUnwindSafe(|| {
        code.make_executable(&flaky).map(|_| ())
    }));
    assert!(made.is_err());
}

#[test]
fn every_public_type_has_debug() {
    let flaky = Flaky::default();
    let mut buf = [0u8; 4096];
    let code = finished(&mut buf);
    assert!(format!("{code:?}").starts_with("Code"));
    let exec = code.make_executable(&flaky).expect("executable");
    assert!(format!("{exec:?}").starts_with("Executable"));
    flaky.refuse_writable.set(1);
    let error = exec.into_writable().expect_err("refused");
    assert!(format!("{error:?}").starts_with("IntoWritableError"));
    assert!(error.to_string().contains("still executable"));
    let program = [Insn::Ret];
    let interpreter: copyjit::Interpreter = copyjit::Interpreter::new(&program).expect("valid");
    assert!(format!("{interpreter:?}").starts_with("Interpreter"));
    assert!(format!("{:?}", copyjit::Limits::DEFAULT).starts_with("Limits"));
    assert!(format!("{:?}", copyjit::Frame::EMPTY).starts_with("Frame"));
}
