//! The Control D calls the sync makes, each with the retry rules (10 tries, capped exponential
//! backoff with jitter, 429 waits for `Retry-After`, other 4xx fail at once) and the call tracker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, header};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::transport::{Connector, Response, Transport, TransportError};
use super::{FolderFile, SyncError};

/// Tries per call, the first included (the original's `MAX_RETRIES`).
pub const MAX_TRIES: u32 = 10;
/// Largest backoff window: a retry waits uniformly in `[0, min(2^attempt, 60))` seconds.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Longest `Retry-After` honoured; a longer one is cut to this (a server asking for hours is broken,
/// and the sync should fail in bounded time rather than hang).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Largest response read (the original's 10 MiB cap); longer is [`SyncError::TooLarge`].
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// Below this share of `X-RateLimit-Limit` left, the client warns.
pub const RATE_LIMIT_WARN_SHARE: f64 = 0.2;

/// How calls are retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Tries per call, the first included.
    pub max_tries: u32,
    /// Cap of the backoff window.
    pub cap: Duration,
    /// Seed of the jitter; the same seed gives the same waits.
    pub jitter_seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_tries: MAX_TRIES,
            cap: BACKOFF_CAP,
            jitter_seed: 0x5EED_C0DE,
        }
    }
}

/// Calls made, by method, and what went wrong on the way: the seed's `APICallTracker`.
#[derive(Debug, Default)]
pub struct CallTracker {
    get: AtomicU64,
    post: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    clients: AtomicU64,
    rate_limit_warnings: AtomicU64,
}

/// A snapshot of a [`CallTracker`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// GET requests sent (folder files included).
    pub get: u64,
    /// POST requests sent.
    pub post: u64,
    /// DELETE requests sent.
    pub delete: u64,
    /// Requests with any other method.
    pub other: u64,
    /// Tries after the first, over all calls.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Requests that got no response (connection refused, reset, timed out).
    pub transport_errors: u64,
    /// HTTP clients built (each with its own connections).
    pub clients: u64,
    /// Responses whose `X-RateLimit-Remaining` was under 20 % of `X-RateLimit-Limit`.
    pub rate_limit_warnings: u64,
}

impl CallCounts {
    /// Requests sent, every method and try.
    pub fn total(&self) -> u64 {
        self.get + self.post + self.delete + self.other
    }

    /// Requests per 1,000 rules (the seed's target metric); 0 for no rules.
    pub fn per_1000_rules(&self, rules: u64) -> f64 {
        if rules == 0 {
            0.0
        } else {
            self.total() as f64 * 1000.0 / rules as f64
        }
    }

    /// The seed's summary line: `API calls: N total (GET:a, POST:b, DELETE:c)`.
    pub fn summary(&self) -> String {
        format!(
            "API calls: {} total (GET:{}, POST:{}, DELETE:{}); {} retries, {} throttled, {} server errors, {} clients",
            self.total(),
            self.get,
            self.post,
            self.delete,
            self.retries,
            self.throttled,
            self.server_errors,
            self.clients
        )
    }
}

impl CallTracker {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, method: &Method) {
        Self::bump(match *method {
            Method::GET => &self.get,
            Method::POST => &self.post,
            Method::DELETE => &self.delete,
            _ => &self.other,
        });
    }

    /// The counts so far.
    pub fn snapshot(&self) -> CallCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CallCounts {
            get: get(&self.get),
            post: get(&self.post),
            delete: get(&self.delete),
            other: get(&self.other),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            transport_errors: get(&self.transport_errors),
            clients: get(&self.clients),
            rate_limit_warnings: get(&self.rate_limit_warnings),
        }
    }
}

/// Where requests go and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// API base, e.g. `https://api.controld.com/profiles` (no trailing slash needed).
    pub api_base: String,
    /// Profile id.
    pub profile: String,
    /// Bearer token.
    pub token: String,
}

/// Which client a call uses.
enum Clients {
    /// One client for every call (its pool keeps connections open).
    Shared(Arc<dyn Transport>),
    /// A new client for every call, as the original did.
    PerCall(Arc<dyn Connector>),
}

/// A folder in the profile: id and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The folder's id (`PK`).
    pub pk: String,
    /// Its name (`group`).
    pub name: String,
}

