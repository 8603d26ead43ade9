//! Tokens as configured: long enough and printable, or empty for `pygmy up` to fill.

use super::ClusterFile;
use crate::error::{Error, Result};

/// Fewest characters of a configured token: shorter ones are guessable (`pygmy up` generates 32).
pub const TOKEN_CHARS_MIN: usize = 16;

/// Why `token` cannot be used, if it cannot: a token is empty (filled later by `pygmy up`) or
/// at least [`TOKEN_CHARS_MIN`] printable ASCII characters without spaces. A newline or a
/// non-ASCII character would otherwise be accepted here and only fail later, as peers that never
/// authenticate each other and a group that never elects a leader.
///
/// # Errors
/// What is wrong with it, and what to use instead.
pub fn check_token(token: &str) -> std::result::Result<(), String> {
    let advice = format!(
        "use at least {TOKEN_CHARS_MIN} printable ASCII characters without spaces (e.g. \
         `openssl rand -hex 16`), or leave it empty for `pygmy up` to generate one"
    );
    if token.is_empty() {
        return Ok(());
    }
    if let Some(bad) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "contains {bad:?}, which is not a printable ASCII character; {advice}"
        ));
    }
    if token.len() < TOKEN_CHARS_MIN {
        return Err(format!(
            "is {} characters long, too short to be secret; {advice}",
            token.len()
        ));
    }
    Ok(())
}

/// Checks both tokens of `file`; `origin(key)` says where the value was set.
pub(super) fn check_tokens(file: &ClusterFile, origin: impl Fn(&str) -> String) -> Result<()> {
    for (key, token) in [
        ("cluster_token", &file.cluster_token),
        ("admin_token", &file.admin_token),
    ] {
        if let Err(why) = check_token(token) {
            return Err(Error::Config(format!("{key} {} {why}", origin(key))));
        }
    }
    Ok(())
}
