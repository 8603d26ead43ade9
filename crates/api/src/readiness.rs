//! `GET /ready`: whether a process can serve now, and if not, why (for orchestrators and `up`).

use serde::{Deserialize, Serialize};

/// Body of `/ready`: 200 when `ready`, 503 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Whether the process can serve now.
    pub ready: bool,
    /// The process: `frontend`, `catalog-2`, `orders-1`, ...
    pub service: String,
    /// What keeps it from serving (empty when ready).
    pub reasons: Vec<String>,
}

impl Readiness {
    /// Ready unless some reason is given.
    pub fn of(service: impl Into<String>, reasons: Vec<String>) -> Self {
        Self {
            ready: reasons.is_empty(),
            service: service.into(),
            reasons,
        }
    }
}