/// Why one try failed and whether to try again.
enum TryFailure {
    /// Try again after `wait` (or the backoff when `None`).
    Retry {
        wait: Option<Duration>,
        why: String,
        /// The server may have acted on it (no response, or a 5xx): a push must check first.
        maybe_applied: bool,
    },
    /// Give up.
    Fatal(SyncError),
}

/// How to recognise, after an ambiguous failure (no response, or a 5xx), that a call took effect.
#[derive(Clone, Copy)]
enum Recovery<'a> {
    /// Reads: repeating them is harmless.
    Idempotent,
    /// A delete answered 404 on a retry: the earlier try deleted it.
    DeleteGone,
    /// A create: a folder of this name now exists (same-name folders were deleted before).
    CreateGroup(&'a str),
}

/// The API as the sync uses it: one method per endpoint, each retried by the policy.
pub struct Api {
    endpoint: Endpoint,
    clients: Clients,
    policy: RetryPolicy,
    tracker: Arc<CallTracker>,
    rng: Mutex<ChaCha8Rng>,
}

impl Api {
    /// An API whose calls share one client from `connector` (built now).
    pub fn pooled(
        endpoint: Endpoint,
        connector: &dyn Connector,
        policy: RetryPolicy,
    ) -> Result<Self, SyncError> {
        let tracker = Arc::new(CallTracker::default());
        let client = connector
            .connect()
            .map_err(|e| SyncError::Client(e.to_string()))?;
        CallTracker::bump(&tracker.clients);
        Ok(Self::with(
            endpoint,
            Clients::Shared(client),
            policy,
            tracker,
        ))
    }

    /// An API that builds a new client from `connector` for every call.
    pub fn per_call(
        endpoint: Endpoint,
        connector: Arc<dyn Connector>,
        policy: RetryPolicy,
    ) -> Self {
        Self::with(
            endpoint,
            Clients::PerCall(connector),
            policy,
            Arc::new(CallTracker::default()),
        )
    }

