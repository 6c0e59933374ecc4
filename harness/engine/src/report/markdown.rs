//! `summary.md`: short enough for a pull-request comment or `$GITHUB_STEP_SUMMARY`: the verdict and the
//! rule that applied, regressions, claims, growth exponents; every metric folded away below.

use std::fmt::Write as _;

use super::{Exporter, ReportInput, human, overview};
use crate::compare::{Row, Rule, Verdict};
use crate::model::{ClaimVerdict, RunRecord, format_sig};

/// Writes `summary.md`.
pub struct Summary;

impl Exporter for Summary {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, super::Error> {
        Ok(render(input).into_bytes())
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "–".to_owned(), |v| human(v, unit))
}

fn row_line(row: &Row) -> String {
    format!(
        "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
        row.key.scenario,
        row.key.metric,
        opt(row.baseline, &row.key.unit),
        opt(row.current, &row.key.unit),
        row.ratio_text(),
        row.limit_text(),
        verdict_text(row),
        row.rule
    )
}

fn verdict_text(row: &Row) -> String {
    let mark = match (row.verdict, row.fails()) {
        (_, true) => "❌ ",
        (Verdict::Improved, _) => "🟢 ",
        (Verdict::Regressed, false) => "⚠️ ",
        _ => "",
    };
    format!("{mark}{}", row.verdict)
}

/// summary.md stops here (GitHub refuses comments and step summaries over 65,536 characters; the
/// rest of the page, the footer and a note, fit in what is left).
const SUMMARY_BUDGET: usize = 64_000;

/// Changed rows listed at the top; the rest are counted (the folded table lists what moved).
const CHANGED_LISTED: usize = 40;

const CHANGED_HEAD: &str = "| component | scenario | metric | before → now | ratio [CI] | verdict | why |\n|---|---|---|---|---|---|---|\n";

fn changed_line(row: &Row) -> String {
    let component = overview::component_of(&row.key.scenario);
    format!(
        "| {component} | `{}` | {} | {} | {} | {} | {} |\n",
        row.key.scenario[component.len()..].trim_start_matches('/'),
        row.key.metric,
        overview::before_now(row),
        row.ratio_text(),
        verdict_text(row),
        cell(&overview::why(row))
    )
}

/// One paragraph per component: its claims, what changed, the A/B's power, its headlines.
fn cards(out: &mut String, input: &ReportInput<'_>) {
    let cards = overview::cards(input);
    if cards.is_empty() {
        return;
    }
    out.push_str("## Components\n\n");
    for card in cards {
        let _ = write!(
            out,
            "**{}**: claims {}",
            card.component,
            card.claims_words()
        );
        if input.comparison.is_some() {
            let _ = write!(out, "; against the baseline {}", card.baseline_words());
        }
        if let Some(mds) = card.mds_words() {
            let _ = write!(out, "; {mds}");
        }
        out.push_str(".\n");
        for h in &card.headlines {
            let _ = writeln!(out, "- {}", h.words());
        }
        out.push('\n');
    }
}

/// Rows the folded table lists in full; beyond, only rows that are not "same".
const FOLD_ALL_UP_TO: usize = 60;

const TABLE_HEAD: &str = "| scenario | metric | baseline | current | ratio [CI] | limit | verdict | rule |\n|---|---|---|---|---|---|---|---|\n";

