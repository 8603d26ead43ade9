//! `POST /internal/cache/notice`: the catalog leader's write notices (cluster token).

use std::sync::Arc;

use api::coherence::{CacheNotice, NoticeAck};
use api::{ApiError, ApiJson};
use axum::extract::State;

use crate::cache::ReadCache;

/// Applies the notice before answering: a `Begin` is in force once the leader has our answer.
pub(crate) async fn notice(
    State(cache): State<Arc<ReadCache>>,
    ApiJson(notice): ApiJson<CacheNotice>,
) -> Result<ApiJson<NoticeAck>, ApiError> {
    let term = cache.apply_notice(&notice).await;
    Ok(ApiJson(NoticeAck { term }))
}
