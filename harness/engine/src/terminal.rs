//! What a person sees in the terminal: a progress line while scenarios run, then the verdict,
//! regressions, claims and growth exponents. The files in reports/ hold the full detail.

use std::io::{IsTerminal, Write};

use crate::compare::Comparison;
use crate::model::{ClaimVerdict, RunRecord, format_sig};
use crate::report::human;
use crate::scenario::{Progress, WALL_RATIO};
use crate::selftest::ComponentResult;

/// `[3/6] flowcache/size/walk/files=10000 …`, rewritten in place on a terminal, one line each in CI.
pub struct ProgressLine {
    tty: bool,
}

impl ProgressLine {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for ProgressLine {
    fn start(&mut self, index: usize, total: usize, id: &str) {
        if self.tty {
            eprint!("\r\x1b[2K[{}/{total}] {id} …", index + 1);
            let _ = std::io::stderr().flush();
        } else {
            eprint!("[{}/{total}] {id} … ", index + 1);
        }
    }

    fn finish(&mut self, id: &str, seconds: f64) {
        if self.tty {
            eprint!("\r\x1b[2K");
        } else {
            let _ = id;
            eprintln!("{seconds:.2} s");
        }
    }
}

fn print_claims_and_growth(record: &RunRecord) {
    // Claims whose scenarios did not run (a filtered or smoke run) are counted, not listed: the
    // report and summary.md list them with what is missing.
    let measured: Vec<_> = record
        .claims
        .iter()
        .filter(|c| c.measured.is_some())
        .collect();
    let unmeasured = record.claims.len() - measured.len();
    if !record.claims.is_empty() {
        println!("\nclaims:");
        for c in measured {
            let mark = match c.verdict() {
                ClaimVerdict::Holds => "holds         ",
                ClaimVerdict::TooClose => "too close     ",
                _ => "DOES NOT HOLD ",
            };
            println!(
                "  {mark} {}:{} “{}”\n                 {}",
                c.claim.seed, c.claim.line, c.claim.text, c.detail
            );
        }
        if unmeasured > 0 {
            println!(
                "  ({unmeasured} more not measured: their scenarios were not in this run; \
                 summary.md names them)"
            );
        }
    }
    // Fits without an exponent (a zero among the points: nothing grows) are left to the report.
    let fits: Vec<_> = record
        .growth
        .iter()
        .filter(|g| g.metric != WALL_RATIO)
        .filter_map(|g| Some((g, g.exponent?)))
        .collect();
    if !fits.is_empty() {
        println!("\ngrowth (cost ∝ scale^exponent):");
        for (g, e) in fits {
            let along = format!("{} ∝ {}^{}", g.metric, g.param, format_sig(e));
            println!("  {:<40} {along}", g.family);
        }
    }
}

/// After `run`: every metric.
pub fn print_record(record: &RunRecord) {
    for s in &record.scenarios {
        for (name, m) in &s.metrics {
            println!(
                "{:<44} {:<22} {}",
                s.id,
                name,
                human(m.value.as_f64(), &m.unit)
            );
        }
    }
    print_claims_and_growth(record);
    println!(
        "\n{} scenarios in {:.1} s",
        record.scenarios.len(),
        record.duration_s
    );
}

/// After `check` / `compare`: the verdict first.
pub fn print_comparison(record: &RunRecord, c: &Comparison) {
    let failing: Vec<_> = c.rows.iter().filter(|r| r.fails()).collect();
    for r in &failing {
        let ratio = r
            .ratio
            .map_or_else(|| "–".to_owned(), |x| format!("{}×", format_sig(x)));
        println!(
            "{:<10} {:<44} {:<22} {} -> {} ({ratio}, limit {}, {})",
            r.verdict.to_string().to_uppercase(),
            r.key.scenario,
            r.key.metric,
            r.baseline
                .map_or_else(|| "–".to_owned(), |v| human(v, &r.key.unit)),
            r.current
                .map_or_else(|| "–".to_owned(), |v| human(v, &r.key.unit)),
            r.limit_text(),
            r.rule
        );
    }
    print_claims_and_growth(record);
    println!(
        "\n{}: {} ({} scenarios, {:.1} s){}",
        if c.failed() { "FAIL" } else { "PASS" },
        c.headline(),
        record.scenarios.len(),
        record.duration_s,
        if c.same_machine {
            ""
        } else {
            "; absolute wall times not gated (no same PERFGATE_MACHINE label)"
        }
    );
}

/// After `selftest`: a row per component; returns whether every swap was caught.
pub fn print_selftest(results: &[ComponentResult]) -> bool {
    println!(
        "{:<14} {:<8} {:<9} caught by",
        "component", "result", "swaps"
    );
    for r in results {
        println!(
            "{:<14} {:<8} {:<9} {}",
            r.component,
            if r.all_caught() {
                "caught"
            } else if r.swapped.is_empty() {
                "unblessed"
            } else {
                "MISSED"
            },
            format!("{}/{}", r.caught.len(), r.swapped.len()),
            r.caught_by.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        for id in r.swapped.iter().filter(|id| !r.caught.contains(id)) {
            println!("  missed: {id}");
        }
        for id in &r.unblessed {
            println!("  not in the baseline, not swapped: {id} (run `cargo perfgate bless`)");
        }
    }
    crate::selftest::passed(results)
}

/// After `ab`: what changed, then the verdict.
pub fn print_ab(result: &crate::ab::AbResult) {
    for r in result.changed() {
        println!(
            "{:<10} {:<44} {:<22} {} ({}; {})",
            if r.fails() {
                r.verdict.to_string().to_uppercase()
            } else {
                r.verdict.to_string()
            },
            r.key.scenario,
            r.key.metric,
            r.change_text(),
            r.ratio_text(),
            r.why()
        );
    }
    println!(
        "\n{}: A/B {} ({} rounds, {}, {:.0} s)",
        if result.failed() { "FAIL" } else { "PASS" },
        result.headline(),
        result.rounds,
        result.mode,
        result.duration_s
    );
}
