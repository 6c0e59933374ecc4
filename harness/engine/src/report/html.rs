//! `index.html`: one self-contained page (inline CSS and SVG, no script, no network) a reviewer opens
//! after a run: verdicts, claims, baseline vs current, before vs after per component, cost against
//! scale, trends over past runs, and the run's facts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::charts::{self, Bar, BarChart, BarGroup, Line};
use super::{Exporter, ReportInput, claim_counts, human, overview};
use crate::compare::{Row, Verdict};
use crate::error::Error;
use crate::model::{ClaimVerdict, Metric, RunRecord, ScenarioId, change_words, format_sig};

/// Writes `index.html`.
pub struct HtmlReport;

impl Exporter for HtmlReport {
    fn file_name(&self) -> &'static str {
        "index.html"
    }

    fn render(&self, input: &ReportInput<'_>) -> Result<Vec<u8>, Error> {
        render(input).map(String::into_bytes)
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A scenario id for a table cell: escaped, breakable after `/` and `,` so long ids wrap instead of
/// widening the table.
fn id_cell(id: &str) -> String {
    esc(id).replace('/', "/<wbr>").replace(',', ",<wbr>")
}

/// An id usable as an HTML anchor.
fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const STYLE: &str = r#"
:root { --fail:#b42318; --fail-bg:#fef3f2; --pass:#067647; --pass-bg:#ecfdf3; --info:#175cd3;
  --info-bg:#eff8ff; --warn:#b54708; --warn-bg:#fffaeb; --line:#e4e7ec; --muted:#667085; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#101828;
  margin:0; background:#f9fafb; }
main { max-width: 1240px; margin: 0 auto; padding: 0 20px 40px; }
header.banner { padding: 18px 20px; border-bottom: 1px solid var(--line); }
header.banner h1 { margin: 0 0 4px; font-size: 22px; }
header.banner p { margin: 2px 0; max-width: 1200px; }
.pass { background: var(--pass-bg); color: var(--pass); }
.fail { background: var(--fail-bg); color: var(--fail); }
.info { background: var(--info-bg); color: var(--info); }
header.banner p { color: #344054; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
  padding: 8px 20px; z-index: 2; font-size: 13px; }
nav { display: flex; flex-wrap: wrap; gap: 2px 14px; }
nav a { color: var(--info); text-decoration: none; white-space: nowrap; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 18px 0;
  padding: 8px 18px 16px; overflow-x: auto; }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; }
ul.note { color: var(--muted); font-size: 12.5px; margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
td.kind, td.verdict { white-space: nowrap; }
td:first-child { min-width: 18em; }
td.limit { font-size: 11.5px; color: #344054; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fcfcfd; }
tr.v-regressed td, tr.v-missing td { background: var(--fail-bg); }
tr.v-improved td { background: var(--pass-bg); }
tr.shown td { color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; font-weight: 600; }
.b-regressed, .b-missing, .b-no { background: var(--fail-bg); color: var(--fail); }
.b-improved, .b-yes { background: var(--pass-bg); color: var(--pass); }
.b-same, .b-na { background: #f2f4f7; color: #344054; }
.b-new { background: var(--info-bg); color: var(--info); }
.b-step, .b-close { background: var(--warn-bg); color: var(--warn); }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 4px; background: #fff; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: var(--muted); padding: 2px 4px; max-width: 480px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
details summary { cursor: pointer; color: var(--info); margin: 6px 0; }
.scroll { overflow-x: auto; }
#changed td.limit { max-width: 26em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px 8px; }
.card h3 { margin: 6px 0 4px; }
.card ul { margin: 0 0 6px; padding-left: 18px; font-size: 13px; }
.card p { margin: 0; font-size: 12.5px; color: #344054; }
h3 small { color: var(--muted); font-weight: 400; }
@media (max-width: 640px) {
  main { padding: 0 8px 24px; }
  header.banner, nav { padding-left: 10px; padding-right: 10px; }
  section { padding: 6px 10px 12px; }
  .cards { grid-template-columns: 1fr; }
  td:first-child { min-width: 0; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { overflow-wrap: anywhere; margin-bottom: 4px; }
}
@media print {
  nav { display: none; }
  section { break-inside: avoid-page; }
}
"#;

/// The ids of the sections a page without an A/B always has after its first screen (`changed`)
/// and the component cards (`cards`), in page order: each a `<section id=…>` the nav links to.
pub const SECTION_IDS: [&str; 6] = [
    "verdicts",
    "claims",
    "changes",
    "components",
    "history",
    "facts",
];

/// The page.
pub fn render(input: &ReportInput<'_>) -> Result<String, Error> {
    let r = input.record;
    let mut out = String::with_capacity(64 * 1024);
    let (class, headline) = match (input.ab, input.comparison) {
        (Some(ab), _) if ab.failed() => ("fail", "A/B regression"),
        (Some(_), _) => ("pass", "A/B pass"),
        (None, Some(c)) if c.failed() => ("fail", "regression"),
        (None, Some(_)) => ("pass", "pass"),
        (None, None) => ("info", "measured, not compared"),
    };
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>perfgate {}: {headline}</title><style>{STYLE}</style></head><body>\n",
        esc(&r.suite)
    );
    banner(&mut out, input, class, headline);
    out.push_str(if input.ab.is_some() {
        "<nav><a href=\"#ab\">A/B</a>"
    } else {
        "<nav><a href=\"#changed\">What changed</a>"
    });
    out.push_str(
        "<a href=\"#cards\">Components</a><a href=\"#verdicts\">Every metric</a>\
         <a href=\"#claims\">Claims</a><a href=\"#changes\">Baseline vs current</a>\
         <a href=\"#components\">Charts</a><a href=\"#history\">History</a>\
         <a href=\"#facts\">Run facts</a></nav>\n<main>\n",
    );
    match input.ab {
        Some(ab) => super::ab::html(&mut out, ab),
        None => changed(&mut out, input),
    }
    cards(&mut out, input);
    if input.ab.is_none() {
        verdicts(&mut out, input);
    }
    claims(&mut out, r);
    changes(&mut out, input)?;
    components(&mut out, r)?;
    history(&mut out, input)?;
    facts(&mut out, input);
    out.push_str("</main></body></html>\n");
    Ok(out)
}

fn banner(out: &mut String, input: &ReportInput<'_>, class: &str, headline: &str) {
    let r = input.record;
    let _ = write!(
        out,
        "<header class=\"banner {class}\"><h1>perfgate {}: {headline}</h1>",
        esc(&r.suite)
    );
    match (input.ab, input.comparison) {
        (Some(ab), _) => {
            let _ = write!(
                out,
                "<p><b>{}</b>; {} scenarios; base {} ({}), {} rounds, {}.</p>",
                esc(&ab.headline()),
                r.scenarios.len(),
                esc(&ab.base_rev),
                esc(&format!(
                    "{}{}",
                    crate::ab::short(&ab.base_commit),
                    crate::ab::layout_text(ab.base_layout, ab.layouts)
                )),
                ab.rounds,
                esc(&ab.mode)
            );
        }
        (None, Some(c)) => {
            let gated = c.rows.iter().filter(|row| row.gated).count();
            let _ = write!(
                out,
                "<p><b>{}</b>; {gated} of {} metrics gated; {} scenarios.</p>",
                esc(&c.headline()),
                c.rows.len(),
                r.scenarios.len()
            );
            let baseline = input
                .baseline_path
                .map_or_else(|| "the baseline".to_owned(), |p| p.display().to_string());
            let _ = write!(out, "<p>Rule: {}</p>", esc(&c.rule_text(&baseline)));
        }
        (None, None) => {
            let _ = write!(
                out,
                "<p>{} scenarios measured; no baseline compared (run <code>cargo perfgate check</code> \
                 to gate).</p>",
                r.scenarios.len()
            );
        }
    }
    let _ = writeln!(out, "<p>Claims: {}.</p></header>", claim_counts(r));
}

/// A table row's class: tinted by its verdict when it gates, grey when it is only shown.
pub(super) fn row_class(gated: bool, verdict: impl std::fmt::Display) -> String {
    if gated {
        format!("v-{verdict}")
    } else {
        "shown".to_owned()
    }
}

fn verdict_badge(v: Verdict) -> String {
    format!("<span class=\"badge b-{v}\">{v}</span>")
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "–".to_owned(), |v| human(v, unit))
}

/// The first screen: only the compared rows that moved, what fails first, each with why.
fn changed(out: &mut String, input: &ReportInput<'_>) {
    let Some(c) = input.comparison else {
        return;
    };
    let rows = overview::changed(c);
    out.push_str("<section id=\"changed\"><h2>What changed</h2>");
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<p>Nothing: all {} compared metrics are within their limits.</p></section>",
            c.rows.len()
        );
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">{} of {} compared metrics moved beyond their limits; the other {} are the \
         same (every one is under <a href=\"#verdicts\">Every metric</a>). Grey rows do not gate.</p>",
        rows.len(),
        c.rows.len(),
        c.rows.len() - rows.len()
    );
    let table = |out: &mut String, rows: &[&Row]| {
        out.push_str(
            "<div class=\"scroll\"><table><thead><tr><th>component</th><th>scenario</th><th>metric</th>\
             <th>before → now</th><th>ratio [CI]</th><th>verdict</th><th>why</th></tr></thead><tbody>\n",
        );
        for row in rows {
            let class = row_class(row.gated, row.verdict);
            let component = overview::component_of(&row.key.scenario);
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"verdict\">{}</td>\
                 <td class=\"limit\">{}</td></tr>",
                esc(component),
                esc(row.key.scenario[component.len()..].trim_start_matches('/')),
                esc(&row.key.metric),
                esc(&overview::before_now(row)),
                esc(&row.ratio_text()),
                verdict_badge(row.verdict),
                esc(&overview::why(row))
            );
        }
        out.push_str("</tbody></table></div>");
    };
    let (first, rest) = rows.split_at(rows.len().min(overview::CHANGED_SHOWN));
    table(out, first);
    if !rest.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} more that moved</summary>",
            rest.len()
        );
        table(out, rest);
        out.push_str("</details>");
    }
    out.push_str("</section>\n");
}

