//! Control D folder/rule sync (seed `rulesync-performance-guide.md`, the tool ctrld-sync): fetch
//! folder files, replace same-name folders, push new hostnames in 500-rule batches.
//!
//! [`SequentialSync`] is the original: a new HTTP client per call, every step in turn, every rule
//! validated. [`PooledSync`] is the guide's: one pooled client, concurrent folder fetches, bounded
//! workers (3 deletes, 5 rule fetches, 3 pushes), ordered dedup that skips known hostnames before
//! validating them, a precompiled pattern, a single batch pushed inline. Both leave the API in the
//! same state. Waits go through tokio's clock, so tests run them in paused (virtual) time; the
//! requests go through a [`transport::Transport`], reqwest over TCP or in-process in tests.

pub mod api;
pub mod dedup;
mod sync;
pub mod transport;

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use api::{Api, CallCounts, Endpoint, Group, RetryPolicy};
pub use sync::{PooledSync, SequentialSync};
pub use transport::{BoxFuture, Connector, ReqwestConnector};

/// Hostnames per push (`hostnames[0]` … `hostnames[499]`).
pub const BATCH_SIZE: usize = 500;
/// The original's validation pattern for a hostname rule.
pub const HOSTNAME_PATTERN: &str = r"^[a-zA-Z0-9.\-_:*/@]+$";

/// What can go wrong in a sync. Every variant names the endpoint it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A 4xx other than 429: not retried.
    #[error("{endpoint}: HTTP {status}, not retried: {body}")]
    Rejected {
        /// The endpoint (`METHOD /path-template`, or the folder file's URL).
        endpoint: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Every try failed with a retryable error.
    #[error("{endpoint}: gave up after {tries} tries; last: {last}")]
    RetriesExhausted {
        /// The endpoint.
        endpoint: String,
        /// Tries made.
        tries: u32,
        /// The last failure.
        last: String,
    },
    /// The response was over the size cap.
    #[error("{endpoint}: response larger than {limit} bytes (the cap); not read")]
    TooLarge {
        /// The endpoint.
        endpoint: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("{endpoint}: malformed JSON: {why}")]
    MalformedJson {
        /// The endpoint.
        endpoint: String,
        /// The parser's message.
        why: String,
    },
    /// JSON, but not the expected shape.
    #[error("{endpoint}: unexpected response: {why}")]
    Shape {
        /// The endpoint.
        endpoint: String,
        /// What is missing.
        why: String,
    },
    /// The request could not be built or sent at all (a bad URL): retrying cannot help.
    #[error("{endpoint}: invalid request: {why}")]
    Request {
        /// The endpoint.
        endpoint: String,
        /// Why.
        why: String,
    },
    /// No HTTP client could be built.
    #[error("{0}")]
    Client(String),
}

/// A folder file: the folder's name and action, and its hostnames in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderFile {
    /// Folder name (`group.group`).
    pub name: String,
    /// `group.action.do`: 0 block, 1 allow.
    pub action: i64,
    /// `group.action.status`: 1 enabled.
    pub status: i64,
    /// The rules' hostnames (`rules[].PK`), in file order.
    pub hostnames: Vec<String>,
}

impl FolderFile {
    /// Reads `{"group":{"group":name,"action":{"do":n,"status":n}},"rules":[{"PK":h},…]}` (or
    /// `"rule_groups":[{"rules":[…]},…]` in place of `rules`). Rules without a string `PK` are
    /// skipped, as the original did.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let name = v
            .pointer("/group/group")
            .and_then(Value::as_str)
            .ok_or("no group.group (the folder name)".to_owned())?;
        let action = v
            .pointer("/group/action/do")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let status = v
            .pointer("/group/action/status")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let pks = |rules: &Vec<Value>| -> Vec<String> {
            rules
                .iter()
                .filter_map(|r| r.get("PK").and_then(Value::as_str).map(str::to_owned))
                .collect()
        };
        // `rules`, or the other form: `rule_groups[].rules`, concatenated in order.
        let hostnames = if let Some(rules) = v.get("rules").and_then(Value::as_array) {
            pks(rules)
        } else if let Some(groups) = v.get("rule_groups").and_then(Value::as_array) {
            groups
                .iter()
                .filter_map(|g| g.get("rules").and_then(Value::as_array))
                .flat_map(pks)
                .collect()
        } else {
            return Err("no rules or rule_groups array".to_owned());
        };
        Ok(Self {
            name: name.to_owned(),
            action,
            status,
            hostnames,
        })
    }

    /// The file as the API serves it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "group": {"group": self.name, "action": {"do": self.action, "status": self.status}},
            "rules": self.hostnames.iter().map(|h| serde_json::json!({"PK": h})).collect::<Vec<_>>(),
        })
    }
}

/// The pattern, compiled once for the process (the guide's "pre-compiled at module level").
static HOSTNAME_RE: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(HOSTNAME_PATTERN));

/// Whether `hostname` is a valid rule, with the precompiled pattern. Never true if the pattern
/// failed to compile (it is a constant; a test proves it compiles).
pub fn is_valid_hostname(hostname: &str) -> bool {
    HOSTNAME_RE.as_ref().is_ok_and(|re| re.is_match(hostname))
}