/// The Markdown text.
pub fn render(input: &ReportInput<'_>) -> String {
    let r = input.record;
    let mut out = String::new();
    if let Some(ab) = input.ab {
        super::ab::markdown(&mut out, ab);
    }
    match input.comparison {
        Some(c) => {
            let failed = c.failed();
            let _ = writeln!(
                out,
                "# perfgate {}: {}\n",
                r.suite,
                if failed { "❌ regression" } else { "✅ pass" }
            );
            let gated = c.rows.iter().filter(|row| row.gated).count();
            let _ = writeln!(
                out,
                "{}; {} of {} metrics gated.\n",
                c.headline(),
                gated,
                c.rows.len()
            );
            let baseline = input.baseline_path.map_or_else(
                || "the baseline".to_owned(),
                |p| format!("`{}`", p.display()),
            );
            let _ = writeln!(out, "**Rule:** {}\n", c.rule_text(&baseline));
            let changed = overview::changed(c);
            if changed.is_empty() {
                let _ = writeln!(
                    out,
                    "## What changed\n\nNothing: all {} compared metrics are within their limits.\n",
                    c.rows.len()
                );
            } else {
                let _ = writeln!(
                    out,
                    "## What changed\n\n{} of {} compared metrics moved beyond their limits; the \
                     other {} are the same.\n",
                    changed.len(),
                    c.rows.len(),
                    c.rows.len() - changed.len()
                );
                out.push_str(CHANGED_HEAD);
                push_at_most(
                    &mut out,
                    changed.iter().map(|row| changed_line(row)),
                    CHANGED_LISTED,
                    "more moved; every one is in index.html.",
                );
                out.push('\n');
            }
            if c.failed() {
                out.push_str(
                    "If a change is intended, run `cargo perfgate bless` and commit `baselines/`; a missing scenario also needs a bless once removed on purpose.\n\n",
                );
            }
            let shown_only: Vec<&Row> = c
                .rows
                .iter()
                .filter(|row| {
                    !row.gated
                        && row.verdict == Verdict::Regressed
                        && row.rule == Rule::OtherMachine
                })
                .collect();
            if !shown_only.is_empty() {
                let _ = writeln!(
                    out,
                    "{} absolute wall time(s) are slower than the baseline from the other machine (not gated).\n",
                    shown_only.len()
                );
            }
        }
        None if input.ab.is_some() => {}
        None => {
            let _ = writeln!(
                out,
                "# perfgate {}: {} scenarios measured (no baseline compared)\n",
                r.suite,
                r.scenarios.len()
            );
        }
    }

    cards(&mut out, input);
    claims(&mut out, r);
    growth(&mut out, r);
    history(&mut out, input);

    if let Some(c) = input.comparison {
        // A pull-request comment holds 65,536 characters: past FOLD_ALL_UP_TO rows, the folded table
        // keeps what moved and points to index.html for the rest.
        let shown: Vec<&Row> = if c.rows.len() <= FOLD_ALL_UP_TO {
            c.rows.iter().collect()
        } else {
            c.rows
                .iter()
                .filter(|r| r.verdict != Verdict::Same)
                .collect()
        };
        let _ = writeln!(
            out,
            "<details><summary>{} of {} compared metrics{}</summary>\n",
            shown.len(),
            c.rows.len(),
            if shown.len() < c.rows.len() {
                " (those that moved; every one is in index.html)"
            } else {
                ""
            }
        );
        out.push_str(TABLE_HEAD);
        for row in shown {
            out.push_str(&row_line(row));
        }
        out.push_str("\n</details>\n\n");
    } else if input.ab.is_none() {
        out.push_str("## Metrics\n\n| scenario | metric | value | 95% CI |\n|---|---|---|---|\n");
        for s in &r.scenarios {
            for (name, m) in &s.metrics {
                let ci = super::interval_text(m);
                let _ = writeln!(
                    out,
                    "| `{}` | {name} | {} | {ci} |",
                    s.id,
                    human(m.value.as_f64(), &m.unit)
                );
            }
        }
        out.push('\n');
    }
    if out.len() > SUMMARY_BUDGET {
        // Whatever the suite, the summary fits a pull-request comment or step summary: cut at a
        // line boundary and say so.
        let cut = out[..SUMMARY_BUDGET].rfind('\n').unwrap_or(0);
        let left = out[cut..].lines().count();
        out.truncate(cut);
        let _ = writeln!(
            out,
            "\n\n… {left} more lines left out to stay under GitHub's 65,536-character limit: \
             index.html has everything.\n"
        );
    }
    let _ = writeln!(
        out,
        "<sub>{} · commit {}{} · {} · {} · {} · {:.1} s</sub>",
        r.started,
        short(&r.git.commit),
        if r.git.dirty { " (dirty)" } else { "" },
        r.machine.fingerprint,
        r.toolchain.rustc,
        r.toolchain.profile,
        r.duration_s
    );
    out
}

/// Change points listed at most; the rest are counted.
const CHANGES_LISTED: usize = 20;