/// One card per component: its headline per family, its claims, what changed, the A/B's power.
fn cards(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section id=\"cards\"><h2>Components</h2><div class=\"cards\">");
    for card in overview::cards(input) {
        let _ = write!(
            out,
            "<article class=\"card\"><h3><a href=\"#c-{}\">{}</a></h3><ul>",
            anchor(&card.component),
            esc(&card.component)
        );
        for h in &card.headlines {
            let _ = write!(out, "<li>{}</li>", esc(&h.words()));
        }
        let _ = write!(out, "</ul><p>Claims: {}.", esc(&card.claims_words()));
        if input.comparison.is_some() {
            let _ = write!(out, " Against the baseline: {}.", card.baseline_words());
        }
        if let Some(mds) = card.mds_words() {
            let _ = write!(out, " {}.", esc(&mds));
        }
        let _ = write!(
            out,
            " <a href=\"#c-{}\">Charts</a></p></article>",
            anchor(&card.component)
        );
    }
    out.push_str("</div></section>\n");
}

fn verdicts(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section id=\"verdicts\"><h2>Every metric</h2>");
    match input.comparison {
        Some(c) => {
            // Grouped by component, the components with a failure first, each what fails first.
            let mut groups: Vec<(&str, Vec<&Row>)> = Vec::new();
            for row in &c.rows {
                let component = overview::component_of(&row.key.scenario);
                match groups.iter_mut().find(|(name, _)| *name == component) {
                    Some((_, rows)) => rows.push(row),
                    None => groups.push((component, vec![row])),
                }
            }
            groups.sort_by_key(|(_, rows)| !rows.iter().any(|r| r.fails()));
            let _ = write!(
                out,
                "<details><summary>All {} compared metrics, by component (what fails first)</summary>\
                 <p class=\"note\">Grey rows are shown but not gated (see the rule column).</p>",
                c.rows.len()
            );
            for (component, rows) in groups {
                let failing = rows.iter().filter(|r| r.fails()).count();
                let _ = write!(
                    out,
                    "<h3>{} <small>{} metrics{}</small></h3>",
                    esc(component),
                    rows.len(),
                    if failing > 0 {
                        format!(", {failing} failing")
                    } else {
                        String::new()
                    }
                );
                verdict_table(out, input, &rows);
            }
            out.push_str("</details>");
        }
        None => {
            let metrics: usize = input.record.scenarios.iter().map(|s| s.metrics.len()).sum();
            let _ = writeln!(
                out,
                "<details><summary>All {metrics} metrics measured (no baseline compared)</summary>\
                 <div class=\"scroll\"><table><thead><tr><th>scenario</th><th>metric</th><th>kind</th>\
                 <th>value</th><th>95% CI</th></tr></thead><tbody>"
            );
            for s in &input.record.scenarios {
                for (name, m) in &s.metrics {
                    let ci = super::interval_text(m);
                    let _ = writeln!(
                        out,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td></tr>",
                        esc(&s.id),
                        esc(name),
                        m.kind.name(),
                        esc(&human(m.value.as_f64(), &m.unit)),
                        esc(&ci)
                    );
                }
            }
            out.push_str("</tbody></table></div></details>");
        }
    }
    out.push_str("</section>\n");
}

