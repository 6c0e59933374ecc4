//! The reports end to end through the binary on hand-made records: `report` writes the HTML page,
//! `--export` writes the formats other tools read, `merge` joins shards, `--history` keeps runs; and
//! the page renders in headless Chromium when it is installed.

mod common;

use std::process::Command;

use common::{perfgate, record, stderr, write, write_record};
use perfgate::model::{Metric, RunRecord};

/// A record with a before/after pair at two scales, sampled wall times and exact counts.
fn rich(scale: f64) -> RunRecord {
    let mut r = record(0);
    r.scenarios.clear();
    for n in [1000_u64, 10_000] {
        for (variant, per_file) in [("walk", 1000.0), ("indexed", 0.0)] {
            let id = format!("flowcache/size/{variant}/files={n}");
            let base = if per_file > 0.0 {
                n as f64 * per_file * scale
            } else {
                1200.0
            };
            let samples: Vec<f64> = (0..12)
                .map(|i| base * (1.0 + 0.002 * f64::from(i % 3)))
                .collect();
            let wall = perfgate::measure::Samples {
                ns_per_iter: samples,
                batch: 1,
            }
            .into_metric(0.95);
            let entries = if per_file > 0.0 { n } else { 0 };
            let mut metrics = std::collections::BTreeMap::new();
            metrics.insert("wall_time".to_owned(), wall);
            metrics.insert(
                "entries_visited".to_owned(),
                Metric::count(entries, "entries"),
            );
            r.scenarios.push(perfgate::model::ScenarioRecord {
                before: (variant == "indexed").then(|| format!("flowcache/size/walk/files={n}")),
                id,
                metrics,
                duration_s: 0.2,
            });
        }
    }
    r.growth = perfgate::analysis::growth(&r);
    r
}

