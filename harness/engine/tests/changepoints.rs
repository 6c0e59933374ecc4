//! The change-point defaults on real data: 50 runs of the smoke suite on an unchanged tree (recorded
//! on a shared 2-core VM) must give no change point in a deterministic metric and at most one wall-time
//! series in twenty with one.

use perfgate::changepoint;
use serde::Deserialize;

#[derive(Deserialize)]
struct Recorded {
    series: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    id: String,
    kind: String,
    values: Vec<Option<f64>>,
}

fn recorded() -> Recorded {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/unchanged-50-runs.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/data/unchanged-50-runs.json");
    serde_json::from_str(&text).expect("recorded series")
}

#[test]
fn an_unchanged_tree_has_no_change_point_in_deterministic_metrics_and_few_in_wall_times() {
    let recorded = recorded();
    let mut deterministic = Vec::new();
    let (mut wall, mut wall_with) = (0, Vec::new());
    for s in &recorded.series {
        assert_eq!(s.values.len(), 50, "{}", s.id);
        let found = changepoint::detect(&s.values);
        match s.kind.as_str() {
            "exact" | "virtual_time" | "instructions" if !found.is_empty() => {
                deterministic.push((&s.id, found));
            }
            "wall_time" => {
                wall += 1;
                if !found.is_empty() {
                    wall_with.push((&s.id, found));
                }
            }
            _ => {}
        }
    }
    assert!(deterministic.is_empty(), "{deterministic:?}");
    assert!(wall >= 30, "the recording has {wall} wall-time series");
    assert!(
        wall_with.len() * 20 <= wall,
        "{} of {wall} wall-time series have a change point: {wall_with:?}",
        wall_with.len()
    );
}

#[test]
fn a_step_added_to_a_recorded_series_is_found_where_it_starts() {
    let recorded = recorded();
    // A quiet wall-time series (about 2 % noise): a 10 % slowdown from run 30 on, fixed at run 42.
    let s = recorded
        .series
        .iter()
        .find(|s| s.id == "ntpstatus/record/per-write/delay=200ms,minutes=1 write_wait_p50")
        .expect("the recorded series");
    let stepped: Vec<Option<f64>> = s
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|v| if (30..42).contains(&i) { v * 1.1 } else { v }))
        .collect();
    assert_eq!(changepoint::detect(&stepped), vec![30, 42]);
}
