//! How each answer of the public API goes into the history, in two steps: what the answer says
//! about a write ([`Answer`]: applied, refused, not applied, or may have applied), then what that
//! makes of each kind of operation (an [`Outcome`]: ok, refused, failed or unknown). Pure, so
//! that every class is tested without a server; the clients in `workload` send and record.
//!
//! The rule throughout: an operation is failed only when nothing was applied for sure; anything
//! that may have applied is unknown, and the checker lets it take effect at any time or never.
//! A read has no effect, so a read that got no value is failed whatever happened.

use api::{Book, BookList, ErrorBody, ErrorCode, Order, WriteOutcome};
use check::Outcome;
use reqwest::StatusCode;

/// A request's answer, sorted by what it means for the history.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A success status with a JSON body.
    Ok(serde_json::Value),
    /// A definitive refusal with its code: nothing was applied.
    Refused(ErrorCode),
    /// Nothing was applied (not delivered, or no leader took it).
    NotApplied(String),
    /// It may or may not have been applied.
    Unknown(String),
}

impl Answer {
    /// Sorts a complete answer by whether its write may have applied
    /// ([`ErrorCode::write_outcome`]); an error status without a Pygmy body (a proxy's page, or
    /// a code newer than this client) may hide anything.
    pub(crate) fn of_response(status: StatusCode, body: &[u8]) -> Answer {
        if status.is_success() {
            return match serde_json::from_slice(body) {
                Ok(v) => Answer::Ok(v),
                Err(e) => Answer::Unknown(format!("undecodable answer: {e}")),
            };
        }
        let Ok(b) = serde_json::from_slice::<ErrorBody>(body) else {
            return Answer::Unknown(format!("status {status} without an error body"));
        };
        match b.error.code.write_outcome() {
            WriteOutcome::Refused => Answer::Refused(b.error.code),
            WriteOutcome::NotApplied => Answer::NotApplied(b.error.message),
            WriteOutcome::Unknown => Answer::Unknown(b.error.message),
        }
    }

    /// Sorts a request that got no complete answer: a connection that could not be made never
    /// carried the request (nothing applied); any other failure (a timeout, a connection lost
    /// once the request was sent, a body cut short) may have come after the server applied it.
    pub(crate) fn of_transport_error(error: &reqwest::Error) -> Answer {
        if error.is_connect() {
            Answer::NotApplied(error.to_string())
        } else {
            Answer::Unknown(error.to_string())
        }
    }
}

/// A stock read (`GET /books/{id}`): the stock it saw, or a failure.
pub(crate) fn lookup(answer: Answer) -> Outcome {
    match answer {
        Answer::Ok(v) => match serde_json::from_value::<Book>(v) {
            Ok(book) => Outcome::ReadStock { stock: book.stock },
            Err(e) => Outcome::Failed {
                code: format!("bad book: {e}"),
            },
        },
        other => read_failure(other),
    }
}

/// The books a search (`GET /books?topic=T`) saw, each a read of its stock; none when it got
/// no list (a search that saw nothing is not recorded).
pub(crate) fn search(answer: Answer) -> Vec<Book> {
    match answer {
        Answer::Ok(v) => serde_json::from_value::<BookList>(v)
            .map(|l| l.books)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A restock (`POST /admin/books/{id}`). It has no key, so it is sent once: an answer that
/// leaves it open stays unknown.
pub(crate) fn restock(answer: Answer) -> Outcome {
    match answer {
        Answer::Ok(v) => match serde_json::from_value::<Book>(v) {
            Ok(book) => Outcome::Restocked {
                stock_after: book.stock,
            },
            Err(e) => Outcome::Unknown {
                reason: format!("bad book: {e}"),
            },
        },
        Answer::Refused(code) => Outcome::Failed {
            code: client::code_name(code),
        },
        Answer::NotApplied(reason) => Outcome::Failed { code: reason },
        Answer::Unknown(reason) => Outcome::Unknown { reason },
    }
}

/// An order read (`GET /orders/{number}`): the order, its absence, or a failure.
pub(crate) fn read_order(answer: Answer) -> Outcome {
    match answer {
        Answer::Ok(v) => match serde_json::from_value::<Order>(v) {
            Ok(order) => Outcome::OrderSeen { order },
            Err(e) => Outcome::Failed {
                code: format!("bad order: {e}"),
            },
        },
        Answer::Refused(ErrorCode::NotFound) => Outcome::OrderMissing,
        other => read_failure(other),
    }
}

/// A read that got no value: it had no effect, whatever happened.
fn read_failure(answer: Answer) -> Outcome {
    let code = match answer {
        Answer::Ok(_) => "unexpected".to_string(),
        Answer::Refused(code) => client::code_name(code),
        Answer::NotApplied(reason) | Answer::Unknown(reason) => reason,
    };
    Outcome::Failed { code }
}

/// The attempts of one buy (`POST /orders`), resent with the same idempotency key while its
/// outcome is unknown: the key makes a resend safe, and its answer is the first attempt's too.
#[derive(Debug, Default)]
pub(crate) struct BuyAttempts {
    /// Why the latest attempt left the outcome open, once one did.
    unknown: Option<String>,
}

impl BuyAttempts {
    /// Takes one attempt's answer: the buy's outcome once it is decided, `None` to send it again.
    pub(crate) fn answer(&mut self, answer: Answer) -> Option<Outcome> {
        match answer {
            Answer::Ok(v) => Some(match serde_json::from_value::<Order>(v) {
                Ok(order) => Outcome::Bought { order },
                Err(e) => Outcome::Unknown {
                    reason: format!("bad order: {e}"),
                },
            }),
            Answer::Refused(ErrorCode::OutOfStock) => Some(Outcome::Refused),
            Answer::Refused(code) => Some(Outcome::Failed {
                code: client::code_name(code),
            }),
            // An earlier attempt may have applied: this one not applying proves nothing.
            Answer::NotApplied(reason) | Answer::Unknown(reason) if self.unknown.is_some() => {
                self.unknown = Some(reason);
                None
            }
            Answer::NotApplied(reason) => Some(Outcome::Failed { code: reason }),
            Answer::Unknown(reason) => {
                self.unknown = Some(reason);
                None
            }
        }
    }

    /// The outcome once no attempt is left: unknown, as the last open attempt left it.
    pub(crate) fn exhausted(self) -> Outcome {
        Outcome::Unknown {
            reason: self.unknown.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
