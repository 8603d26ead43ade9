//! What fails before or around serving, in every process: configuration, binding, serving.

/// A configuration, binding or serving failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (`cluster.toml`, `PYGMY_*`, flags, `tokens.toml`) is missing or invalid.
    #[error("{0}")]
    Config(String),
    /// The process's address cannot be bound.
    #[error("cannot listen on {addr}: {source} (is another process using it?)")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serving HTTP failed.
    #[error("serving HTTP failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Result with the runtime [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
