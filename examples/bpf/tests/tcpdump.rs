//! Filters compiled by tcpdump, run over a generated capture: every packet's
//! value, compiled and interpreted, must be libpcap's `bpf_filter`'s (and
//! the reference model's; see `common::expected`).

mod common;

use common::{EXPRESSIONS, capture, expected, tcpdump_compile, tcpdump_listing};
use copyjit_bpf::{Filter, MAX_LABELS, Run};
use copyjit_linux::{CodeMemory, Linux};

#[test]
fn tcpdump_filters_match_libpcap() {
    let (path, packets) = capture("filters", 0x5eed, 3000);
    let (mut cbpf, mut copyjit_insns) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    let mut table = String::new();
    for expr in EXPRESSIONS {
        let program = tcpdump_compile(&path, expr);
        let filter: Filter<'_, MAX_LABELS> = Filter::new(&program)
            .unwrap_or_else(|e| panic!("{expr:?}: tcpdump's program rejected: {e}"));

        let emitted = filter
            .translation()
            .filter(|i| !matches!(i, copyjit::Insn::Bind(_)))
            .count();
        cbpf += program.len();
        copyjit_insns += emitted;
        table.push_str(&format!(
            "{:>4} {:>5} {:>5.2}  {expr}\n",
            program.len(),
            emitted,
            emitted as f64 / program.len() as f64
        ));

        let mut memory = CodeMemory::new(filter.code_bound()).unwrap();
        let compiled = filter.jit_compile(memory.as_mut_slice(), &Linux).unwrap();
        let mut insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
        let interpreted = filter.interpreter(&mut insns).unwrap();
        let mut accepted = 0;
        for (n, p) in packets.iter().enumerate() {
            let want = match expected(&program, &p.data, p.wirelen) {
                Ok(want) => want,
                Err(e) => {
                    mismatches.push(format!("{expr:?} packet {n}: {e}"));
                    continue;
                }
            };
            let jit = compiled.run(&p.data, p.wirelen);
            let interp = Run::run(&interpreted, &p.data, p.wirelen);
            accepted += usize::from(want != 0);
            if jit != want || interp != want {
                mismatches.push(format!(
                    "{expr:?} packet {n} (caplen {}, wirelen {}): expected {want}, jit {jit}, interpreter {interp}",
                    p.data.len(),
                    p.wirelen
                ));
            }
        }
        if accepted == 0 {
            eprintln!("note: {expr:?} accepts no packet of the capture");
        }
    }
    eprintln!("cBPF  copyjit  per cBPF  filter\n{table}");
    eprintln!(
        "all filters: {cbpf} cBPF instructions, {copyjit_insns} copyjit instructions, {:.2} per cBPF instruction",
        copyjit_insns as f64 / cbpf as f64
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn listing_is_tcpdump_d() {
    let (path, _) = capture("listing", 1, 10);
    for expr in EXPRESSIONS {
        let program = tcpdump_compile(&path, expr);
        let filter: Filter<'_, MAX_LABELS> = Filter::new(&program).unwrap();
        assert_eq!(
            filter.listing().to_string(),
            tcpdump_listing(&path, expr),
            "{expr:?}"
        );
    }
}
