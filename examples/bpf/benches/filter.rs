//! Per-packet time of cBPF filters compiled by copyjit, in copyjit's
//! interpreter, and in libpcap's `bpf_filter`, over the same generated
//! capture of a few thousand mixed packets; and compile time (validate,
//! translate, emit into mapped memory) per cBPF instruction.
//!
//! `cargo bench -p copyjit-bpf` prints criterion's figures, then a table of
//! the fastest of several passes over the capture for each, with ratios.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{LONG_FILTER, Packet, capture, libpcap_filter, tcpdump_compile};
use copyjit_bpf::{Filter, Instruction, MAX_LABELS, Run};
use copyjit_linux::{CodeMemory, Linux};
use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Packets in the capture.
const PACKETS: usize = 4000;

const FILTERS: [(&str, &str); 5] = [
    // No expression: `ret #262144`, the cost of the call alone.
    ("(none: ret only)", ""),
    ("tcp port 80", "tcp port 80"),
    (
        "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
        "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
    ),
    ("60-instruction ports and nets", LONG_FILTER),
    ("ip6 protochain 6", "ip6 protochain 6"),
];

/// Runs `f` over every packet and returns the sum of the values.
fn pass(packets: &[Packet], f: impl Fn(&[u8], u32) -> u32) -> u64 {
    packets
        .iter()
        .map(|p| u64::from(f(black_box(&p.data), black_box(p.wirelen))))
        .sum()
}

/// The fastest of `reps` passes, in ns per packet.
fn fastest(packets: &[Packet], reps: usize, f: impl Fn(&[u8], u32) -> u32) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(pass(packets, &f));
            start.elapsed().as_secs_f64() * 1e9 / packets.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The fastest of `reps` compilations (validate, translate, emit), in ns.
fn compile_ns(program: &[Instruction], buf: &mut [u8], reps: usize) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let filter: Filter = Filter::new(black_box(program)).unwrap();
            let code = filter.emit(&mut *buf).unwrap();
            black_box(code.bytes().len());
            start.elapsed().as_secs_f64() * 1e9
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (path, packets) = capture("bench", 42, PACKETS);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    let mut rows = Vec::new();
    for (name, expr) in FILTERS {
        let program = tcpdump_compile(&path, expr);
        let filter: Filter<'_, MAX_LABELS> = Filter::new(&program).unwrap();
        let mut memory = CodeMemory::new(filter.code_bound()).unwrap();
        let compiled = filter.jit_compile(memory.as_mut_slice(), &Linux).unwrap();
        let mut insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
        let interpreted = filter.interpreter(&mut insns).unwrap();
        let want = pass(&packets, |p, w| libpcap_filter(&program, p, w));
        assert_eq!(
            pass(&packets, |p, w| compiled.run(p, w)),
            want,
            "{name}: jit"
        );
        assert_eq!(
            pass(&packets, |p, w| interpreted.run(p, w)),
            want,
            "{name}: interpreter"
        );

        let mut group = criterion.benchmark_group(format!("filter/{name}"));
        group.throughput(Throughput::Elements(PACKETS as u64));
        group.bench_function("copyjit", |b| {
            b.iter(|| pass(&packets, |p, w| compiled.run(p, w)))
        });
        group.bench_function("libpcap", |b| {
            b.iter(|| pass(&packets, |p, w| libpcap_filter(&program, p, w)))
        });
        group.bench_function("interpreter", |b| {
            b.iter(|| pass(&packets, |p, w| Run::run(&interpreted, p, w)))
        });
        group.finish();

        let mut buf = CodeMemory::new(filter.code_bound()).unwrap();
        let mut group = criterion.benchmark_group(format!("compile/{name}"));
        group.throughput(Throughput::Elements(program.len() as u64));
        group.bench_function("validate+translate+emit", |b| {
            b.iter(|| {
                let filter: Filter = Filter::new(black_box(&program)).unwrap();
                filter.emit(buf.as_mut_slice()).unwrap().bytes().len()
            })
        });
        group.finish();

        let emitted = filter
            .translation()
            .filter(|i| !matches!(i, copyjit::Insn::Bind(_)))
            .count();
        let jit = fastest(&packets, 50, |p, w| compiled.run(p, w));
        let libpcap = fastest(&packets, 50, |p, w| libpcap_filter(&program, p, w));
        let interp = fastest(&packets, 10, |p, w| interpreted.run(p, w));
        let compile = compile_ns(&program, buf.as_mut_slice(), 200) / program.len() as f64;
        // The first accepted packet, over and over: the whole path runs and
        // every branch is predicted.
        let accepted = packets
            .iter()
            .position(|p| libpcap_filter(&program, &p.data, p.wirelen) != 0)
            .unwrap_or(0);
        let same: Vec<Packet> = (0..PACKETS)
            .map(|_| Packet {
                data: packets[accepted].data.clone(),
                wirelen: packets[accepted].wirelen,
            })
            .collect();
        let jit_same = fastest(&same, 50, |p, w| compiled.run(p, w));
        let libpcap_same = fastest(&same, 50, |p, w| libpcap_filter(&program, p, w));
        rows.push((
            name,
            program.len(),
            emitted,
            [jit, libpcap, interp, jit_same, libpcap_same],
            compile,
        ));
    }

    println!(
        "\n{PACKETS} packets; ns per packet, the fastest of several passes; compile = validate + translate + emit\n"
    );
    println!(
        "| filter | cBPF insns | copyjit insns (per cBPF) | copyjit ns | libpcap ns | interpreter ns | libpcap ÷ copyjit | interpreter ÷ copyjit | one accepted packet repeated: copyjit / libpcap ns | compile ns per cBPF insn |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, n, emitted, [jit, libpcap, interp, jit_same, libpcap_same], compile) in rows {
        println!(
            "| `{name}` | {n} | {emitted} ({:.2}) | {jit:.2} | {libpcap:.2} | {interp:.1} | {:.2}× | {:.1}× | {jit_same:.2} / {libpcap_same:.2} | {compile:.1} |",
            emitted as f64 / n as f64,
            libpcap / jit,
            interp / jit,
        );
    }
}
