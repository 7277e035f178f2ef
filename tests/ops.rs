//! Every op form, as generated code and in the interpreter, on edge values.
//!
//! The cases are the core's self-test (`copyjit::selftest`), the same ones
//! the bare-metal image runs; each group is one test here. What only a
//! hosted test can do (a ten-million-iteration loop, errors for bad
//! operands) follows them.

mod common;

use common::{LABELS, interp, jit};
use copyjit::selftest::{self, Group, GroupReport, Mismatch};
use copyjit::{BinOp, Cond, Error, Insn, Label, Platform, Reg};
use copyjit_linux::{CodeMemory, Linux};

/// Code memory for one group: more than the longest case program needs.
const CODE_BYTES: usize = 1 << 16;

fn run(group: Group) -> GroupReport {
    let mut memory = CodeMemory::new(CODE_BYTES).expect("mmap");
    selftest::run_group(group, &Linux, memory.as_mut_slice())
}

fn check(group: Group) {
    let report = run(group);
    assert!(report.cases > 0, "{group} ran no case");
    if let Some(failure) = report.first_failure {
        panic!(
            "{group}: {} of {} cases failed; the first: {failure}",
            report.failed, report.cases
        );
    }
    assert!(report.passed());
}

/// One test per group; a group whose forms a feature keeps names it, and
/// its test is ignored without that feature (the other groups run the forms
/// the features include).
macro_rules! groups {
    ($($test:ident => $group:ident $(needs $feature:literal: $reason:literal)?,)*) => {
        $(
            #[test]
            $(#[cfg_attr(not(feature = $feature), ignore = $reason)])?
            fn $test() {
                check(Group::$group);
            }
        )*

        #[test]
        fn every_group_has_a_test() {
            let tested = [$(Group::$group),*];
            for group in Group::ALL {
                assert!(tested.contains(group), "{group} has no test");
            }
        }
    };
}

groups! {
    binary_ops_every_register_form => Alu,
    binary_ops_with_immediates => AluImm needs "alu-imm": "needs the `alu-imm` feature",
    unary_ops => Unary,
    moves => Mov,
    move_immediates => MovImm,
    branches_every_condition_and_register_pair => Branch,
    branches_on_immediates => BranchImm needs "branch-imm": "needs the `branch-imm` feature",
    jumps_and_nops => Jump,
    loads_every_kind_and_register_pair => Load,
    stores_every_width_and_register_pair => Store,
    push_and_pop_every_register => Stack needs "stack": "needs the `stack` feature",
    host_calls_every_destination => HostCall needs "call-host": "needs the `call-host` feature",
    calls_and_recursion => Call,
}

#[test]
fn self_test_covers_every_form_and_reports_each_group() {
    let mut memory = CodeMemory::new(CODE_BYTES).expect("mmap");
    let mut reported = Vec::new();
    let summary = selftest::run(&Linux, memory.as_mut_slice(), |r| {
        reported.push((r.group, r.cases, r.forms))
    });
    let groups: Vec<Group> = reported.iter().map(|r| r.0).collect();
    assert_eq!(groups, Group::ALL);
    assert!(summary.passed(), "{summary:?}");
    assert_eq!(
        summary.cases,
        reported.iter().map(|r| r.1).sum::<u32>(),
        "the summary adds up the groups"
    );
    // A group runs cases exactly when it has forms in the table (a
    // feature may leave all of a group's forms out).
    assert!(
        reported.iter().all(|r| (r.1 > 0) == (r.2 > 0)),
        "{reported:?}"
    );
    assert!(reported.iter().filter(|r| r.2 > 0).count() >= 8);
    assert_eq!(summary.forms_covered, summary.forms_total, "{summary:?}");
    assert!(summary.complete());
    assert_eq!(
        summary.line(7).to_string(),
        format!(
            "self-test: {} cases, {} of {} op forms, 0 failed, 7 ms",
            summary.cases, summary.forms_covered, summary.forms_total
        )
    );
}

#[test]
fn a_group_reports_in_one_line_or_two_with_its_first_failure() {
    let mut memory = CodeMemory::new(CODE_BYTES).expect("mmap");
    let report = selftest::run_group(Group::Mov, &Linux, memory.as_mut_slice());
    let line = format!(
        "  mov        {:>6} cases {:>4} forms     12 ms  ok",
        report.cases, report.forms
    );
    assert_eq!(report.line(12).to_string(), line);
    // A buffer too small for any program fails every case.
    let report = selftest::run_group(Group::Mov, &Linux, &mut [0; 8]);
    let text = report.line(3).to_string();
    let (first, second) = text.split_once('\n').expect("two lines");
    assert!(first.ends_with(" 3 ms  FAILED"), "{first}");
    assert!(
        second.starts_with(&format!("    {} failed, the first: ", report.failed)),
        "{second}"
    );
}

#[test]
fn self_test_reports_a_too_small_buffer_as_failures() {
    let mut tiny = [0u8; 8];
    let report = selftest::run_group(Group::MovImm, &Linux, &mut tiny);
    assert!(report.cases > 0);
    assert_eq!(report.failed, report.cases);
    let failure = report.first_failure.expect("a failure");
    assert!(
        matches!(
            failure.mismatch,
            Mismatch::Error(Error::BufferTooSmall { .. })
        ),
        "{failure}"
    );
}

/// A platform that never makes memory executable.
struct Refusing;

impl Platform for Refusing {
    type Error = &'static str;
    fn flush_icache(&self, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
    unsafe fn make_executable(&self, _: *mut u8, _: usize) -> Result<(), Self::Error> {
        Err("no")
    }
    unsafe fn make_writable(&self, _: *mut u8, _: usize) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn self_test_reports_a_refusing_platform_as_failures() {
    let mut buf = [0u8; 4096];
    let report = selftest::run_group(Group::Unary, &Refusing, &mut buf);
    assert_eq!(report.failed, report.cases);
    let failure = report.first_failure.expect("a failure");
    assert_eq!(failure.mismatch, Mismatch::Platform);
    assert_eq!(failure.engine, selftest::Engine::Jit);
}

#[test]
fn shift_immediates_must_be_below_64() {
    for op in [BinOp::Shl, BinOp::Shr, BinOp::Sar] {
        let insn = Insn::BinImm {
            op,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 64,
        };
        let err = Error::ImmediateOutOfRange { imm: 64, max: 63 };
        assert_eq!(jit(&[insn], [0; 4]), Err(err));
        assert_eq!(interp(&[insn], [0; 4]), Err(err));
    }
}

#[test]
#[cfg_attr(
    not(all(feature = "stack", feature = "alu-imm", feature = "branch-imm")),
    ignore = "needs the `stack`, `alu-imm`, `branch-imm` features"
)]
fn long_loop_runs_in_constant_stack() {
    // Ten million iterations: an op that made a real call instead of a tail
    // jump would overflow the stack long before the end.
    let top = Label(0);
    let p = [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Push { src: Reg::R0 },
        Insn::Pop { dst: Reg::R2 },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::BranchImm {
            cond: Cond::Ne,
            lhs: Reg::R1,
            imm: 10_000_000,
            target: top,
        },
        Insn::Ret,
    ];
    let mut stack = [0u64; 4];
    let sp = stack.as_mut_ptr_range().end as u64;
    assert_eq!(jit(&p, [0, 0, 0, sp]), Ok(49_999_995_000_000));
}

#[test]
fn labels_beyond_capacity_are_errors() {
    let far = Label(LABELS as u16);
    let p = [Insn::Jump { target: far }, Insn::Bind(far)];
    assert_eq!(jit(&p, [0; 4]), Err(Error::LabelOutOfRange(far)));
    assert_eq!(interp(&p, [0; 4]), Err(Error::LabelOutOfRange(far)));
}
