//! The command-line tool: accept counts and per-packet values, compiled and
//! interpreted, from pcap and pcapng, against libpcap's values (or the
//! reference model's).

mod common;

use common::{Packet, capture, expected, tcpdump_compile};
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write_pcapng(path: &Path, packets: &[Packet]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut writer = PcapNgWriter::new(file).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
    for (i, p) in packets.iter().enumerate() {
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_micros(i as u64),
                original_len: p.wirelen,
                data: p.data.as_slice().into(),
                options: vec![],
            })
            .unwrap();
    }
}

fn tool(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_copyjit-bpf"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "copyjit-bpf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn values_and_counts_from_pcap_and_pcapng() {
    let (pcap, packets) = capture("tool", 3, 500);
    let pcapng = pcap.with_extension("pcapng");
    write_pcapng(&pcapng, &packets);
    let expr = "vlan or ip6 protochain 6 or tcp port 80";
    let program = tcpdump_compile(&pcap, expr);
    let filter = pcap.with_extension("ddd");
    let text: String = std::iter::once(format!("{}\n", program.len()))
        .chain(
            program
                .iter()
                .map(|i| format!("{} {} {} {}\n", i.code, i.jt, i.jf, i.k)),
        )
        .collect();
    std::fs::write(&filter, text).unwrap();

    let want: Vec<u32> = packets
        .iter()
        .map(|p| expected(&program, &p.data, p.wirelen).unwrap())
        .collect();
    let accepted = want.iter().filter(|&&v| v != 0).count();
    assert!(accepted > 0);
    let values: String = want.iter().map(|v| format!("{v}\n")).collect();
    let (filter, pcap, pcapng) = (
        filter.to_str().unwrap(),
        pcap.to_str().unwrap(),
        pcapng.to_str().unwrap(),
    );
    for capture in [pcap, pcapng] {
        for mode in [&[][..], &["--interpret"][..]] {
            let args = |extra: &[&'static str]| -> Vec<&str> {
                mode.iter()
                    .chain(extra)
                    .copied()
                    .chain([filter, capture])
                    .collect()
            };
            assert_eq!(
                tool(&args(&[])),
                format!("accepted {accepted} of {} packets\n", packets.len()),
                "{capture} {mode:?}"
            );
            assert_eq!(tool(&args(&["--values"])), values, "{capture} {mode:?}");
        }
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("copyjit-bpf-{}-bad", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let filter = dir.join("filter");
    let capture = dir.join("capture.pcap");
    std::fs::write(&capture, b"not a capture").unwrap();
    let run = |text: &str| {
        std::fs::write(&filter, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_copyjit-bpf"))
            .arg(&filter)
            .arg(&capture)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("1\n6 0 0 1\n");
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = run("1\n21 0 1 0\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("jump to 1, outside the program"), "{err}");
    let (code, err) = run("2\n6 0 0 1\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("the count says 2"), "{err}");
}