/// The change points of every metric in the last [`super::RECENT_RUNS`] runs of the history.
fn history(out: &mut String, input: &ReportInput<'_>) {
    let runs = input.history_runs();
    if runs < 2 {
        return;
    }
    let recent = super::RECENT_RUNS.min(runs);
    let changes = super::history_changes(input.history, recent);
    let _ = writeln!(
        out,
        "## History: change points in the last {recent} of {runs} runs
"
    );
    if changes.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    out.push_str(
        "| scenario | metric | from run | before | after | change |\n|---|---|---|---|---|---|\n",
    );
    let lines = changes.iter().map(|c| {
        format!(
            "| `{}` | {} | {} of {runs} | {} | {} | {}× |\n",
            c.series.scenario,
            c.series.metric,
            c.run + 1,
            human(c.step.before, &c.series.unit),
            human(c.step.after, &c.series.unit),
            format_sig(c.step.ratio())
        )
    });
    push_at_most(out, lines, CHANGES_LISTED, "more in index.html.");
    out.push('\n');
}

/// The first `most` of `lines`, then how many `more` were left out: "\n3 more in index.html.".
fn push_at_most(
    out: &mut String,
    lines: impl ExactSizeIterator<Item = String>,
    most: usize,
    more: &str,
) {
    let left_out = lines.len().saturating_sub(most);
    for line in lines.take(most) {
        out.push_str(&line);
    }
    if left_out > 0 {
        let _ = writeln!(out, "\n{left_out} {more}");
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn claims(out: &mut String, r: &RunRecord) {
    if r.claims.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Claims: {}</summary>\n\n| seed | claim | measured | holds |\n|---|---|---|---|",
        super::claim_counts(r)
    );
    for c in &r.claims {
        let holds = match c.verdict() {
            ClaimVerdict::Holds => "✅ holds",
            ClaimVerdict::DoesNotHold => "❌ does not hold",
            ClaimVerdict::TooClose => "⚖️ too close to call",
            ClaimVerdict::NotMeasured => "– not measured",
        };
        let _ = writeln!(
            out,
            "| {}:{} | “{}” | {} | {holds} |",
            c.claim.seed,
            c.claim.line,
            cell(&c.claim.text),
            cell(&c.detail)
        );
    }
    out.push_str("\n</details>\n\n");
}

fn growth(out: &mut String, r: &RunRecord) {
    let fits: Vec<_> = r
        .growth
        .iter()
        .filter(|g| g.metric != crate::scenario::WALL_RATIO)
        .collect();
    if fits.is_empty() {
        return;
    }
    out.push_str("## Growth (cost ∝ size^exponent)\n\n| family | metric | exponent | points |\n|---|---|---|---|\n");
    for g in fits {
        let unit = r
            .scenarios
            .iter()
            .find_map(|s| {
                s.id.starts_with(&g.family)
                    .then(|| s.metrics.get(&g.metric))
                    .flatten()
            })
            .map_or("", |m| m.unit.as_str());
        let points: Vec<String> = g
            .points
            .iter()
            .map(|(x, y)| format!("{}={}: {}", g.param, x, human(*y, unit)))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            g.family,
            g.metric,
            g.exponent
                .map_or_else(|| "n/a (zero values)".to_owned(), format_sig),
            points.join("; ")
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::config::GateConfig;
    use crate::model::{Metric, RunRecord};
    use crate::testutil::record;

    #[test]
    fn lists_stop_at_their_most_and_count_the_rest() {
        let lines = || ["a\n", "b\n", "c\n"].map(str::to_owned).into_iter();
        let mut out = String::new();
        push_at_most(&mut out, lines(), 2, "more in index.html.");
        assert_eq!(out, "a\nb\n\n1 more in index.html.\n");
        out.clear();
        push_at_most(&mut out, lines(), 3, "more in index.html.");
        assert_eq!(out, "a\nb\nc\n", "nothing left out, nothing said");
    }

    /// The summary of `cur` compared with `base` under the default rules.
    fn compared(base: &RunRecord, cur: &RunRecord) -> String {
        let c = compare(base, cur, &GateConfig::default(), &|_| true);
        render(&ReportInput {
            comparison: Some(&c),
            ..ReportInput::new(cur)
        })
    }

    /// A record (machine `m`) of one `visits` metric per scenario id.
    fn visits(rows: &[(String, Metric)]) -> RunRecord {
        record(
            "m",
            rows.iter()
                .map(|(id, m)| (id.as_str(), "visits", m.clone()))
                .collect(),
        )
    }

    #[test]
    fn every_metric_changed_in_a_huge_suite_still_fits_a_pr_comment() {
        let make = |v: u64| {
            let rows: Vec<(String, Metric)> = (0..5_000_u64)
                .map(|i| {
                    (
                        format!("comp{}/sit/variant/n={i}", i % 7),
                        Metric::count(v, "n"),
                    )
                })
                .collect();
            visits(&rows)
        };
        let (base, cur) = (make(100), make(300));
        let md = compared(&base, &cur);
        assert!(md.len() < 65_536, "{} characters", md.len());
        assert!(
            md.find("## What changed").is_some_and(|at| at < 2_000),
            "{}",
            &md[..2_000]
        );
        assert!(
            md.contains("4960 more moved"),
            "the rows left out are counted"
        );
    }

    #[test]
    fn three_hundred_metrics_stay_short_enough_for_a_pr_comment() {
        let rows = |bump: u64| -> Vec<(String, Metric)> {
            (0..300_u64)
                .map(|i| {
                    let v = if i == 7 { 100 * bump } else { 100 };
                    (
                        format!("comp/sit/variant/n={i}"),
                        Metric::count(v, "entries"),
                    )
                })
                .collect()
        };
        let (base, cur) = (visits(&rows(1)), visits(&rows(3)));
        let md = compared(&base, &cur);
        assert!(md.len() < 65_536, "{} characters", md.len());
        assert!(
            md.contains("1 of 300 compared metrics (those that moved"),
            "folded table"
        );
        assert!(
            md.contains("comp/sit/variant/n=7"),
            "the regression is listed"
        );
    }

    #[test]
    fn summary_leads_with_the_verdict_and_lists_regressions() {
        let base = record("m", vec![("a/b/c", "visits", Metric::count(10, "entries"))]);
        let cur = record("m", vec![("a/b/c", "visits", Metric::count(30, "entries"))]);
        let md = compared(&base, &cur);
        assert!(md.starts_with("# perfgate smoke: ❌ regression"), "{md}");
        // What changed comes first, before the components and the folded table.
        let changed = md.find("## What changed").expect("what changed");
        assert!(
            changed < md.find("## Components").expect("components"),
            "{md}"
        );
        assert!(
            md.contains("| a | `b/c` | visits | 10 entries → 30 entries | 3.000× | ❌ regressed |"),
            "{md}"
        );
        assert!(md.contains("cargo perfgate bless"));
        let md = compared(&base, &base);
        assert!(
            md.starts_with("# perfgate smoke: ✅ pass")
                && md.contains("## What changed\n\nNothing: all 1 compared metrics"),
            "{md}"
        );
    }

    /// The whole summary.md of a small regressed run, snapshotted (`cargo insta review` after an
    /// intended change): wording, order and table layout are what a PR comment shows.
    #[test]
    fn summary_md_of_a_regressed_pair_is_stable() {
        use crate::testutil::wall;
        let run = |scale: f64| {
            let mut r = record(
                "m",
                vec![
                    (
                        "cache/size/walk/files=1000",
                        "wall_time",
                        wall(&[1e6 * scale, 1.02e6 * scale, 0.98e6 * scale, 1e6 * scale]),
                    ),
                    (
                        "cache/size/walk/files=1000",
                        "entries_visited",
                        Metric::count(1000, "entries"),
                    ),
                    (
                        "cache/size/indexed/files=1000",
                        "wall_time",
                        wall(&[2e3, 2.1e3, 1.9e3, 2e3]),
                    ),
                    (
                        "cache/size/indexed/files=1000",
                        "entries_visited",
                        Metric::count((scale * 2.0) as u64, "entries"),
                    ),
                ],
            );
            r.scenarios[1].before = Some("cache/size/walk/files=1000".to_owned());
            r
        };
        let (base, cur) = (run(1.0), run(3.0));
        let c = compare(&base, &cur, &GateConfig::default(), &|_| true);
        let md = render(&ReportInput {
            comparison: Some(&c),
            baseline: Some(&base),
            ..ReportInput::new(&cur)
        });
        insta::assert_snapshot!(md);
    }

    #[test]
    fn summary_says_which_rule_applied() {
        let base = record(
            "laptop",
            vec![("a/b/c", "visits", Metric::count(10, "entries"))],
        );
        let cur = record(
            "ci",
            vec![("a/b/c", "visits", Metric::count(10, "entries"))],
        );
        let md = compared(&base, &cur);
        assert!(
            md.contains("not one labelled machine") && md.contains("do not gate"),
            "{md}"
        );
    }
}
