//! Validation: each rejection is its own typed error, and the verdicts agree
//! with libpcap's `bpf_validate` (stricter only on opcodes that libpcap's
//! `bpf_filter` would abort on, and on length).

mod common;

use copyjit_bpf::{Error, Filter, Instruction, MAX_INSNS, op::*};

fn check(program: &[Instruction]) -> Result<(), Error> {
    Filter::<'_, 256>::new(program).map(|_| ())
}

const RET0: Instruction = Instruction::stmt(RET | K, 0);

#[test]
fn typed_errors() {
    assert_eq!(check(&[]), Err(Error::Empty));
    let long = vec![RET0; MAX_INSNS + 1];
    assert_eq!(check(&long), Err(Error::TooLong { len: MAX_INSNS + 1 }));
    assert!(Filter::<'_, 256>::new(&long[..MAX_INSNS]).is_ok());

    // Opcodes bpf_validate lets through but bpf_filter aborts on.
    for code in [0x0e, 0x08, 0x18, 0x38, 0xb0, 0x8c, 0x0d, 0x17, 0xff, 0xffff] {
        assert_eq!(
            check(&[Instruction::stmt(code, 0), RET0]),
            Err(Error::UnknownOpcode { pc: 0, code }),
            "{code:#x}"
        );
    }

    // Jumps: past the end, forward and by wrapping around.
    assert_eq!(
        check(&[Instruction::jump(JMP | JEQ | K, 0, 1, 0), RET0]),
        Err(Error::JumpOutOfRange { pc: 0, target: 2 })
    );
    assert_eq!(
        check(&[RET0, Instruction::jump(JMP | JGT | X, 0, 0, 255), RET0]),
        Err(Error::JumpOutOfRange { pc: 1, target: 257 })
    );
    assert_eq!(
        check(&[Instruction::stmt(JMP | JA, 1), RET0]),
        Err(Error::JumpOutOfRange { pc: 0, target: 2 })
    );
    assert_eq!(
        check(&[RET0, Instruction::stmt(JMP | JA, (-3i32) as u32), RET0]),
        Err(Error::JumpOutOfRange {
            pc: 1,
            target: u32::MAX
        })
    );
    // A backward ja inside the program passes, as in libpcap.
    assert!(check(&[RET0, Instruction::stmt(JMP | JA, (-2i32) as u32), RET0]).is_ok());

    for code in [ALU | DIV | K, ALU | MOD | K] {
        assert_eq!(
            check(&[Instruction::stmt(code, 0), RET0]),
            Err(Error::DivisionByZero { pc: 0 })
        );
        assert!(check(&[Instruction::stmt(code, 1), RET0]).is_ok());
        // By X is checked when it runs.
        assert!(check(&[Instruction::stmt(code | X, 0), RET0]).is_ok());
    }

    for code in [LD | W | MEM, LDX | W | MEM, ST, STX] {
        assert_eq!(
            check(&[Instruction::stmt(code, 16), RET0]),
            Err(Error::ScratchOutOfRange { pc: 0, index: 16 })
        );
        assert!(check(&[Instruction::stmt(code, 15), RET0]).is_ok());
    }

    assert_eq!(
        check(&[Instruction::stmt(LD | W | IMM, 1)]),
        Err(Error::NoFinalReturn)
    );
    assert_eq!(
        check(&[RET0, Instruction::stmt(JMP | JA, (-2i32) as u32)]),
        Err(Error::NoFinalReturn)
    );

    // Labels: one per target, one per shift by X, one for "return 0".
    // (A jump to the next instruction needs none.)
    let program = [
        Instruction::jump(JMP | JEQ | K, 0, 1, 2),
        Instruction::stmt(ALU | LSH | X, 0),
        RET0,
        RET0,
    ];
    assert_eq!(
        Filter::<'_, 4>::new(&[Instruction::jump(JMP | JEQ | K, 0, 0, 1), RET0, RET0])
            .unwrap()
            .labels(),
        2
    );
    assert_eq!(Filter::<'_, 4>::new(&program).unwrap().labels(), 4);
    assert!(matches!(
        Filter::<'_, 3>::new(&program),
        Err(Error::TooManyLabels {
            needed: 4,
            capacity: 3
        })
    ));
}

#[test]
fn translation_and_code_buffers_too_small() {
    let program = [
        Instruction::stmt(LD | W | ABS, 0),
        Instruction::stmt(RET | A, 0),
    ];
    let filter: Filter = Filter::new(&program).unwrap();
    let mut insns = [copyjit::Insn::Nop; 4];
    assert!(matches!(
        filter.translate(&mut insns),
        Err(Error::TranslationTooLong { capacity: 4, .. })
    ));
    let mut small = [0u8; 8];
    assert!(matches!(
        filter.emit(&mut small),
        Err(Error::Jit(copyjit::Error::BufferTooSmall { .. }))
    ));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn verdicts_agree_with_bpf_validate() {
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..200_000 {
        let len = rng.usize(1..8);
        let program: Vec<Instruction> = (0..len)
            .map(|_| Instruction {
                // Mostly real opcodes, sometimes any 16 bits.
                code: if rng.u8(..8) == 0 {
                    rng.u16(..)
                } else {
                    ALL[rng.usize(..ALL.len())]
                },
                jt: rng.u8(..8),
                jf: rng.u8(..8),
                k: match rng.u8(..4) {
                    0 => rng.u32(..),
                    1 => (-(rng.i32(1..8))) as u32,
                    _ => rng.u32(..20),
                },
            })
            .collect();
        let libpcap = common::libpcap_validate(&program);
        match check(&program) {
            Ok(()) => {
                accepted += 1;
                assert!(libpcap, "accepted what bpf_validate rejects:\n{program:?}");
            }
            Err(Error::UnknownOpcode { .. }) => rejected += 1,
            Err(e) => {
                rejected += 1;
                assert!(
                    !libpcap,
                    "rejected ({e}) what bpf_validate accepts:\n{program:?}"
                );
            }
        }
    }
    assert!(
        accepted > 1000 && rejected > 1000,
        "{accepted} accepted, {rejected} rejected"
    );
}
