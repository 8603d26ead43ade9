//! Sending one request and reading its answer: where reqwest's errors become [`Error`]s.

use std::time::Duration;

use api::{ApiError, ErrorBody};
use reqwest::header::{HeaderName, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::error::{code_for_status, Error, Result};

/// Largest answer body read, in bytes (16 MiB); a larger one is a [`Error::Decode`]. The
/// biggest legitimate answer, the whole catalog or `/cluster`, is a few KiB.
pub const ANSWER_BYTES_MAX: usize = 16 << 20;

/// Error bodies quoted in messages are cut to this many characters.
const QUOTE_CHARS_MAX: usize = 200;

/// An answer read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    /// Every `Server-Timing` header value, in order (used by `pygmy bench`).
    pub(crate) server_timing: Vec<String>,
    pub(crate) body: Vec<u8>,
}

/// The `Server-Timing` header (not among `http`'s constants).
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Sends `request` (already carrying the client's timeout) and reads the whole answer.
///
/// # Errors
/// [`Error::Transport`] or [`Error::Timeout`]; [`Error::Decode`] for an oversized body. Any
/// status is an `Ok` answer here: [`Answer::json`] and [`Answer::empty`] judge it.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
    timeout: Duration,
) -> Result<Answer> {
    let fail = |e| classify(e, url, timeout);
    let mut response = request.send().await.map_err(fail)?;
    let header = |name| {
        let value = response.headers().get(name)?;
        value.to_str().ok().map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE);
    let retry_after = header(RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let server_timing = response
        .headers()
        .get_all(SERVER_TIMING)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > ANSWER_BYTES_MAX {
            return Err(Error::Decode {
                url: url.into(),
                status,
                reason: format!("the answer is larger than {ANSWER_BYTES_MAX} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        url: url.into(),
        status,
        content_type,
        retry_after,
        server_timing,
        body,
    })
}

/// Turns a reqwest failure into [`Error::Transport`] or [`Error::Timeout`].
///
/// A connect failure (connect timeout included) is a transport error: nothing was sent.
fn classify(error: reqwest::Error, url: &str, timeout: Duration) -> Error {
    if error.is_timeout() && !error.is_connect() {
        return Error::Timeout {
            url: url.into(),
            timeout,
        };
    }
    Error::Transport {
        url: url.into(),
        source: error.without_url(),
    }
}

impl Answer {
    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body of a 2xx answer as `T`.
    ///
    /// # Errors
    /// [`Error::Api`] for any other status, [`Error::Decode`] if the body is not a `T`.
    pub(crate) fn json<T: DeserializeOwned>(self) -> Result<T> {
        if !self.is_success() {
            return Err(self.into_error());
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            url: self.url,
            status: self.status,
            reason: e.to_string(),
        })
    }

    /// `Ok` for a 2xx answer, whatever its body.
    ///
    /// # Errors
    /// [`Error::Api`] for any other status.
    pub(crate) fn empty(self) -> Result<()> {
        if self.is_success() {
            return Ok(());
        }
        Err(self.into_error())
    }

    /// The body as text, invalid UTF-8 replaced.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The [`Error::Api`] of a non-2xx answer. A body that is not Pygmy's JSON error body gets
    /// a code from its status and a message quoting it.
    fn into_error(self) -> Error {
        let error = match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(body) => ApiError::from(body),
            Err(_) => {
                let text = self.text();
                let quoted: String = text.trim().chars().take(QUOTE_CHARS_MAX).collect();
                let message = if quoted.is_empty() {
                    format!("{} answered {} with no error body", self.url, self.status)
                } else {
                    format!("{} answered {}: {quoted}", self.url, self.status)
                };
                ApiError::new(code_for_status(self.status), message)
            }
        };
        Error::Api {
            status: self.status,
            error,
            retry_after: self.retry_after,
        }
    }
}

/// Checks a base URL and returns it without a trailing `/`; `host:port` alone means `http://`.
///
/// # Errors
/// [`Error::InvalidUrl`] unless it is an `http://` URL with a host and no query or fragment.
pub(crate) fn check_base_url(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let full = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let invalid = |reason: String| Error::InvalidUrl {
        url: raw.into(),
        reason,
    };
    let url = reqwest::Url::parse(&full).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "http" {
        return Err(invalid(format!(
            "scheme {:?}: only http:// is supported",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment".into()));
    }
    Ok(full.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        let ok = |raw: &str| check_base_url(raw).unwrap();
        assert_eq!(ok("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(ok("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://h:1/prefix"), "http://h:1/prefix");
        for bad in ["https://h:1", "http://", "http://h:1/?a=b", "ftp://h", "::"] {
            let e = check_base_url(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidUrl { .. }), "{bad}: {e}");
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            url: "http://h/x".into(),
            status,
            content_type: None,
            retry_after: Some(Duration::from_secs(1)),
            server_timing: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_bodies_are_decoded_or_quoted() {
        let body = r#"{"error": {"code": "no_leader", "message": "catalog has no leader"}}"#;
        match answer(503, body).json::<u64>().unwrap_err() {
            Error::Api {
                status,
                error,
                retry_after,
            } => {
                assert_eq!((status, error.code), (503, api::ErrorCode::NoLeader));
                assert_eq!(error.message, "catalog has no leader");
                assert_eq!(retry_after, Some(Duration::from_secs(1)));
            }
            other => panic!("{other:?}"),
        }
        let e = answer(502, "Bad Gateway\n").empty().unwrap_err();
        assert_eq!(e.code(), Some(api::ErrorCode::Internal));
        assert!(e.to_string().contains("answered 502: Bad Gateway"), "{e}");
        let e = answer(200, "not json").json::<u64>().unwrap_err();
        assert!(matches!(e, Error::Decode { status: 200, .. }), "{e:?}");
    }
}
