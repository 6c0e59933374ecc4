//! NTP status parsers, instruction counts: `chronyc tracking`, `chronyc -c tracking` and `ntpq -c rv`
//! on the fake programs' output (the REFERENCE.md sample lines), the CPU-bound part of a status read.
//!
//! Run: `cargo bench -p benches --bench ntpstatus_instructions` (valgrind +
//! `.ci/install-gungraun-runner`). Ids follow `perfgate ingest`'s convention:
//! `ntpstatus/parse/{chronyc,chronyccsv,ntpq}/fields=N`.

// gungraun's macros generate undocumented modules and functions.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};

use components::ntpstatus::{parse_chronyc_csv, parse_chronyc_tracking, parse_ntpq_rv};
use fixtures::fakecmd::{CHRONYC_CSV, CHRONYC_TEXT, NTPQ_SYNCED};

#[library_benchmark]
#[bench::chronyc_fields_13(CHRONYC_TEXT.as_bytes())]
fn chronyc(text: &[u8]) -> bool {
    black_box(parse_chronyc_tracking(text).is_ok())
}

#[library_benchmark]
#[bench::chronyccsv_fields_14(CHRONYC_CSV.as_bytes())]
fn chronyc_csv(text: &[u8]) -> bool {
    black_box(parse_chronyc_csv(text).is_ok())
}

#[library_benchmark]
#[bench::ntpq_fields_2(NTPQ_SYNCED.as_bytes())]
fn ntpq(text: &[u8]) -> bool {
    black_box(parse_ntpq_rv(text).is_ok())
}

library_benchmark_group!(name = parse; benchmarks = chronyc, chronyc_csv, ntpq);
main!(library_benchmark_groups = parse);
