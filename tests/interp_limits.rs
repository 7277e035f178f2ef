//! The interpreter runs in bounded native stack: calls go on an explicit
//! call stack, and the caller chooses how deep they nest and how many
//! instructions run. It also reports the same errors as the assembler.

use copyjit::{
    Assembler, BinOp, Cond, Error, Frame, Insn, Interpreter, Label, Limits, MAX_CALL_DEPTH, Reg,
};

/// Native stack for the threads below: far less than the recursive
/// interpreter needed for its call-depth limit (160 to 192 KiB).
const SMALL_STACK: usize = 64 * 1024;

/// `R0 = f(R1)` with `f(0) = 0`, `f(n) = f(n - 1) + 1`: recursion `R1 + 1`
/// calls deep.
fn count_down() -> [Insn; 10] {
    let (f, base) = (Label(0), Label(1));
    [
        Insn::Call { target: f },
        Insn::Ret,
        Insn::Bind(f),
        Insn::BranchImm {
            cond: Cond::Eq,
            lhs: Reg::R1,
            imm: 0,
            target: base,
        },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::Call { target: f },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 1,
        },
        Insn::Ret,
        Insn::Bind(base),
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
    ]
}

/// Runs `f` on a thread with a [`SMALL_STACK`] and returns its result.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread ran to the end")
}

#[test]
fn recursion_stops_at_the_depth_limit_on_a_small_stack() {
    let result = on_small_stack(|| {
        let program = count_down();
        let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
        // SAFETY: the program touches no memory and calls no host function.
        unsafe { interpreter.run([0, 1_000_000, 0, 0]) }
    });
    assert_eq!(result, Err(Error::CallDepthExceeded));
}

#[test]
fn recursion_within_the_limit_returns_on_a_small_stack() {
    let result = on_small_stack(|| {
        let program = count_down();
        let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
        // The outer call and `n` nested ones: MAX_CALL_DEPTH in all.
        let n = MAX_CALL_DEPTH as u64 - 1;
        // SAFETY: as above.
        unsafe { interpreter.run([0, n, 0, 0]) }
    });
    assert_eq!(result, Ok(MAX_CALL_DEPTH as u64 - 1));
}

#[test]
fn deep_recursion_on_caller_frames_needs_no_more_native_stack() {
    const DEPTH: usize = 200_000;
    let results = on_small_stack(|| {
        let program = count_down();
        let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
        let mut frames = vec![Frame::EMPTY; DEPTH];
        let limits = Limits {
            call_depth: usize::MAX,
            ..Limits::DEFAULT
        };
        // SAFETY: as above.
        let fits = unsafe { interpreter.run_on([0, DEPTH as u64 - 1, 0, 0], limits, &mut frames) };
        // SAFETY: as above.
        let one_more = unsafe { interpreter.run_on([0, DEPTH as u64, 0, 0], limits, &mut frames) };
        (fits, one_more)
    });
    assert_eq!(
        results,
        (Ok(DEPTH as u64 - 1), Err(Error::CallDepthExceeded))
    );
}

#[test]
fn the_caller_chooses_the_call_depth() {
    let program = count_down();
    let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
    let mut frames = [Frame::EMPTY; 16];
    let run = |n: u64, call_depth: usize, frames: &mut [Frame]| {
        let limits = Limits {
            call_depth,
            ..Limits::DEFAULT
        };
        // SAFETY: as above.
        unsafe { interpreter.run_on([0, n, 0, 0], limits, frames) }
    };
    assert_eq!(run(9, 10, &mut frames), Ok(9));
    assert_eq!(run(10, 10, &mut frames), Err(Error::CallDepthExceeded));
    // The call stack's length bounds the depth too.
    assert_eq!(run(15, 100, &mut frames), Ok(15));
    assert_eq!(run(16, 100, &mut frames), Err(Error::CallDepthExceeded));
    assert_eq!(run(0, 0, &mut frames), Err(Error::CallDepthExceeded));
    assert_eq!(run(0, 1, &mut []), Err(Error::CallDepthExceeded));
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let top = Label(0);
    let program = [Insn::Bind(top), Insn::Jump { target: top }];
    let result = on_small_stack(move || {
        let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
        let limits = Limits {
            fuel: 1_000_000,
            ..Limits::DEFAULT
        };
        // SAFETY: the program touches no memory.
        unsafe { interpreter.run_on([0; 4], limits, &mut []) }
    });
    assert_eq!(result, Err(Error::FuelExhausted));
}