    fn with(
        endpoint: Endpoint,
        clients: Clients,
        policy: RetryPolicy,
        tracker: Arc<CallTracker>,
    ) -> Self {
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(policy.jitter_seed));
        Self {
            endpoint,
            clients,
            policy,
            tracker,
            rng,
        }
    }

    /// The counts so far.
    pub fn calls(&self) -> CallCounts {
        self.tracker.snapshot()
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/{}/{tail}",
            self.endpoint.api_base.trim_end_matches('/'),
            self.endpoint.profile
        )
    }

    fn client(&self) -> Result<Arc<dyn Transport>, SyncError> {
        match &self.clients {
            Clients::Shared(c) => Ok(Arc::clone(c)),
            Clients::PerCall(connector) => {
                let c = connector
                    .connect()
                    .map_err(|e| SyncError::Client(e.to_string()))?;
                CallTracker::bump(&self.tracker.clients);
                Ok(c)
            }
        }
    }

    fn request(
        &self,
        name: &str,
        method: &Method,
        url: &str,
        form: Option<&[u8]>,
    ) -> Result<http::Request<Vec<u8>>, SyncError> {
        let mut b = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.endpoint.token),
            );
        if form.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        b.body(form.map(<[u8]>::to_vec).unwrap_or_default())
            .map_err(|e| SyncError::Request {
                endpoint: name.to_owned(),
                why: e.to_string(),
            })
    }

    /// One try: a 2xx response, or why not and whether to retry.
    async fn try_once(
        &self,
        name: &str,
        method: &Method,
        url: &str,
        form: Option<&[u8]>,
    ) -> Result<Response, TryFailure> {
        let request = self
            .request(name, method, url, form)
            .map_err(TryFailure::Fatal)?;
        let client = self.client().map_err(TryFailure::Fatal)?;
        self.tracker.record(method);
        let response = match client.send(request, MAX_RESPONSE_BYTES).await {
            Ok(r) => r,
            Err(TransportError::TooLarge { limit }) => {
                return Err(TryFailure::Fatal(SyncError::TooLarge {
                    endpoint: name.to_owned(),
                    limit,
                }));
            }
            Err(TransportError::Invalid(why)) => {
                return Err(TryFailure::Fatal(SyncError::Request {
                    endpoint: name.to_owned(),
                    why,
                }));
            }
            Err(TransportError::Failed(why)) => {
                CallTracker::bump(&self.tracker.transport_errors);
                return Err(TryFailure::Retry {
                    wait: None,
                    why,
                    maybe_applied: true,
                });
            }
        };
        if response.body.len() > MAX_RESPONSE_BYTES {
            return Err(TryFailure::Fatal(SyncError::TooLarge {
                endpoint: name.to_owned(),
                limit: MAX_RESPONSE_BYTES,
            }));
        }
        self.watch_rate_limit(name, &response.headers);
        let status = response.status;
        if status.is_success() {
            return Ok(response);
        }
        let body =
            String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned();
        if status == StatusCode::TOO_MANY_REQUESTS {
            CallTracker::bump(&self.tracker.throttled);
            let wait = retry_after(&response.headers, SystemTime::now());
            return Err(TryFailure::Retry {
                wait,
                why: format!("HTTP 429 (Retry-After {wait:?})"),
                maybe_applied: false,
            });
        }
        if status.is_client_error() {
            return Err(TryFailure::Fatal(SyncError::Rejected {
                endpoint: name.to_owned(),
                status: status.as_u16(),
                body,
            }));
        }
        if status.is_server_error() {
            CallTracker::bump(&self.tracker.server_errors);
        }
        Err(TryFailure::Retry {
            wait: None,
            why: format!("HTTP {}: {body}", status.as_u16()),
            maybe_applied: true,
        })
    }

    fn watch_rate_limit(&self, name: &str, headers: &HeaderMap) {
        let num = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(limit), Some(remaining)) =
            (num("x-ratelimit-limit"), num("x-ratelimit-remaining"))
            && limit > 0
            && (remaining as f64) < RATE_LIMIT_WARN_SHARE * limit as f64
        {
            CallTracker::bump(&self.tracker.rate_limit_warnings);
            tracing::warn!(
                endpoint = name,
                remaining,
                limit,
                "rate limit nearly used up: {remaining} of {limit} requests left"
            );
        }
    }

    /// How long to wait before try `attempt + 1` (0-based `attempt` just failed).
    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(wait) = hint {
            return wait.min(MAX_RETRY_AFTER);
        }
        let window = 2f64
            .powi(attempt.min(30) as i32)
            .min(self.policy.cap.as_secs_f64());
        let u: f64 = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0.0..1.0);
        Duration::from_secs_f64(window * u)
    }

    /// After a failed try: a fatal failure ends the call; a retryable one waits its backoff and
    /// counts the retry (neither after the last try) and leaves its reason and whether it may have
    /// been applied.
    async fn settle(
        &self,
        name: &str,
        attempt: u32,
        tries: u32,
        failure: TryFailure,
    ) -> Result<(String, bool), SyncError> {
        match failure {
            TryFailure::Fatal(e) => Err(e),
            TryFailure::Retry {
                wait,
                why,
                maybe_applied,
            } => {
                if attempt + 1 < tries {
                    let d = self.backoff(attempt, wait);
                    tracing::debug!(endpoint = name, attempt, ?d, %why, "retrying");
                    tokio::time::sleep(d).await;
                    CallTracker::bump(&self.tracker.retries);
                }
                Ok((why, maybe_applied))
            }
        }
    }

    /// `method url` with retries; the 2xx response. `recovery` says how to tell, after a try that
    /// may have been applied, that it was (so it is not applied twice).
    async fn call(
        &self,
        name: &str,
        method: Method,
        url: &str,
        form: Option<&[u8]>,
        recovery: Recovery<'_>,
    ) -> Result<Response, SyncError> {
        let mut last = String::new();
        let mut maybe_applied = false;
        let tries = self.policy.max_tries.max(1);
        for attempt in 0..tries {
            if maybe_applied && let Recovery::CreateGroup(folder) = recovery {
                // The folders of this name were deleted before: one now is the one we made.
                let groups = Box::pin(self.list_groups()).await?;
                if let Some(g) = groups.iter().find(|g| g.name == folder) {
                    let body =
                        serde_json::json!({"body": {"group": {"PK": g.pk, "group": g.name}}});
                    return Ok(Response {
                        status: StatusCode::OK,
                        headers: HeaderMap::new(),
                        body: body.to_string().into_bytes(),
                    });
                }
            }
            match self.try_once(name, &method, url, form).await {
                Ok(r) => return Ok(r),
                Err(TryFailure::Fatal(SyncError::Rejected { status: 404, .. }))
                    if maybe_applied && matches!(recovery, Recovery::DeleteGone) =>
                {
                    // The earlier try deleted it.
                    return Ok(Response {
                        status: StatusCode::OK,
                        headers: HeaderMap::new(),
                        body: b"{}".to_vec(),
                    });
                }
                Err(failure) => {
                    (last, maybe_applied) = self.settle(name, attempt, tries, failure).await?;
                }
            }
        }
        Err(SyncError::RetriesExhausted {
            endpoint: name.to_owned(),
            tries,
            last,
        })
    }

    /// GET a folder file (any URL).
    pub async fn fetch_folder(&self, url: &str) -> Result<FolderFile, SyncError> {
        let name = format!("GET {url}");
        let body = self
            .call(&name, Method::GET, url, None, Recovery::Idempotent)
            .await?
            .body;
        parse_folder(url, &body)
    }

    /// `GET /{profile}/groups`: the folders in the profile.
    pub async fn list_groups(&self) -> Result<Vec<Group>, SyncError> {
        let body = self
            .call(
                LIST_GROUPS,
                Method::GET,
                &self.url("groups"),
                None,
                Recovery::Idempotent,
            )
            .await?
            .body;
        parse_groups(&body)
    }

    /// `DELETE /{profile}/groups/{id}`.
    pub async fn delete_group(&self, pk: &str) -> Result<(), SyncError> {
        self.call(
            "DELETE /{profile}/groups/{id}",
            Method::DELETE,
            &self.url(&format!("groups/{pk}")),
            None,
            Recovery::DeleteGone,
        )
        .await
        .map(|_| ())
    }

    /// `POST /{profile}/groups` (`name`, `do`, `status`): the new folder's id.
    pub async fn create_group(
        &self,
        name: &str,
        action: i64,
        status: i64,
    ) -> Result<String, SyncError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", name)
            .append_pair("do", &action.to_string())
            .append_pair("status", &status.to_string())
            .finish();
        let body = self
            .call(
                CREATE_GROUP,
                Method::POST,
                &self.url("groups"),
                Some(form.as_bytes()),
                Recovery::CreateGroup(name),
            )
            .await?
            .body;
        parse_created_group(name, &body)
    }

    /// `GET /{profile}/rules/{folder_id}`: the hostnames in a folder.
    pub async fn list_rules(&self, folder_pk: &str) -> Result<Vec<String>, SyncError> {
        let body = self
            .call(
                LIST_RULES,
                Method::GET,
                &self.url(&format!("rules/{folder_pk}")),
                None,
                Recovery::Idempotent,
            )
            .await?
            .body;
        parse_rules(&body)
    }

    /// `POST /{profile}/rules`: one batch (at most [`super::BATCH_SIZE`] hostnames) into a folder.
    ///
    /// A try that fails without a clear "not done" (no response, or a 5xx) may have been applied,
    /// so before trying again the folder's rules are read back and the hostnames already there are
    /// dropped from the batch: nothing is pushed twice. Returns the batch's size once all of it is in.
    pub async fn push_batch(
        &self,
        folder_pk: &str,
        action: i64,
        status: i64,
        hostnames: &[String],
    ) -> Result<u64, SyncError> {
        const NAME: &str = "POST /{profile}/rules";
        let url = self.url("rules");
        let mut batch: Vec<&String> = hostnames.iter().collect();
        let mut last = String::new();
        let mut maybe_applied = false;
        let tries = self.policy.max_tries.max(1);
        for attempt in 0..tries {
            if maybe_applied {
                let present: std::collections::HashSet<String> =
                    self.list_rules(folder_pk).await?.into_iter().collect();
                batch.retain(|h| !present.contains(h.as_str()));
                if batch.is_empty() {
                    return Ok(hostnames.len() as u64);
                }
            }
            let form = {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("do", &action.to_string())
                    .append_pair("status", &status.to_string())
                    .append_pair("group", folder_pk);
                for (i, h) in batch.iter().enumerate() {
                    form.append_pair(&format!("hostnames[{i}]"), h);
                }
                form.finish()
            };
            match self
                .try_once(NAME, &Method::POST, &url, Some(form.as_bytes()))
                .await
            {
                Ok(_) => return Ok(hostnames.len() as u64),
                Err(failure) => {
                    (last, maybe_applied) = self.settle(NAME, attempt, tries, failure).await?;
                }
            }
        }
        Err(SyncError::RetriesExhausted {
            endpoint: NAME.to_owned(),
            tries,
            last,
        })
    }
}

