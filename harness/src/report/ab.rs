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
        row.scenario,
        row.metric,
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
    let _ = writeln!(
        out,
        "<details><summary>All {} compared metrics</summary>\n",
        ab.rows.len()
    );
    out.push_str(MD_HEAD);
    for row in &ab.rows {
        out.push_str(&md_row(row));
    }
    out.push_str("\n</details>\n\n");
}

fn html_rows(out: &mut String, rows: &[&AbRow]) {
    out.push_str(
        "<table><thead><tr><th>scenario</th><th>metric</th><th>base → head</th>\
         <th>head/base [95 % CI]</th><th>MDS</th><th>verdict</th><th>why</th></tr></thead><tbody>\n",
    );
    for row in rows {
        let class = if row.gated {
            format!("v-{}", row.verdict)
        } else {
            "shown".to_owned()
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"verdict\">\
             <span class=\"badge b-{}\">{}</span></td><td>{}</td></tr>",
            esc(&row.scenario),
            esc(&row.metric),
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
    let _ = write!(
        out,
        "<details><summary>All {} compared metrics</summary>",
        ab.rows.len()
    );
    html_rows(out, &ab.rows.iter().collect::<Vec<_>>());
    out.push_str("</details></section>\n");
}
