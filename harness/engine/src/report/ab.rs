//! The A/B section of summary.md and index.html: the verdict and its rule, then only what changed
//! between the base and the head, then every compared metric folded away.

use std::fmt::Write as _;

use crate::ab::{AbResult, AbRow};
use crate::compare::Verdict;
use crate::model::format_sig;

use super::html::esc;

fn mds_text(row: &AbRow) -> String {
    row.mds
        .map_or_else(|| "–".to_owned(), |m| format!("{}×", format_sig(m)))
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn md_row(row: &AbRow) -> String {
    format!(
        "| `{}` | {} | {} | {} | {} | {}{} | {} |\n",
        row.key.scenario,
        row.key.metric,
        md_cell(&row.change_text()),
        md_cell(&row.ratio_text()),
        mds_text(row),
        row.verdict,
        if row.gated || row.verdict == Verdict::Same {
            ""
        } else {
            " (not gated)"
        },
        md_cell(&row.why())
    )
}

const MD_HEAD: &str = "| scenario | metric | base → head (median of rounds) | head/base [95 % CI] | MDS | verdict | why |\n|---|---|---|---|---|---|---|\n";

/// The A/B section in Markdown, for the top of summary.md.
pub fn markdown(out: &mut String, ab: &AbResult) {
    let _ = writeln!(
        out,
        "# perfgate A/B: {}\n\n{}.\n\n**Rule:** {}\n",
        if ab.failed() {
            "❌ regression"
        } else {
            "✅ pass"
        },
        ab.headline(),
        ab.rule_text()
    );
    if !ab.injected.is_empty() {
        let _ = writeln!(
            out,
            "**Injected into the head** (measuring the gate, not the code): `{}`\n",
            ab.injected.join("`, `")
        );
    }
    let changed: Vec<&AbRow> = ab.changed().collect();
    out.push_str("## What changed\n\n");
    if changed.is_empty() {
        out.push_str("Nothing: every compared metric is the same within its limits.\n\n");
    } else {
        out.push_str(MD_HEAD);
        for row in &changed {
            out.push_str(&md_row(row));
        }
        out.push('\n');
    }
    let remarked: Vec<&AbRow> = ab.remarked().collect();
    if !remarked.is_empty() {
        out.push_str("Judged the same, with a remark:\n\n");
        for row in remarked {
            let _ = writeln!(
                out,
                "- `{}` {}: {}",
                row.key.scenario,
                row.key.metric,
                row.note.as_deref().unwrap_or_default()
            );
        }
        out.push('\n');
    }
    // GitHub takes 65,536 characters in a comment or step summary: the folded table lists the
    // paired metrics and whatever moved; the deterministic metrics that stayed the same are counted
    // (index.html lists every row), and rows stop at a budget, saying how many were left out.
    let listed: Vec<&AbRow> = ab
        .rows
        .iter()
        .filter(|r| r.p_adjusted.is_some() || r.verdict != Verdict::Same || r.note.is_some())
        .collect();
    let _ = writeln!(
        out,
        "<details><summary>{} of {} compared metrics: every wall and CPU time, and what moved</summary>\n",
        listed.len(),
        ab.rows.len()
    );
    out.push_str(MD_HEAD);
    let mut left_out = 0;
    for row in &listed {
        if out.len() > MD_BUDGET {
            left_out += 1;
            continue;
        }
        out.push_str(&md_row(row));
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "\n{left_out} more rows left out to stay under GitHub's size limit."
        );
    }
    let _ = writeln!(
        out,
        "\n{} deterministic metrics were the same in both builds; index.html lists every row.\n\n</details>\n",
        ab.rows.len() - listed.len()
    );
}

/// Characters of summary.md the A/B section may fill before it stops listing rows.
const MD_BUDGET: usize = 50_000;

fn html_rows(out: &mut String, rows: &[&AbRow]) {
    out.push_str(
        "<table><thead><tr><th>scenario</th><th>metric</th><th>base → head</th>\
         <th>head/base [95 % CI]</th><th>MDS</th><th>verdict</th><th>why</th></tr></thead><tbody>\n",
    );
    for row in rows {
        let class = super::html::row_class(row.gated, row.verdict);
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"verdict\">\
             <span class=\"badge b-{}\">{}</span></td><td>{}</td></tr>",
            esc(&row.key.scenario),
            esc(&row.key.metric),
            esc(&row.change_text()),
            esc(&row.ratio_text()),
            esc(&mds_text(row)),
            row.verdict,
            row.verdict,
            esc(&row.why())
        );
    }
    out.push_str("</tbody></table>");
}

