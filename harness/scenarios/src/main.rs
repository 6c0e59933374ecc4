//! `perfgate`: the engine's command line over this repository's scenarios (`scenarios::registry`).
//! Exit codes: 0 pass, 1 regression (or selftest miss), 2 bad input or usage.

use std::process::ExitCode;

/// Counts the heap (current and peak bytes) for the rule sync's peak-heap metric.
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

fn main() -> ExitCode {
    scenarios::rulesync::set_heap_probe(scenarios::rulesync::HeapProbe {
        current: || HEAP.current_usage(),
        peak: || HEAP.peak_usage(),
        reset_peak: || HEAP.reset_peak_usage(),
    });
    perfgate::main(scenarios::registry)
}
