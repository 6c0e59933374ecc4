//! Rule sync against the simulated Control D API, in process and in tokio's paused (virtual) time:
//! both variants reach the same end state, every request is accounted for, and the retry rules hold.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use components::rulesync::{
    BATCH_SIZE, Endpoint, PooledSync, RuleSync, SequentialSync, SyncConfig, SyncError, SyncReport,
};
use fixtures::controld::{ApiBehaviour, Budget, IN_PROCESS_BASE, Scripted, SimulatedApi};
use fixtures::datagen::rules::{RuleSet, RuleSetSpec, generate};
use http::{Method, StatusCode};
use tokio::time::Instant;

const PROFILE: &str = "p1";
const TOKEN: &str = "secret";

struct Setup {
    api: SimulatedApi,
    urls: Vec<String>,
    set: RuleSet,
}

fn setup(set: RuleSet, behaviour: ApiBehaviour) -> Setup {
    let api = SimulatedApi::new(ApiBehaviour {
        token: Some(TOKEN.to_owned()),
        ..behaviour
    });
    for f in set.kept.iter().chain(&set.replaced) {
        api.seed_folder(PROFILE, f);
    }
    let urls = set
        .folders
        .iter()
        .map(|f| format!("{IN_PROCESS_BASE}{}", api.add_folder_file(f)))
        .collect();
    Setup { api, urls, set }
}

fn config(token: &str) -> SyncConfig {
    SyncConfig::new(Endpoint {
        api_base: format!("{IN_PROCESS_BASE}/profiles"),
        profile: PROFILE.to_owned(),
        token: token.to_owned(),
    })
}

fn variant(name: &str, s: &Setup, token: &str) -> Box<dyn RuleSync> {
    let connector = Arc::new(s.api.in_process());
    match name {
        "sequential" => Box::new(SequentialSync::new(config(token), connector)),
        _ => Box::new(PooledSync::new(config(token), connector)),
    }
}

async fn run(name: &str, s: &Setup) -> Result<SyncReport, SyncError> {
    variant(name, s, TOKEN).sync(&s.urls).await
}