/// A `PK` as text (Control D sends strings; numbers are accepted too).
fn pk_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The body as JSON, or [`SyncError::MalformedJson`] naming the endpoint.
pub fn parse_json(endpoint: &str, body: &[u8]) -> Result<Value, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::MalformedJson {
        endpoint: endpoint.to_owned(),
        why: e.to_string(),
    })
}

const LIST_GROUPS: &str = "GET /{profile}/groups";
const CREATE_GROUP: &str = "POST /{profile}/groups";
const LIST_RULES: &str = "GET /{profile}/rules/{folder_id}";

fn shape(endpoint: &str, why: impl Into<String>) -> SyncError {
    SyncError::Shape {
        endpoint: endpoint.to_owned(),
        why: why.into(),
    }
}

/// The array `body.{field}` of the JSON answer `body` of `endpoint`.
fn body_array(endpoint: &str, body: &[u8], field: &str) -> Result<Vec<Value>, SyncError> {
    match parse_json(endpoint, body)?
        .pointer_mut(&format!("/body/{field}"))
        .map(Value::take)
    {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(shape(endpoint, format!("no body.{field} array"))),
    }
}

/// A folder file fetched from `url`: [`FolderFile::from_json`] of the body, errors naming the URL.
pub fn parse_folder(url: &str, body: &[u8]) -> Result<FolderFile, SyncError> {
    let endpoint = format!("GET {url}");
    let v = parse_json(&endpoint, body)?;
    FolderFile::from_json(&v).map_err(|why| shape(&endpoint, why))
}