#[test]
fn report_renders_the_page_with_every_scenario_and_exports_parse_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("base.json"), &rich(1.0));
    write_record(&dir.path().join("run.json"), &rich(2.0));
    let out = perfgate(
        dir.path(),
        &[
            "report",
            "run.json",
            "--baseline",
            "base.json",
            "--export",
            "bmf=out/bmf.json",
            "--export",
            "github=out/github.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("reports/index.html")).expect("index.html");
    for s in &rich(1.0).scenarios {
        assert!(page.contains(&s.id), "{} not in the page", s.id);
    }
    assert!(
        page.contains("perfgate smoke: regression"),
        "2x walk is a regression"
    );
    let bmf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/bmf.json")).expect("bmf"))
            .expect("bmf is JSON");
    let walk = &bmf["flowcache/size/walk/files=1000"]["wall_time"];
    assert!(walk["value"].as_f64().is_some_and(|v| v > 1.9e6));
    assert!(walk["lower_value"].as_f64() <= walk["value"].as_f64());
    let gh: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/github.json")).expect("gh"))
            .expect("github is JSON");
    let entries = gh.as_array().expect("a list");
    assert_eq!(entries.len(), 8, "4 scenarios x 2 lower-is-better metrics");
    assert!(
        entries
            .iter()
            .all(|e| e["name"].is_string() && e["value"].is_number())
    );
}

#[test]
fn bad_exports_and_shards_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("run.json"), &rich(1.0));
    for (args, expect) in [
        (vec!["report", "run.json", "--export", "bmf"], "FORMAT=PATH"),
        (
            vec!["report", "run.json", "--export", "csv=x.csv"],
            "unknown format",
        ),
        (vec!["run", "--shard", "3/2"], "--shard"),
    ] {
        let out = perfgate(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn merge_joins_shards_and_refuses_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = rich(1.0);
    let (mut a, mut b) = (full.clone(), full.clone());
    a.scenarios.retain(|s| s.id.ends_with("=1000"));
    b.scenarios.retain(|s| s.id.ends_with("=10000"));
    write_record(&dir.path().join("a.json"), &a);
    write_record(&dir.path().join("b.json"), &b);
    let out = perfgate(
        dir.path(),
        &["merge", "a.json", "b.json", "--out", "m.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: RunRecord =
        serde_json::from_slice(&std::fs::read(dir.path().join("m.json")).expect("merged"))
            .expect("a record");
    assert_eq!(merged.scenarios.len(), 4);
    assert!(
        merged
            .growth
            .iter()
            .any(|g| g.family == "flowcache/size/walk")
    );
    let again = perfgate(
        dir.path(),
        &["merge", "a.json", "a.json", "--out", "x.json"],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("a.json"), "{}", stderr(&again));
    assert!(
        !dir.path().join("x.json").exists(),
        "nothing written on error"
    );
}

#[test]
fn report_reads_history_and_a_bad_history_line_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = String::new();
    for i in 0..10 {
        let r = rich(if i >= 6 { 1.4 } else { 1.0 });
        lines.push_str(&serde_json::to_string(&r).expect("json"));
        lines.push('\n');
    }
    write(&dir.path().join("h.jsonl"), &lines);
    write_record(&dir.path().join("run.json"), &rich(1.4));
    let out = perfgate(dir.path(), &["report", "run.json", "--history", "h.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("reports/index.html")).expect("page");
    assert!(page.contains("The last 10 runs"), "trend section");
    assert!(
        page.contains("b-step"),
        "the 1.4x step of the walk is flagged"
    );
    lines.push_str("garbage\n");
    write(&dir.path().join("h.jsonl"), &lines);
    let bad = perfgate(dir.path(), &["report", "run.json", "--history", "h.jsonl"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("line 11"), "{}", stderr(&bad));
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Opens the page in headless Chromium: it must load, lay out every section, and produce a
/// non-empty screenshot. Skipped, saying so, where Chromium is not installed.
#[test]
fn the_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the_page_renders_in_headless_chromium: no chromium on PATH \
             (Debian: apt-get install chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("base.json"), &rich(1.0));
    write_record(&dir.path().join("run.json"), &rich(2.0));
    let out = perfgate(
        dir.path(),
        &["report", "run.json", "--baseline", "base.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = dir.path().join("reports/index.html");
    let url = format!("file://{}", page.display());
    let headless = |extra: &[&str]| {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium")
    };
    let dom = headless(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    for id in perfgate::report::html::SECTION_IDS {
        assert!(
            dom_text.contains(&format!("id=\"{id}\"")),
            "section {id} missing from the rendered DOM"
        );
    }
    assert!(dom_text.matches("<svg").count() >= 4, "charts in the DOM");
    let shot = dir.path().join("shot.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let png = headless(&["--window-size=1280,2400", &screenshot]);
    assert!(
        png.status.success(),
        "{}",
        String::from_utf8_lossy(&png.stderr)
    );
    let bytes = std::fs::read(&shot).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}

/// 5 components × 4 families × 2 variants × 2 scales, 3 exact counts each (240 metrics); in the
/// "changed" copy 10 of them moved (6 worse, 4 better).
fn suite(changed: bool) -> RunRecord {
    let mut r = record(0);
    r.scenarios.clear();
    let mut moved = 0;
    for component in [
        "flowcache",
        "ntpstatus",
        "timesync",
        "ratelimit",
        "rulesync",
    ] {
        for family in ["size", "write", "cleanup", "query"] {
            for n in [10_u64, 1000] {
                for variant in ["old", "new"] {
                    let mut metrics = std::collections::BTreeMap::new();
                    for (i, name) in ["calls", "bytes", "visits"].into_iter().enumerate() {
                        let mut v = n * (i as u64 + 1) * if variant == "old" { 10 } else { 1 };
                        if changed && variant == "new" && n == 1000 && i == 0 && moved < 10 {
                            v = if moved < 6 { v * 3 } else { v / 3 };
                            moved += 1;
                        }
                        metrics.insert(name.to_owned(), Metric::count(v, "n"));
                    }
                    r.scenarios.push(perfgate::model::ScenarioRecord {
                        id: format!("{component}/{family}/{variant}/n={n}"),
                        before: (variant == "new")
                            .then(|| format!("{component}/{family}/old/n={n}")),
                        metrics,
                        duration_s: 0.1,
                    });
                }
            }
        }
    }
    r.growth = perfgate::analysis::growth(&r);
    r
}

/// What a reviewer sees first, measured in headless Chromium on a copy of the page with a probe
/// script (the page itself has none): at 1400x900 the verdict, all 10 changed rows and the start of
/// the component cards are above the fold; at 390 px wide the page body does not scroll sideways.
#[test]
fn the_first_screen_shows_what_changed_and_the_page_fits_a_phone() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the_first_screen_shows_what_changed_and_the_page_fits_a_phone: no chromium on \
             PATH (Debian: apt-get install chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write_record(&dir.path().join("base.json"), &suite(false));
    write_record(&dir.path().join("run.json"), &suite(true));
    let out = perfgate(
        dir.path(),
        &["report", "run.json", "--baseline", "base.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("reports/index.html")).expect("page");
    assert!(!page.contains("<script"), "the page needs no JavaScript");
    // The probe reports the layout through the title (and the parent's, when framed).
    let probe = "<script>window.addEventListener('load',()=>{const rows=[...document.\
        querySelectorAll('#changed tbody tr')].map(r=>Math.round(r.getBoundingClientRect().bottom));\
        const card=document.querySelector('#cards .card');const t=JSON.stringify({scroll:document.\
        documentElement.scrollWidth,width:window.innerWidth,rows:rows,card:card?Math.round(card.\
        getBoundingClientRect().top):-1});document.title=t;try{parent.document.title=t}catch(e){}});\
        </script>";
    write(
        &dir.path().join("reports/probe.html"),
        &page.replace("</body>", &format!("{probe}</body>")),
    );
    write(
        &dir.path().join("reports/phone.html"),
        "<!doctype html><html><head><title>-</title></head><body style=\"margin:0\">\
         <iframe src=\"probe.html\" width=\"390\" height=\"844\" style=\"border:0\"></iframe></body></html>",
    );
    let layout = |file: &str, window: &str| -> serde_json::Value {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--allow-file-access-from-files",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("--window-size={window}"))
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!(
                "file://{}",
                dir.path().join("reports").join(file).display()
            ))
            .output()
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&out.stdout);
        let title = dom
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or_default()
            .replace("&quot;", "\"");
        serde_json::from_str(&title).unwrap_or_else(|e| panic!("probe said {title:?}: {e}"))
    };
    let desktop = layout("probe.html", "1400,900");
    let rows: Vec<i64> = desktop["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_i64().expect("px"))
        .collect();
    assert_eq!(rows.len(), 10, "every changed row is listed: {desktop}");
    assert!(
        rows.iter().all(|&bottom| bottom <= 900),
        "above the fold: {desktop}"
    );
    let card = desktop["card"].as_i64().expect("card");
    assert!(
        (0..900).contains(&card),
        "the cards start on the first screen: {desktop}"
    );
    let phone = layout("phone.html", "800,900");
    assert_eq!(phone["width"], 390, "{phone}");
    assert!(
        phone["scroll"].as_i64().expect("px") <= 390,
        "the body scrolls sideways at 390 px: {phone}"
    );
}