/// The A/B section of index.html.
pub fn html(out: &mut String, ab: &AbResult) {
    out.push_str("<section id=\"ab\"><h2>A/B: base against head</h2>");
    let _ = write!(
        out,
        "<p><b>{}</b></p><p class=\"note\">{}</p>",
        esc(&ab.headline()),
        esc(&ab.rule_text())
    );
    if !ab.injected.is_empty() {
        let _ = write!(
            out,
            "<p>Injected into the head (measuring the gate, not the code): <code>{}</code></p>",
            esc(&ab.injected.join(", "))
        );
    }
    let changed: Vec<&AbRow> = ab.changed().collect();
    if changed.is_empty() {
        out.push_str(
            "<p>Nothing changed: every compared metric is the same within its limits.</p>",
        );
    } else {
        out.push_str("<h3>What changed</h3>");
        html_rows(out, &changed);
    }
    let remarked: Vec<&AbRow> = ab.remarked().collect();
    if !remarked.is_empty() {
        out.push_str("<p class=\"note\">Judged the same, with a remark:</p><ul class=\"note\">");
        for row in remarked {
            let _ = write!(
                out,
                "<li><code>{}</code> {}: {}</li>",
                esc(&row.key.scenario),
                esc(&row.key.metric),
                esc(row.note.as_deref().unwrap_or_default())
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<details><summary>All {} compared metrics</summary>",
        ab.rows.len()
    );
    html_rows(out, &ab.rows.iter().collect::<Vec<_>>());
    out.push_str("</details></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::{AbRule, AbSettings};
    use crate::model::{Direction, MetricKey, MetricKind};

    fn result(rows: usize) -> AbResult {
        let row = |i: usize| AbRow {
            key: MetricKey {
                scenario: format!("component/family/variant/scale={i}"),
                metric: if i.is_multiple_of(5) {
                    "wall_time"
                } else {
                    "entries_visited"
                }
                .to_owned(),
                kind: if i.is_multiple_of(5) {
                    MetricKind::WallTime
                } else {
                    MetricKind::Exact
                },
                unit: "ns".to_owned(),
            },
            direction: Direction::LowerIsBetter,
            base: Some(1000.0),
            head: Some(if i == 7 { 2000.0 } else { 1000.0 }),
            ratio: Some(1.0),
            interval: None,
            p_adjusted: (i.is_multiple_of(5)).then_some(0.5),
            sd_log: None,
            n: 12,
            verdict: if i == 7 {
                Verdict::Regressed
            } else {
                Verdict::Same
            },
            gated: true,
            rule: if i.is_multiple_of(5) {
                AbRule::Paired
            } else {
                AbRule::Deterministic
            },
            note: None,
            mds: None,
        };
        AbResult {
            base_rev: "HEAD~1".to_owned(),
            base_layout: None,
            layouts: None,
            base_commit: "a".repeat(40),
            head_commit: "b".repeat(40),
            head_dirty: false,
            rounds: 12,
            mode: "duet".to_owned(),
            seed: 1,
            interleave: "scenario by scenario".to_owned(),
            settings: AbSettings {
                threshold: 0.1,
                alpha: 0.05,
                confidence: 0.95,
            },
            injected: Vec::new(),
            duration_s: 250.0,
            rows: (0..rows).map(row).collect(),
        }
    }

    #[test]
    fn the_summary_leads_with_what_changed_and_fits_a_github_comment() {
        let mut out = String::new();
        markdown(&mut out, &result(5000));
        assert!(out.len() < 65_536, "{} characters", out.len());
        assert!(out.starts_with("# perfgate A/B: ❌ regression"));
        let changed = out.find("## What changed").expect("section");
        let row7 = out.find("scale=7`").expect("the regressed row is listed");
        assert!(changed < row7 && row7 < out.find("<details>").expect("folded"));
        assert!(out.contains("rows left out"), "says what it left out");
        assert!(out.contains("deterministic metrics were the same"));
        assert!(out.contains("10 %"), "{}", &out[..400]);
    }
}
