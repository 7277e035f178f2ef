//! Writes the tests' generated capture: `capture OUT.pcap [PACKETS] [SEED]`.
//!
//! Varied Ethernet frames (VLAN tags, IPv4 with options and fragments, IPv6
//! with extension headers, TCP, UDP, ICMP, ARP, runts, truncated captures),
//! for comparing the tool with tcpdump on the same file.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: capture OUT.pcap [PACKETS] [SEED]");
        std::process::exit(2);
    };
    let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let packets = common::generate_packets(seed, count);
    common::write_pcap(std::path::Path::new(&out), &packets);
}