/// Workers per concurrent stage of [`PooledSync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers {
    /// Folder files fetched at once.
    pub fetch: usize,
    /// Folders deleted at once (the guide: 3).
    pub delete: usize,
    /// Folders' rules fetched at once (5).
    pub rules: usize,
    /// Batches pushed at once (3).
    pub push: usize,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            fetch: 8,
            delete: 3,
            rules: 5,
            push: 3,
        }
    }
}

/// Time spent in each stage (tokio's clock: virtual under paused time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Fetching the folder files.
    pub fetch: Duration,
    /// Listing folders, deleting same-name ones and reading the rules already present.
    pub delete: Duration,
    /// Creating the folders.
    pub create: Duration,
    /// Pushing the batches.
    pub push: Duration,
}

impl StageTimings {
    /// All stages.
    pub fn total(&self) -> Duration {
        self.fetch + self.delete + self.create + self.push
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Folders synced.
    pub folders: usize,
    /// Hostnames read from the folder files.
    pub rules_in: u64,
    /// Hostnames pushed (each once).
    pub pushed: u64,
    /// Skipped: already in the profile (in a folder that is kept).
    pub skipped_existing: u64,
    /// Skipped: seen earlier in this sync.
    pub duplicates: u64,
    /// Skipped: fail the pattern.
    pub invalid: u64,
    /// Push calls made (batches).
    pub batches: u64,
    /// Same-name folders deleted.
    pub deleted: u64,
    /// Per-stage times.
    pub stages: StageTimings,
    /// Requests and retries.
    pub calls: CallCounts,
}

impl SyncReport {
    /// Adds what a dedup dropped to the skip counts.
    pub fn record_dropped(&mut self, dropped: dedup::Dropped) {
        self.invalid += dropped.invalid;
        self.skipped_existing += dropped.existing;
        self.duplicates += dropped.duplicates;
    }

    /// Requests per 1,000 hostnames read.
    pub fn calls_per_1000_rules(&self) -> f64 {
        self.calls.per_1000_rules(self.rules_in)
    }

    /// Logs the stage timings and the call summary with `tracing` (the seed's `⏱️` lines).
    pub fn log(&self, variant: &str) {
        tracing::info!(
            variant,
            "fetched {} folders in {:?}",
            self.folders,
            self.stages.fetch
        );
        tracing::info!(
            variant,
            "deleted {} folders in {:?}",
            self.deleted,
            self.stages.delete
        );
        tracing::info!(
            variant,
            "created {} folders in {:?}",
            self.folders,
            self.stages.create
        );
        tracing::info!(
            variant,
            "pushed {} rules in {} batches in {:?}",
            self.pushed,
            self.batches,
            self.stages.push
        );
        tracing::info!(variant, "TOTAL sync time: {:?}", self.stages.total());
        tracing::info!(
            variant,
            "{} ({:.2} per 1,000 rules)",
            self.calls.summary(),
            self.calls_per_1000_rules()
        );
    }
}

/// What every variant is configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// API base, profile and token.
    pub endpoint: Endpoint,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// Workers per stage (used by [`PooledSync`]).
    pub workers: Workers,
}

impl SyncConfig {
    /// Defaults for `endpoint`: 10 tries, workers 8/3/5/3.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            retry: RetryPolicy::default(),
            workers: Workers::default(),
        }
    }
}

/// A way to sync a profile with a list of folder files.
pub trait RuleSync: Send + Sync {
    /// The variant's name (`sequential`, `pooled`).
    fn name(&self) -> &'static str;
    /// Syncs the profile with the folder files at `folder_urls`.
    fn sync<'a>(
        &'a self,
        folder_urls: &'a [String],
    ) -> BoxFuture<'a, Result<SyncReport, SyncError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_compiles_and_matches_the_original() {
        assert!(HOSTNAME_RE.is_ok());
        for ok in ["example.com", "*.ads.example", "a-b_c:1/x@y", "1.2.3.4"] {
            assert!(is_valid_hostname(ok), "{ok}");
        }
        for bad in [
            "",
            "exa mple.com",
            "bad!host",
            "ünï.com",
            "a\nb",
            "#comment",
        ] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn folder_files_round_trip_and_skip_rules_without_pk() {
        let f = FolderFile {
            name: "ads".into(),
            action: 0,
            status: 1,
            hostnames: vec!["a.com".into(), "b.com".into()],
        };
        assert_eq!(FolderFile::from_json(&f.to_json()), Ok(f));
        let v = serde_json::json!({"group":{"group":"x"},"rules":[{"PK":"a"},{"x":1},{"PK":2}]});
        let got = FolderFile::from_json(&v).expect("parses");
        assert_eq!(got.hostnames, vec!["a".to_owned()]);
        assert!(FolderFile::from_json(&serde_json::json!({"rules":[]})).is_err());
        assert!(FolderFile::from_json(&serde_json::json!({"group":{"group":"x"}})).is_err());
        let v = serde_json::json!({"group":{"group":"x"},
            "rule_groups":[{"rules":[{"PK":"a"}]},{"rules":[{"PK":"b"},{"PK":"c"}]},{"x":1}]});
        let got = FolderFile::from_json(&v).expect("parses");
        assert_eq!(got.hostnames, ["a", "b", "c"]);
    }
}