/// Every folder file's folder holds exactly its expected new hostnames, kept folders are untouched,
/// replaced ones are gone, nothing arrived twice, and each push is the next 500 of its folder's
/// expected list, in order.
fn assert_end_state(s: &Setup) {
    let folders = s.api.folders(PROFILE);
    let expected = s.set.expected_new();
    assert_eq!(folders.len(), s.set.kept.len() + s.set.folders.len());
    for (stored, kept) in folders.iter().zip(&s.set.kept) {
        assert_eq!((&stored.name, &stored.rules), (&kept.name, &kept.hostnames));
    }
    let created = &folders[s.set.kept.len()..];
    for ((stored, file), want) in created.iter().zip(&s.set.folders).zip(&expected) {
        assert_eq!(
            (&stored.name, stored.action, stored.status),
            (&file.name, file.action, file.status)
        );
        let mut got = stored.rules.clone();
        let mut want_sorted = want.clone();
        got.sort();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "rules of {}", stored.name);
    }
    assert_eq!(s.api.duplicate_rules(), 0, "a hostname was pushed twice");
    for push in s.api.pushes() {
        let i = created
            .iter()
            .position(|f| f.pk == push.group)
            .expect("push into a created folder");
        let want = &expected[i];
        let start = want
            .iter()
            .position(|h| *h == push.hostnames[0])
            .expect("pushed hostname is expected");
        assert_eq!(start % BATCH_SIZE, 0, "batches are cut at multiples of 500");
        assert_eq!(
            &want[start..(start + push.hostnames.len()).min(want.len())],
            push.hostnames.as_slice(),
            "a batch keeps input order"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn both_variants_reach_the_same_end_state_at_10k() {
    let set = generate(&RuleSetSpec::standard(10_000), 42).expect("rule set");
    let seq = setup(set.clone(), ApiBehaviour::default());
    let pooled = setup(set, ApiBehaviour::default());
    let a = run("sequential", &seq).await.expect("sequential sync");
    let b = run("pooled", &pooled).await.expect("pooled sync");
    assert_end_state(&seq);
    assert_end_state(&pooled);
    let simplify = |v: Vec<fixtures::controld::StoredFolder>| {
        v.into_iter()
            .map(|f| {
                let mut r = f.rules;
                r.sort();
                (f.pk, f.name, f.action, f.status, r)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        simplify(seq.api.folders(PROFILE)),
        simplify(pooled.api.folders(PROFILE))
    );
    // Same counts, same requests; only the clients differ (one per call against one).
    for (x, y) in [
        (a.pushed, b.pushed),
        (a.batches, b.batches),
        (a.invalid, b.invalid),
        (a.duplicates, b.duplicates),
        (a.skipped_existing, b.skipped_existing),
        (a.deleted, b.deleted),
        (a.calls.total(), b.calls.total()),
    ] {
        assert_eq!(x, y, "{a:?}\n{b:?}");
    }
    assert_eq!(a.pushed as usize, seq.set.unique_new());
    assert_eq!(a.calls.clients, a.calls.total());
    assert_eq!(b.calls.clients, 1);
    assert!(a.invalid > 0 && a.duplicates > 0 && a.skipped_existing > 0);
}

#[tokio::test(start_paused = true)]
async fn requests_are_the_batches_plus_the_fixed_calls() {
    let set = generate(&RuleSetSpec::standard(20_000), 7).expect("rule set");
    let s = setup(set, ApiBehaviour::default());
    let r = run("pooled", &s).await.expect("sync");
    let folders = s.set.folders.len() as u64;
    let batches = s.set.expected_batches() as u64;
    let kept = s.set.kept.len() as u64;
    let replaced = s.set.replaced.len() as u64;
    assert_eq!(r.batches, batches);
    assert_eq!(r.calls.post, folders + batches, "creates + pushes");
    assert_eq!(r.calls.delete, replaced);
    assert_eq!(
        r.calls.get,
        folders + 1 + kept,
        "files + list + rules of kept folders"
    );
    let server = s.api.requests();
    assert_eq!(server.get("POST /profiles/{profile}/rules"), Some(&batches));
    assert_eq!(r.calls.retries, 0);
}

#[tokio::test(start_paused = true)]
async fn latency_shows_the_workers_in_virtual_time() {
    // The seed authors' case: 2,000 rules, 100 ms a request; 4 batches take 4 rounds in turn and 2
    // rounds with 3 workers.
    let set = generate(&RuleSetSpec::clean(2_000), 1).expect("rule set");
    let behaviour = ApiBehaviour {
        latency: Duration::from_millis(100),
        ..ApiBehaviour::default()
    };
    let seq = setup(set.clone(), behaviour.clone());
    let pooled = setup(set, behaviour);
    let a = run("sequential", &seq).await.expect("sync");
    let b = run("pooled", &pooled).await.expect("sync");
    assert_eq!(a.stages.push, Duration::from_millis(400));
    assert_eq!(b.stages.push, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_exactly_its_retry_after() {
    let set = generate(&RuleSetSpec::clean(300), 1).expect("rule set");
    let s = setup(set, ApiBehaviour::default());
    s.api.script(
        Scripted::new(
            Method::POST,
            "/rules",
            StatusCode::TOO_MANY_REQUESTS,
            b"{}",
            1,
        )
        .header("retry-after", "7"),
    );
    let t = Instant::now();
    let r = run("pooled", &s).await.expect("sync");
    assert_eq!(t.elapsed(), Duration::from_secs(7));
    assert_eq!((r.calls.throttled, r.calls.retries), (1, 1));
    assert_end_state(&s);
}

#[tokio::test(start_paused = true)]
async fn a_429_with_an_http_date_waits_until_then() {
    let set = generate(&RuleSetSpec::clean(300), 1).expect("rule set");
    let s = setup(set, ApiBehaviour::default());
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(6));
    s.api.script(
        Scripted::new(
            Method::GET,
            "/groups",
            StatusCode::TOO_MANY_REQUESTS,
            b"{}",
            1,
        )
        .header("retry-after", &at),
    );
    let t = Instant::now();
    run("pooled", &s).await.expect("sync");
    let waited = t.elapsed();
    // Whole seconds in the header, so up to 1 s early.
    assert!(
        waited > Duration::from_secs(4) && waited <= Duration::from_secs(6),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn other_4xx_are_not_retried_and_name_the_endpoint() {
    let set = generate(&RuleSetSpec::clean(300), 1).expect("rule set");
    let s = setup(set, ApiBehaviour::default());
    for name in ["sequential", "pooled"] {
        let err = variant(name, &s, "wrong-token")
            .sync(&s.urls)
            .await
            .expect_err("401");
        match &err {
            SyncError::Rejected {
                endpoint, status, ..
            } => {
                assert_eq!((endpoint.as_str(), *status), ("GET /{profile}/groups", 401));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("not retried"), "{err}");
    }
    assert_eq!(
        s.api.requests().get("GET /profiles/{profile}/groups"),
        Some(&2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_5xx_is_retried_with_capped_jittered_backoff() {
    let set = generate(&RuleSetSpec::clean(300), 1).expect("rule set");
    let s = setup(set, ApiBehaviour::default());
    s.api.script(Scripted::new(
        Method::GET,
        "/groups",
        StatusCode::SERVICE_UNAVAILABLE,
        b"busy",
        3,
    ));
    let t = Instant::now();
    let r = run("sequential", &s).await.expect("sync");
    assert_eq!((r.calls.server_errors, r.calls.retries), (3, 3));
    // Windows of 1, 2 and 4 s.
    assert!(t.elapsed() < Duration::from_secs(7), "{:?}", t.elapsed());
    assert_end_state(&s);

    let s = setup(
        generate(&RuleSetSpec::clean(10), 1).expect("rule set"),
        ApiBehaviour::default(),
    );
    s.api.script(Scripted::new(
        Method::GET,
        "/groups",
        StatusCode::BAD_GATEWAY,
        b"down",
        100,
    ));
    let t = Instant::now();
    let err = run("pooled", &s).await.expect_err("gives up");
    assert!(
        matches!(&err, SyncError::RetriesExhausted { tries: 10, .. }),
        "{err}"
    );
    // Nine waits, windows 1, 2, 4, ... 256 s, capped at 60: under 1+2+4+8+16+32+60+60+60 s.
    assert!(t.elapsed() < Duration::from_secs(243), "{:?}", t.elapsed());
}

#[tokio::test(start_paused = true)]
async fn oversize_and_malformed_responses_are_errors_naming_the_endpoint() {
    let s = setup(
        generate(&RuleSetSpec::clean(10), 1).expect("rule set"),
        ApiBehaviour::default(),
    );
    let big = format!(
        "{IN_PROCESS_BASE}{}",
        s.api.add_file("big.json", vec![b' '; 10 * 1024 * 1024 + 1])
    );
    let err = variant("pooled", &s, TOKEN)
        .sync(std::slice::from_ref(&big))
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, SyncError::TooLarge { endpoint, .. } if endpoint.contains("big.json")),
        "{err}"
    );

    s.api.script(Scripted::new(
        Method::GET,
        "/groups",
        StatusCode::OK,
        b"{\"body\": [",
        1,
    ));
    let err = run("sequential", &s).await.expect_err("malformed");
    assert!(
        matches!(&err, SyncError::MalformedJson { endpoint, .. } if endpoint == "GET /{profile}/groups"),
        "{err}"
    );
    let not_json = format!(
        "{IN_PROCESS_BASE}{}",
        s.api.add_file("text.json", b"<html>".to_vec())
    );
    let err = run_urls("pooled", &s, &[not_json])
        .await
        .expect_err("malformed");
    assert!(matches!(err, SyncError::MalformedJson { .. }), "{err}");
}

async fn run_urls(name: &str, s: &Setup, urls: &[String]) -> Result<SyncReport, SyncError> {
    variant(name, s, TOKEN).sync(urls).await
}

#[tokio::test(start_paused = true)]
async fn a_push_whose_answer_was_lost_is_not_pushed_twice() {
    let set = generate(&RuleSetSpec::clean(1_200), 1).expect("rule set");
    for name in ["sequential", "pooled"] {
        let s = setup(set.clone(), ApiBehaviour::default());
        let mut lost = Scripted::new(
            Method::POST,
            "/rules",
            StatusCode::INTERNAL_SERVER_ERROR,
            b"oops",
            2,
        );
        lost.after_apply = true;
        s.api.script(lost);
        let r = run(name, &s).await.expect("sync");
        assert_end_state(&s);
        assert_eq!(r.pushed as usize, s.set.unique_new(), "{name}");
        assert_eq!(r.calls.retries, 2, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn random_faults_and_a_429_storm_lose_and_duplicate_nothing() {
    let set = generate(&RuleSetSpec::standard(10_000), 3).expect("rule set");
    let faulty = setup(
        set.clone(),
        ApiBehaviour {
            fault_rate: 0.05,
            fault_seed: 9,
            faults_after_apply: true,
            ..ApiBehaviour::default()
        },
    );
    for name in ["sequential", "pooled"] {
        faulty.api.clear_store();
        for f in set.kept.iter().chain(&set.replaced) {
            faulty.api.seed_folder(PROFILE, f);
        }
        run(name, &faulty).await.expect("sync despite faults");
        assert_end_state(&faulty);
    }
    let storm = setup(
        set,
        ApiBehaviour {
            budget: Some(Budget {
                requests: 10,
                window: Duration::from_secs(5),
            }),
            ..ApiBehaviour::default()
        },
    );
    let r = run("pooled", &storm).await.expect("sync through the storm");
    assert_end_state(&storm);
    assert!(
        r.calls.throttled > 0 && r.calls.rate_limit_warnings > 0,
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_with_reqwest_the_pooled_client_reuses_its_connections() {
    // Real sockets on 127.0.0.1, no latency and no retries: no waiting, real or virtual.
    let set = generate(&RuleSetSpec::standard(5_000), 5).expect("rule set");
    let mut connections = Vec::new();
    for name in ["sequential", "pooled"] {
        let s = setup(set.clone(), ApiBehaviour::default());
        let server = s.api.serve().await.expect("serve on loopback");
        assert!(server.addr().ip().is_loopback());
        let urls: Vec<String> = s
            .set
            .folders
            .iter()
            .map(|f| format!("{}{}", server.base_url(), s.api.add_folder_file(f)))
            .collect();
        let mut config = config(TOKEN);
        config.endpoint.api_base = server.api_base();
        let connector = Arc::new(components::rulesync::ReqwestConnector::default());
        let sync: Box<dyn RuleSync> = match name {
            "sequential" => Box::new(SequentialSync::new(config, connector)),
            _ => Box::new(PooledSync::new(config, connector)),
        };
        let r = sync.sync(&urls).await.expect("sync over TCP");
        assert_end_state(&s);
        connections.push((r.calls.total(), s.api.connections()));
    }
    let [(seq_calls, seq_conns), (pooled_calls, pooled_conns)] = connections[..] else {
        panic!("two runs")
    };
    assert_eq!(seq_calls, pooled_calls);
    assert_eq!(seq_conns, seq_calls, "a connection per call");
    assert!(
        pooled_conns <= 8,
        "{pooled_conns} connections for {pooled_calls} calls"
    );
}

#[tokio::test(start_paused = true)]
async fn a_create_or_delete_whose_answer_was_lost_is_not_repeated() {
    let set = generate(&RuleSetSpec::standard(3_000), 2).expect("rule set");
    assert!(!set.replaced.is_empty());
    for name in ["sequential", "pooled"] {
        let s = setup(set.clone(), ApiBehaviour::default());
        for (method, path) in [(Method::POST, "/groups"), (Method::DELETE, "/groups/")] {
            let mut lost = Scripted::new(method, path, StatusCode::BAD_GATEWAY, b"lost", 1);
            lost.after_apply = true;
            s.api.script(lost);
        }
        let r = run(name, &s).await.expect("sync");
        // One folder per name: the create was not repeated, the delete's 404 on retry was success.
        assert_end_state(&s);
        assert_eq!(r.calls.retries, 2, "{name}");
    }
}