/// The full verdict table of `rows`.
fn verdict_table(out: &mut String, input: &ReportInput<'_>, rows: &[&Row]) {
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>scenario</th><th>metric</th><th>kind</th>\
         <th>baseline</th><th>current</th><th>ratio [CI]</th><th>limit</th><th>verdict</th>\
         <th>rule</th></tr></thead><tbody>\n",
    );
    for row in rows {
        let class = row_class(row.gated, row.verdict);
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td class=\"kind\">{}</td>\
                     <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"limit\">{}</td><td class=\"verdict\">{}</td><td>{}</td></tr>",
            id_cell(&row.key.scenario),
            esc(&row.key.metric),
            row.key.kind.name(),
            esc(&opt(row.baseline, &row.key.unit)),
            esc(&opt(row.current, &row.key.unit)),
            esc(&row.ratio_text()),
            esc(&match input.mds(&row.key.scenario, &row.key.metric) {
                Some(m) => format!("{} · A/B MDS {}×", row.limit_text(), format_sig(m)),
                None => row.limit_text(),
            }),
            verdict_badge(row.verdict),
            esc(&row.rule.to_string())
        );
    }
    out.push_str("</tbody></table></div>");
}

fn claims(out: &mut String, r: &RunRecord) {
    out.push_str(
        "<section id=\"claims\"><h2>Claims</h2><p class=\"note\">Each statement of a seed write-up, \
         what this run measured for it, and whether it holds as measured.</p>",
    );
    if r.claims.is_empty() {
        out.push_str("<p>No claims for the scenarios that ran.</p></section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>seed</th><th>claim</th><th>measured</th><th>holds</th></tr></thead>\
         <tbody>\n",
    );
    for c in &r.claims {
        let verdict = c.verdict();
        let class = match verdict {
            ClaimVerdict::Holds => "yes",
            ClaimVerdict::DoesNotHold => "no",
            ClaimVerdict::TooClose => "close",
            ClaimVerdict::NotMeasured => "na",
        };
        let word = verdict.word();
        let _ = writeln!(
            out,
            "<tr><td><code>{}:{}</code></td><td>“{}”</td><td>{}</td>\
             <td><span class=\"badge b-{class}\">{word}</span></td></tr>",
            esc(&c.claim.seed),
            c.claim.line,
            esc(&c.claim.text),
            esc(&c.detail)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn ci_of(m: &Metric) -> Option<(f64, f64)> {
    m.summary.as_ref().map(|s| (s.ci.lower, s.ci.upper))
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = write!(
        out,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        esc(caption)
    );
}

fn changes(out: &mut String, input: &ReportInput<'_>) -> Result<(), Error> {
    out.push_str("<section id=\"changes\"><h2>Baseline vs current</h2>");
    let Some(c) = input.comparison else {
        out.push_str("<p>No baseline compared.</p></section>\n");
        return Ok(());
    };
    let moved: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Regressed | Verdict::Improved))
        .filter(|r| r.baseline.is_some() && r.current.is_some())
        .collect();
    if moved.is_empty() {
        out.push_str("<p>Nothing regressed or improved beyond its limit.</p></section>\n");
        return Ok(());
    }
    out.push_str(
        "<p class=\"note\">Every regressed or improved metric: the baseline's and this run's value, \
         with their confidence intervals where sampled.</p><div class=\"grid\">",
    );
    let series = vec!["baseline".to_owned(), "current".to_owned()];
    for row in moved {
        let base_m = input
            .baseline
            .and_then(|b| b.metric(&row.key.scenario, &row.key.metric));
        let cur_m = input.record.metric(&row.key.scenario, &row.key.metric);
        let groups = vec![BarGroup {
            label: row.key.metric.clone(),
            bars: vec![
                Bar {
                    series: 0,
                    value: row.baseline.unwrap_or_default(),
                    ci: base_m.and_then(ci_of),
                },
                Bar {
                    series: 1,
                    value: row.current.unwrap_or_default(),
                    ci: cur_m.and_then(ci_of),
                },
            ],
        }];
        let title = format!("{} ({})", row.key.metric, row.verdict);
        let svg = charts::bars(&BarChart {
            title: &title,
            unit: &row.key.unit,
            series: &series,
            groups: &groups,
            size: (340, 240),
        })?;
        figure(
            out,
            &svg,
            &format!(
                "{}: {} (limit {})",
                row.key.scenario,
                row.ratio_text(),
                row.limit_text()
            ),
        );
    }
    out.push_str("</div></section>\n");
    Ok(())
}

/// The scenarios of one situation (`component/situation`), grouped for the before/after charts.
struct Situation<'a> {
    /// Variants in display order: "before" variants first.
    variants: Vec<&'a str>,
    /// Scales in run order.
    scales: Vec<&'a str>,
    /// `(variant, scale) -> scenario`.
    cells: BTreeMap<(&'a str, &'a str), &'a crate::model::ScenarioRecord>,
}

fn split_id(id: &str) -> (&str, &str, &str, &str) {
    let parsed = ScenarioId::parse(id);
    let scale = id
        .strip_prefix(parsed.family)
        .map_or("", |s| s.trim_start_matches('/'));
    let mut parts = parsed.family.splitn(3, '/');
    let component = parts.next().unwrap_or(id);
    let situation = parts.next().unwrap_or("");
    let variant = parts.next().unwrap_or("");
    (component, situation, variant, scale)
}

fn components(out: &mut String, r: &RunRecord) -> Result<(), Error> {
    out.push_str(
        "<section id=\"components\"><h2>Components: before vs after</h2><p class=\"note\">Bars are \
         medians with 95% confidence intervals; a log axis when before and after differ by orders of \
         magnitude. The log-log charts show cost against scale with the fitted growth exponent \
         (0 flat, 1 linear).</p>",
    );
    let befores: Vec<&str> = r
        .scenarios
        .iter()
        .filter_map(|s| s.before.as_deref())
        .map(|b| split_id(b).2)
        .collect();
    let mut by_component: BTreeMap<&str, BTreeMap<&str, Situation<'_>>> = BTreeMap::new();
    for s in &r.scenarios {
        let (component, situation, variant, scale) = split_id(&s.id);
        let sit = by_component
            .entry(component)
            .or_default()
            .entry(situation)
            .or_insert_with(|| Situation {
                variants: Vec::new(),
                scales: Vec::new(),
                cells: BTreeMap::new(),
            });
        if !sit.variants.contains(&variant) {
            sit.variants.push(variant);
        }
        if !sit.scales.contains(&scale) {
            sit.scales.push(scale);
        }
        sit.cells.insert((variant, scale), s);
    }
    for (component, situations) in &by_component {
        let _ = write!(
            out,
            "<h3 id=\"c-{}\">{}</h3>",
            anchor(component),
            esc(component)
        );
        for (situation, sit) in situations {
            let mut variants = sit.variants.clone();
            variants.sort_by_key(|v| !befores.contains(v));
            let series: Vec<String> = variants
                .iter()
                .map(|v| {
                    if befores.contains(v) {
                        format!("{v} (before)")
                    } else {
                        (*v).to_owned()
                    }
                })
                .collect();
            let metrics: Vec<&String> = {
                let mut m: Vec<&String> = sit
                    .cells
                    .values()
                    .flat_map(|s| s.metrics.keys())
                    .filter(|m| m.as_str() != crate::model::WALL_RATIO)
                    .collect();
                m.sort();
                m.dedup();
                m
            };
            let _ = write!(
                out,
                "<p><b>{}/{}</b></p><div class=\"grid\">",
                esc(component),
                esc(situation)
            );
            let labels = scale_labels(&sit.scales);
            // Measured at one scale, a family reads better as a table row than as two bars; a
            // metric that is zero for every variant is a line of text.
            let mut single: Vec<(&String, String, Vec<Option<&Metric>>)> = Vec::new();
            let mut zeros: Vec<&String> = Vec::new();
            for metric in metrics {
                let mut unit = String::new();
                let groups: Vec<BarGroup> = sit
                    .scales
                    .iter()
                    .zip(&labels)
                    .map(|(scale, label)| BarGroup {
                        label: label.clone(),
                        bars: variants
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| {
                                let m = sit.cells.get(&(*v, *scale))?.metrics.get(metric)?;
                                unit.clone_from(&m.unit);
                                Some(Bar {
                                    series: i,
                                    value: m.value.as_f64(),
                                    ci: ci_of(m),
                                })
                            })
                            .collect(),
                    })
                    .collect();
                if groups.iter().flat_map(|g| &g.bars).all(|b| b.value == 0.0) {
                    zeros.push(metric);
                    continue;
                }
                if sit.scales.len() == 1 {
                    let cells = variants
                        .iter()
                        .map(|v| sit.cells.get(&(*v, sit.scales[0]))?.metrics.get(metric))
                        .collect();
                    single.push((metric, unit, cells));
                    continue;
                }
                let title = format!("{component}/{situation}: {metric}");
                let svg = charts::bars(&BarChart {
                    title: &title,
                    unit: &unit,
                    series: &series,
                    groups: &groups,
                    size: (480, 300),
                })?;
                figure(out, &svg, &bar_caption(&groups, &series, &unit));
                growth_chart(out, r, component, situation, metric, &variants, &befores)?;
            }
            out.push_str("</div>");
            if !single.is_empty() {
                single_scale_table(out, &series, &labels[0], &single);
            }
            if !zeros.is_empty() {
                let names: Vec<&str> = zeros.iter().map(|m| m.as_str()).collect();
                let _ = write!(
                    out,
                    "<p class=\"note\">Zero for every variant: {}.</p>",
                    esc(&names.join(", "))
                );
            }
        }
    }
    out.push_str("</section>\n");
    Ok(())
}

