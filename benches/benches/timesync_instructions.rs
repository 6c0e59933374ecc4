//! TimeSync, instruction counts of the CPU-bound parts: parsing and checking a 48-byte SNTP reply
//! with offset and delay, and FastDate64 encoding and decoding of 1,000 times.
//!
//! Run: `cargo bench -p benches --bench timesync_instructions` (valgrind +
//! `.ci/install-gungraun-runner`). Ids follow `perfgate ingest`'s convention:
//! `timesync/codec/parse/packets=256`, `timesync/fastdate/{encode,decode}/values=1000`.

// gungraun's macros generate undocumented modules and functions.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};

use components::timesync::fastdate::FastDate64;
use components::timesync::packet::{NtpTimestamp, PACKET_LEN, parse_reply, sample};

const T1_NS: u128 = 1_764_244_800_123_456_789;

/// `n` server replies to one request, their receive and transmit times 1 µs apart from one to the
/// next, with the request's transmit time each must echo. A batch, not one packet: one parse is
/// ~140 instructions, few enough that an unrelated change moving the bench's call overhead moved
/// it by 10 % (138 -> 152 Ir with no change to the codec).
fn replies(n: usize) -> (Vec<[u8; PACKET_LEN]>, NtpTimestamp) {
    let ts = |ns| NtpTimestamp::from_unix_nanos(ns).expect("era 0");
    let sent = ts(T1_NS);
    let packets = (0..n as u128)
        .map(|i| {
            let mut p = [0_u8; PACKET_LEN];
            p[0] = 0x24;
            p[1] = 2;
            p[24..32].copy_from_slice(&sent.0.to_be_bytes());
            p[32..40].copy_from_slice(&ts(T1_NS + 270_000_000 + i * 1000).0.to_be_bytes());
            p[40..48].copy_from_slice(&ts(T1_NS + 271_000_000 + i * 1000).0.to_be_bytes());
            p
        })
        .collect();
    (packets, sent)
}

#[library_benchmark(setup = replies)]
#[bench::parse_packets_256(256)]
fn reply((packets, sent): (Vec<[u8; PACKET_LEN]>, NtpTimestamp)) -> i64 {
    let t4 = NtpTimestamp(sent.0 + (41 << 32) / 1000);
    packets.iter().fold(0, |acc, bytes| {
        let reply = parse_reply(black_box(bytes), sent).expect("valid reply");
        acc ^ sample(sent, reply.receive, reply.transmit, t4).offset_ns
    })
}

fn times(n: usize) -> Vec<i128> {
    (0..n as i128)
        .map(|i| 1_764_244_800_000_000_000 + i * 1_234_567)
        .collect()
}

fn encoded(n: usize) -> Vec<FastDate64> {
    times(n)
        .into_iter()
        .map(|t| FastDate64::from_unix_nanos(t).expect("in range"))
        .collect()
}

#[library_benchmark(setup = times)]
#[bench::encode_values_1000(1000)]
fn encode(times: Vec<i128>) -> u64 {
    times.iter().fold(0, |acc, &t| {
        acc ^ FastDate64::from_unix_nanos(black_box(t)).map_or(0, |d| d.0)
    })
}

#[library_benchmark(setup = encoded)]
#[bench::decode_values_1000(1000)]
fn decode(values: Vec<FastDate64>) -> u128 {
    values
        .iter()
        .fold(0, |acc, &d| acc ^ black_box(d).to_unix_nanos())
}

library_benchmark_group!(name = codec; benchmarks = reply);
library_benchmark_group!(name = fastdate; benchmarks = encode, decode);
main!(library_benchmark_groups = codec, fastdate);
