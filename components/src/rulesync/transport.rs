//! How a request reaches the API: a [`Transport`] is one HTTP client, a [`Connector`] makes them.
//! [`ReqwestConnector`] speaks HTTP over TCP; `fixtures::controld` has an in-process one for tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// A boxed future that can cross threads (the trait objects here need one).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What came back: status, headers and the whole body (at most the caller's limit).
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request could not be sent or the response not read (connection refused, reset, timed
    /// out): the server may or may not have acted on it.
    #[error("request failed: {0}")]
    Failed(String),
    /// The body was longer than the limit; reading stopped there.
    #[error("response body longer than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request itself is invalid (a bad URL) or the client could not be built: retrying cannot
    /// help.
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// One HTTP client: sends a request, returns the response with its body read up to `max_body` bytes.
pub trait Transport: Send + Sync {
    /// Sends `request`; a body over `max_body` bytes is [`TransportError::TooLarge`].
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
    ) -> BoxFuture<'_, Result<Response, TransportError>>;
}

/// Makes HTTP clients: once per sync (a pooled client) or once per call (the original's habit).
pub trait Connector: Send + Sync {
    /// A new client with its own connections.
    fn connect(&self) -> Result<Arc<dyn Transport>, TransportError>;
}

/// Default per-request timeout of [`ReqwestConnector`] (connect, send and read).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes `reqwest` clients (HTTP/1.1; HTTPS with the `tls` feature), each with its own pool.
#[derive(Clone, Debug)]
pub struct ReqwestConnector {
    timeout: Duration,
}

impl ReqwestConnector {
    /// Clients with the given per-request timeout.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl Default for ReqwestConnector {
    fn default() -> Self {
        Self::new(DEFAULT_REQUEST_TIMEOUT)
    }
}

impl Connector for ReqwestConnector {
    fn connect(&self) -> Result<Arc<dyn Transport>, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("perfgate-rulesync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(Arc::new(ReqwestTransport { client }))
    }
}

/// One `reqwest` client (and its connection pool).
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    async fn send_inner(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
    ) -> Result<Response, TransportError> {
        if request.uri().scheme_str() == Some("https") && !cfg!(feature = "tls") {
            return Err(TransportError::Invalid(
                "HTTPS needs TLS: build components with `--features tls`".to_owned(),
            ));
        }
        let request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::Invalid(format!("{e}{}", source_text(&e))))?;
        let mut response = self.client.execute(request).await.map_err(|e| {
            let why = format!("{e}{}", source_text(&e));
            if e.is_builder() {
                TransportError::Invalid(why)
            } else {
                TransportError::Failed(why)
            }
        })?;
        if response
            .content_length()
            .is_some_and(|n| n > max_body as u64)
        {
            return Err(TransportError::TooLarge { limit: max_body });
        }
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        // Bounded: every chunk adds at least one byte until the limit stops it (empty chunks are
        // not yielded by hyper; the cap on rounds guards against one that would).
        for _ in 0..=max_body {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max_body {
                        return Err(TransportError::TooLarge { limit: max_body });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(TransportError::Failed(format!(
                        "reading the body: {e}{}",
                        source_text(&e)
                    )));
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
    ) -> BoxFuture<'_, Result<Response, TransportError>> {
        Box::pin(self.send_inner(request, max_body))
    }
}

/// `": cause"` of an error's source chain (reqwest's own message hides the reason).
fn source_text(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cause = e.source();
    // Bounded: source chains are short; 8 levels is plenty to name the cause.
    for _ in 0..8 {
        let Some(c) = cause else { break };
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