/// A family measured at one scale: one row per metric, each variant's value with its interval, and
/// after/before when there are two variants.
fn single_scale_table(
    out: &mut String,
    series: &[String],
    scale: &str,
    rows: &[(&String, String, Vec<Option<&Metric>>)],
) {
    let pair = series.len() == 2;
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"single\"><thead><tr><th>metric at {}</th>",
        esc(scale)
    );
    for s in series {
        let _ = write!(out, "<th>{}</th>", esc(s));
    }
    if pair {
        out.push_str("<th>after/before [interval]</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for (metric, unit, cells) in rows {
        let _ = write!(out, "<tr><td>{}</td>", esc(metric));
        for cell in cells {
            let text = cell.map_or_else(
                || "–".to_owned(),
                |m| match ci_of(m) {
                    Some((lo, hi)) => format!(
                        "{} [{} – {}]",
                        human(m.value.as_f64(), unit),
                        human(lo, unit),
                        human(hi, unit)
                    ),
                    None => human(m.value.as_f64(), unit),
                },
            );
            let _ = write!(out, "<td class=\"num\">{}</td>", esc(&text));
        }
        if pair {
            let text = match (cells[0], cells[1]) {
                (Some(b), Some(a)) if b.value.as_f64() > 0.0 => {
                    let ratio = a.value.as_f64() / b.value.as_f64();
                    let interval = match (ci_of(b), ci_of(a)) {
                        (Some((b_lo, b_hi)), Some((a_lo, a_hi))) if b_lo > 0.0 => format!(
                            " [{}, {}]",
                            format_sig(a_lo / b_hi),
                            format_sig(a_hi / b_lo)
                        ),
                        _ => String::new(),
                    };
                    format!("{}×{interval} ({})", format_sig(ratio), change_words(ratio))
                }
                _ => "–".to_owned(),
            };
            let _ = write!(out, "<td class=\"num\">{}</td>", esc(&text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

/// Axis labels for a situation's scales: the parameters that differ between them (`hold_ms=50`, not
/// `contenders=8,hold_ms=50` when every scale has 8 contenders), so long scales do not overlap.
fn scale_labels(scales: &[&str]) -> Vec<String> {
    let split: Vec<Vec<&str>> = scales.iter().map(|s| s.split(',').collect()).collect();
    let shared = |part: &&str| scales.len() > 1 && split.iter().all(|p| p.contains(part));
    split
        .iter()
        .map(|parts| {
            let own: Vec<&str> = parts.iter().copied().filter(|p| !shared(p)).collect();
            match (own.is_empty(), parts.iter().any(|p| !p.is_empty())) {
                (_, false) => "–".to_owned(),
                (true, true) => parts.join(","),
                (false, true) => own.join(","),
            }
        })
        .collect()
}

/// The figures of a bar chart in words, so the numbers can be read and copied.
fn bar_caption(groups: &[BarGroup], series: &[String], unit: &str) -> String {
    groups
        .iter()
        .map(|g| {
            let bars: Vec<String> = g
                .bars
                .iter()
                .map(|b| {
                    let name = series.get(b.series).map_or("?", String::as_str);
                    format!("{name} {}", human(b.value, unit))
                })
                .collect();
            format!("{}: {}", g.label, bars.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn growth_chart(
    out: &mut String,
    r: &RunRecord,
    component: &str,
    situation: &str,
    metric: &str,
    variants: &[&str],
    befores: &[&str],
) -> Result<(), Error> {
    let prefix = format!("{component}/{situation}/");
    let fits: Vec<_> = r
        .growth
        .iter()
        .filter(|g| g.metric == metric && g.family.starts_with(&prefix))
        .collect();
    if fits.is_empty() {
        return Ok(());
    }
    let unit = r
        .scenarios
        .iter()
        .find(|s| s.id.starts_with(&prefix))
        .and_then(|s| s.metrics.get(metric))
        .map_or_else(String::new, |m| m.unit.clone());
    let param = fits[0].param.clone();
    // A series that is zero at every scale has nothing to draw on a log axis: it is named instead.
    let (fits, flat): (Vec<_>, Vec<_>) = fits
        .into_iter()
        .partition(|g| g.points.iter().any(|p| p.1 > 0.0));
    if fits.is_empty() {
        return Ok(());
    }
    let lines: Vec<Line> = fits
        .iter()
        .map(|g| {
            // `backoff` or, for a fit at fixed other parameters, `backoff/contenders=8`.
            let variant = g.family.strip_prefix(&prefix).unwrap_or(&g.family);
            let base = variant.split('/').next().unwrap_or(variant);
            let series = variants.iter().position(|v| *v == base).unwrap_or(0);
            let exponent = match g.exponent {
                Some(e) if g.points.len() < 3 => format!(
                    "{param}^{} (a slope through {} points, not a fit)",
                    format_sig(e),
                    g.points.len()
                ),
                Some(e) => format!("{param}^{}", format_sig(e)),
                None => "no fit (a zero among the points)".to_owned(),
            };
            let role = if befores.contains(&base) {
                " (before)"
            } else {
                ""
            };
            Line {
                name: format!("{variant}{role}: {exponent}"),
                series,
                points: g.points.clone(),
            }
        })
        .collect();
    let title = format!("{component}/{situation}: {metric} against {param}");
    let svg = charts::loglog(&title, &param, &unit, &lines, (480, 300))?;
    let mut caption: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
    for g in flat {
        let variant = g.family.strip_prefix(&prefix).unwrap_or(&g.family);
        caption.push(format!("{variant}: 0 at every scale (not drawn)"));
    }
    figure(
        out,
        &svg,
        &format!("growth exponents: {}", caption.join("; ")),
    );
    Ok(())
}

fn history(out: &mut String, input: &ReportInput<'_>) -> Result<(), Error> {
    out.push_str("<section id=\"history\"><h2>History</h2>");
    let runs = input.history_runs();
    if runs < 2 {
        out.push_str(
            "<p>No history: pass <code>--history reports/history.jsonl</code> to <code>run</code> or \
             <code>check</code> to keep one run per line and see each gated metric's trend here.</p>\
             </section>\n",
        );
        return Ok(());
    }
    let (mut shown, flat): (Vec<&crate::history::Series>, Vec<&crate::history::Series>) = input
        .history
        .iter()
        .filter(|s| s.points.len() >= 2)
        .partition(|s| s.points.iter().any(|p| p.1 != s.points[0].1));
    shown.sort_by_key(|s| s.steps.is_empty());
    let _ = write!(
        out,
        "<p class=\"note\">The last {runs} runs of each metric that moved (this run last). A dashed line \
         marks each change point: where the series moves to a new level or trend, found by a \
         penalised segmentation (PELT) on a robust noise scale, so one outlier or bimodal noise is \
         not a change, and a drift that never crosses the gate in one run is still seen.</p>"
    );
    let changes = super::history_changes(input.history, usize::MAX);
    if changes.is_empty() {
        out.push_str("<p>No change points.</p>");
    } else {
        out.push_str(
            "<table><thead><tr><th>scenario</th><th>metric</th><th>from run</th>\
             <th>before</th><th>after</th><th>change</th></tr></thead><tbody>",
        );
        for c in &changes {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{} of {runs}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">\
                 <span class=\"badge b-step\">{}×</span></td></tr>",
                esc(&c.series.scenario),
                esc(&c.series.metric),
                c.run + 1,
                esc(&human(c.step.before, &c.series.unit)),
                esc(&human(c.step.after, &c.series.unit)),
                format_sig(c.step.ratio()),
            );
        }
        out.push_str("</tbody></table>");
    }
    if !flat.is_empty() {
        let _ = write!(
            out,
            "<p>{} of {} metrics had the same value in every one of these runs (not drawn).</p>",
            flat.len(),
            flat.len() + shown.len()
        );
    }
    out.push_str("<div class=\"grid\">");
    for s in shown {
        let title = format!("{} · {}", s.scenario, s.metric);
        let at: Vec<usize> = s.steps.iter().map(|st| st.at).collect();
        let svg = charts::trend(&title, &s.unit, &s.points, &at, (300, 120))?;
        let last = s.points.last().map_or(0.0, |p| p.1);
        figure(out, &svg, &format!("now {}", human(last, &s.unit)));
    }
    out.push_str("</div></section>\n");
    Ok(())
}

fn facts(out: &mut String, input: &ReportInput<'_>) {
    let r = input.record;
    let m = &r.machine;
    out.push_str("<section id=\"facts\"><h2>Run facts</h2><dl class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    fact("suite", r.suite.clone());
    fact("started", r.started.clone());
    fact("duration", format!("{:.1} s", r.duration_s));
    fact(
        "commit",
        format!(
            "{}{}",
            r.git.commit,
            if r.git.dirty {
                " (uncommitted changes)"
            } else {
                ""
            }
        ),
    );
    fact(
        "toolchain",
        format!("{} ({})", r.toolchain.rustc, r.toolchain.profile),
    );
    fact("machine", m.fingerprint.clone());
    fact(
        "host",
        format!(
            "{} · {} {} · {} CPUs · {:.1} GiB",
            m.hostname,
            m.os,
            m.arch,
            m.cpus,
            m.memory_bytes as f64 / f64::from(1u32 << 30)
        ),
    );
    if let Some(p) = input.baseline_path {
        fact("baseline", p.display().to_string());
    }
    if let Some(b) = input.baseline {
        fact(
            "baseline from",
            format!(
                "{} · commit {} · {}",
                b.machine.fingerprint, b.git.commit, b.started
            ),
        );
    }
    out.push_str(
        "</dl><details><summary>Time per scenario</summary><table><thead><tr>\
                  <th>scenario</th><th>setup + measurement</th></tr></thead><tbody>",
    );
    for s in &r.scenarios {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{:.2} s</td></tr>",
            esc(&s.id),
            s.duration_s
        );
    }
    out.push_str("</tbody></table></details></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::config::GateConfig;
    use crate::model::Metric;
    use crate::testutil::{record, wall};

    fn run(scale: f64) -> RunRecord {
        let mut rows = Vec::new();
        for n in [1000_u64, 10_000] {
            let walk = format!("cache/size/walk/files={n}");
            let indexed = format!("cache/size/indexed/files={n}");
            let w = n as f64 * 1000.0 * scale;
            rows.push((walk.clone(), "wall_time", wall(&[w, w * 1.01, w * 0.99, w])));
            rows.push((walk, "entries", Metric::count(n, "entries")));
            rows.push((
                indexed.clone(),
                "wall_time",
                wall(&[1e3, 1.01e3, 0.99e3, 1e3]),
            ));
            rows.push((indexed, "entries", Metric::count(0, "entries")));
        }
        let rows: Vec<(&str, &str, Metric)> = rows
            .iter()
            .map(|(id, m, v)| (id.as_str(), *m, v.clone()))
            .collect();
        let mut r = record("m", rows);
        for s in &mut r.scenarios {
            if s.id.contains("/indexed/") {
                s.before = Some(s.id.replace("/indexed/", "/walk/"));
            }
        }
        r.growth = crate::analysis::growth(&r);
        r
    }

    /// The page of a run 3x slower than its baseline, and the run.
    fn regressed_page() -> (RunRecord, String) {
        let base = run(1.0);
        let cur = run(3.0);
        let c = compare(&base, &cur, &GateConfig::default(), &|_| true);
        let page = render(&ReportInput {
            comparison: Some(&c),
            baseline: Some(&base),
            ..ReportInput::new(&cur)
        })
        .expect("render");
        (cur, page)
    }

    #[test]
    fn the_page_is_self_contained_and_shows_every_scenario() {
        let (cur, page) = regressed_page();
        assert!(page.starts_with("<!doctype html>") && page.trim_end().ends_with("</html>"));
        assert!(page.contains("perfgate smoke: regression"));
        for s in &cur.scenarios {
            assert!(page.contains(&s.id), "{} missing", s.id);
        }
        for id in SECTION_IDS {
            assert!(
                page.contains(&format!("<section id=\"{id}\">")),
                "section {id}"
            );
        }
        assert!(!page.contains("<script"), "no JavaScript");
        assert!(!page.contains("src=\"http"), "no network");
        // Regressions come first in the verdict table.
        let first_row = page.find("<tr class=\"v-").expect("a verdict row");
        assert!(page[first_row..].starts_with("<tr class=\"v-regressed\""));
        // Charts: a before/after chart per metric, growth charts, a baseline-vs-current chart.
        assert!(
            page.matches("<svg").count() >= 5,
            "{}",
            page.matches("<svg").count()
        );
        assert!(page.contains("walk (before)"));
        // Tags balance (a cheap structural check).
        for tag in ["section", "table", "figure", "svg", "tr"] {
            let open = page.matches(&format!("<{tag}")).count();
            let close = page.matches(&format!("</{tag}>")).count();
            assert_eq!(open, close, "<{tag}> unbalanced");
        }
    }

    /// The page's outline: sections, headings, table headers and how many charts each section
    /// draws, one line each; what a reader navigates by, without the figures' exact pixels.
    fn outline(page: &str) -> String {
        let mut out = String::new();
        let mut rest = page;
        let mut svgs = 0;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                .collect();
            let head = &rest[..rest.find('>').unwrap_or(rest.len())];
            let text = |tag: &str| {
                let body = &rest[rest.find('>').map_or(0, |i| i + 1)..];
                let inner = &body[..body.find(&format!("</{tag}>")).unwrap_or(0)];
                strip_tags(inner)
            };
            match name.as_str() {
                "section" => {
                    let id = head.split('"').nth(1).unwrap_or_default();
                    out.push_str(&format!("section #{id}\n"));
                }
                "/section" => {
                    if svgs > 0 {
                        out.push_str(&format!("  ({svgs} charts)\n"));
                    }
                    svgs = 0;
                }
                "h1" | "h2" | "h3" => {
                    out.push_str(&format!("  {name}: {}\n", text(&name)));
                }
                "tr" if rest.contains("<th") && rest.find("<th") < rest.find("</tr>") => {
                    let row = &rest[..rest.find("</tr>").unwrap_or(0)];
                    let cells: Vec<String> = row
                        .split("<th")
                        .skip(1)
                        .map(|c| strip_tags(&c[c.find('>').map_or(0, |i| i + 1)..]))
                        .collect();
                    out.push_str(&format!("  table | {} |\n", cells.join(" | ")));
                }
                "svg" => svgs += 1,
                _ => {}
            }
        }
        out
    }

    /// Text without its tags, whitespace folded.
    fn strip_tags(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The page's structure, snapshotted (`cargo insta review` after an intended change): a
    /// section, heading or column that moves or disappears shows in the diff.
    #[test]
    fn the_pages_outline_is_stable() {
        insta::assert_snapshot!(outline(&regressed_page().1));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
        let mut r = run(1.0);
        r.scenarios[0].id = "cache/size/walk/<script>".to_owned();
        let page = render(&ReportInput::new(&r)).expect("render");
        assert!(!page.contains("<script>"));
        assert!(page.contains("measured, not compared"));
    }

    #[test]
    fn history_shows_trends_and_flags_a_step() {
        let runs: Vec<RunRecord> = (0..12)
            .map(|i| run(if i >= 7 { 1.3 } else { 1.0 }))
            .collect();
        let entries: Vec<_> = runs.iter().map(crate::history::HistoryRun::of).collect();
        let series = crate::history::series(&entries);
        let cur = runs.last().expect("runs").clone();
        let page = render(&ReportInput {
            history: &series,
            ..ReportInput::new(&cur)
        })
        .expect("render");
        assert!(page.contains("The last 12 runs"));
        assert!(page.contains("b-step"), "the 1.3x step is flagged");
        assert!(page.contains("8 of 12"), "the step starts at the 8th run");
    }

    #[test]
    fn scale_labels_keep_only_what_differs() {
        assert_eq!(
            scale_labels(&["contenders=8,hold_ms=50", "contenders=8,hold_ms=200"]),
            vec!["hold_ms=50", "hold_ms=200"]
        );
        assert_eq!(scale_labels(&["files=10"]), vec!["files=10"]);
        assert_eq!(scale_labels(&[""]), vec!["–"]);
        assert_eq!(scale_labels(&["a=1,b=2", "a=2,b=2"]), vec!["a=1", "a=2"]);
    }
}