/// The answer of `GET /{profile}/groups`: `body.groups[]`, each with a `PK` and a `group` name.
pub fn parse_groups(body: &[u8]) -> Result<Vec<Group>, SyncError> {
    body_array(LIST_GROUPS, body, "groups")?
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let pk = g
                .get("PK")
                .and_then(pk_text)
                .ok_or_else(|| shape(LIST_GROUPS, format!("body.groups[{i}] has no PK")))?;
            let name = g.get("group").and_then(Value::as_str).ok_or_else(|| {
                shape(
                    LIST_GROUPS,
                    format!("body.groups[{i}] has no name (`group`)"),
                )
            })?;
            Ok(Group {
                pk,
                name: name.to_owned(),
            })
        })
        .collect()
}

/// The answer of `POST /{profile}/groups` creating `name`: the new folder's id, from
/// `body.group.PK` or the folder of that name in `body.groups`.
pub fn parse_created_group(name: &str, body: &[u8]) -> Result<String, SyncError> {
    let v = parse_json(CREATE_GROUP, body)?;
    let pk = v.pointer("/body/group/PK").and_then(pk_text).or_else(|| {
        v.pointer("/body/groups")
            .and_then(Value::as_array)
            .and_then(|gs| {
                gs.iter()
                    .rev()
                    .find(|g| g.get("group").and_then(Value::as_str) == Some(name))
            })
            .and_then(|g| g.get("PK"))
            .and_then(pk_text)
    });
    pk.ok_or_else(|| {
        shape(
            CREATE_GROUP,
            format!("no id for the new folder {name:?} in body.group.PK or body.groups"),
        )
    })
}

/// The answer of `GET /{profile}/rules/{folder_id}`: the hostnames (`body.rules[].PK`; rules
/// without a string `PK` are skipped).
pub fn parse_rules(body: &[u8]) -> Result<Vec<String>, SyncError> {
    Ok(body_array(LIST_RULES, body, "rules")?
        .iter()
        .filter_map(|r| r.get("PK").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// The wait a `Retry-After` header asks for: whole seconds, or an HTTP-date (`now` to it, zero if
/// past). `None` when absent or unreadable (then the backoff applies).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}
