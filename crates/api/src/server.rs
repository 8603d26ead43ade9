//! Axum glue: `ApiError` as a response, and `ApiJson`, a JSON extractor whose rejections are `ApiError`s.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{ApiError, ErrorCode, Readiness};

/// Seconds a client is told to wait (`Retry-After`) on 429 and 503 answers.
pub const RETRY_AFTER_SECS: u64 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status())
            .expect("every error code maps to a valid status");
        let mut response = (status, axum::Json(self.body())).into_response();
        if self.code.is_retryable() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(code, rejection.body_text())
    }
}

/// `axum::Json`, but a malformed body is answered with the JSON error body, not plain text,
/// and only a JSON object is a body: serde's derived structs also take an array of their
/// fields (`[1, 1]` for `{"item": 1, "quantity": 1}`), a spelling no client means.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

/// `T`, deserialized from a map (a JSON object) only.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(ObjectOnly(value)) =
            axum::Json::<ObjectOnly<T>>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Fallback handler: 404 JSON for a route that does not exist.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Fallback handler: 405 JSON for a known route asked with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        let status = if self.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, axum::Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coherence::{CacheNotice, WriteId, WriteNotice};
    use crate::{NewOrder, UpdateBook};

    #[test]
    fn only_an_object_is_a_body() {
        // Goal: issue #11 item 12: `[1,1]` was taken as an order; objects still parse, every
        // other JSON value is refused.
        let order: ObjectOnly<NewOrder> = serde_json::from_str(r#"{"item": 1}"#).unwrap();
        assert_eq!((order.0.item, order.0.quantity), (1, 1));
        for body in ["[1,1]", "[1]", "1", "\"x\"", "null", "true"] {
            let error = serde_json::from_str::<ObjectOnly<NewOrder>>(body).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains("a JSON object")),
                "{body}"
            );
        }
        let unknown = serde_json::from_str::<ObjectOnly<NewOrder>>(r#"{"item": 1, "x": 2}"#);
        assert!(unknown.is_err(), "unknown fields are still refused");
        let update: ObjectOnly<UpdateBook> = serde_json::from_str(r#"{"cost": 5}"#).unwrap();
        assert_eq!(update.0.cost, Some(5));
        // An internally tagged enum (a cache notice) still parses from its object.
        let notice = CacheNotice::Begin(WriteNotice {
            write: WriteId { term: 1, seq: 2 },
            slots: Vec::new(),
        });
        let text = serde_json::to_string(&notice).unwrap();
        let back: ObjectOnly<CacheNotice> = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back.0).unwrap(), text);
    }
}