#[test]
fn fuel_counts_every_instruction_run() {
    // Three instructions, `Ret` included.
    let program = [
        Insn::Nop,
        Insn::MovImm {
            dst: Reg::R0,
            imm: 7,
        },
        Insn::Ret,
    ];
    let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
    let run = |fuel| {
        let limits = Limits {
            fuel,
            ..Limits::DEFAULT
        };
        // SAFETY: the program touches no memory.
        unsafe { interpreter.run_on([0; 4], limits, &mut []) }
    };
    assert_eq!(run(3), Ok(7));
    assert_eq!(run(2), Err(Error::FuelExhausted));
    assert_eq!(run(0), Err(Error::FuelExhausted));
    // Running off the end costs nothing.
    let empty: Interpreter = Interpreter::new(&[]).expect("valid");
    // SAFETY: the empty program does nothing.
    let off_the_end = unsafe {
        empty.run_on(
            [5, 0, 0, 0],
            Limits {
                fuel: 0,
                ..Limits::DEFAULT
            },
            &mut [],
        )
    };
    assert_eq!(off_the_end, Ok(5));
}

#[test]
fn calls_keep_r1_to_r3_and_return_off_the_end() {
    let f = Label(3);
    let program = [
        Insn::Call { target: f },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Ret,
        Insn::Bind(f),
        Insn::MovImm {
            dst: Reg::R1,
            imm: 1000,
        },
        Insn::MovImm {
            dst: Reg::R0,
            imm: 5,
        },
        // Runs off the end: returns from the call.
    ];
    let interpreter: Interpreter = Interpreter::new(&program).expect("valid");
    // SAFETY: the program touches no memory.
    assert_eq!(unsafe { interpreter.run([0, 2, 0, 0]) }, Ok(7));
}

/// What the assembler reports for `program`, with a buffer large enough.
fn assembled(program: &[Insn]) -> Result<(), Error> {
    let mut buf = vec![0u8; 1 << 16];
    let mut asm: Assembler = Assembler::new(&mut buf);
    asm.emit_all(program)?;
    asm.finish().map(|_| ())
}

#[test]
#[cfg_attr(not(feature = "call"), ignore = "needs the `call` feature")]
fn the_interpreter_reports_what_the_assembler_reports() {
    let l = |n| Label(n);
    let programs: [&[Insn]; 6] = [
        &[Insn::Jump { target: l(2) }, Insn::Jump { target: l(0) }],
        &[Insn::Call { target: l(9) }, Insn::Jump { target: l(4) }],
        &[
            Insn::Bind(l(1)),
            Insn::Jump { target: l(3) },
            Insn::Jump { target: l(1) },
        ],
        &[
            Insn::Jump { target: l(5) },
            Insn::Bind(l(1)),
            Insn::Bind(l(1)),
        ],
        &[Insn::Jump { target: l(5) }, Insn::Jump { target: l(64) }],
        &[
            Insn::Jump { target: l(7) },
            Insn::BinImm {
                op: BinOp::Shl,
                dst: Reg::R0,
                lhs: Reg::R0,
                imm: 64,
            },
        ],
    ];
    for program in programs {
        let interpreted = Interpreter::<64>::new(program).map(|_| ());
        assert_eq!(interpreted, assembled(program), "{program:?}");
        assert!(interpreted.is_err(), "{program:?}");
    }
    assert_eq!(
        Interpreter::<64>::new(programs[0]).map(|_| ()),
        Err(Error::UnboundLabel(Label(0)))
    );
}
