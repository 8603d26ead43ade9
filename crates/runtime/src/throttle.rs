//! Rate limits for repeated log lines: under a flood (shed requests, refused connections, peers
//! refusing a misconfigured replica) one line per interval of each kind, carrying how many were
//! held back, instead of one per event (issue #11 item 8: 180k "shed one" warnings filled 30 MB
//! of log in 15 s).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Shortest gap between two lines of one kind by default, in ms.
pub const LOG_INTERVAL_MS: u64 = 1_000;

/// Lets one line of a kind through per interval and counts the others.
///
/// Lock-free (atomics only), so a flood of callers does not queue on it; usable in a `static`.
#[derive(Debug)]
pub struct LogThrottle {
    /// Shortest gap between two lines, in ms.
    interval_ms: u64,
    /// When the last line went out, in ms since [`process_start`] plus one; 0: never.
    last_ms: AtomicU64,
    /// Lines held back since the last one that went out.
    held_back: AtomicU64,
}

impl LogThrottle {
    /// A throttle of one line per [`LOG_INTERVAL_MS`] that lets its first line through.
    pub const fn new() -> Self {
        Self::every_ms(LOG_INTERVAL_MS)
    }

    /// A throttle of one line per `interval_ms` that lets its first line through.
    pub const fn every_ms(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            last_ms: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` if a line may go out now; else `None`, and
    /// this line is counted as held back.
    pub fn admit(&self) -> Option<u64> {
        let elapsed = process_start().elapsed().as_millis();
        let now_ms = u64::try_from(elapsed).unwrap_or(u64::MAX - 1) + 1;
        let last_ms = self.last_ms.load(Ordering::Relaxed);
        let due = last_ms == 0 || now_ms.saturating_sub(last_ms) >= self.interval_ms;
        // Of racing callers, only the one whose exchange succeeds writes the line.
        if due
            && self
                .last_ms
                .compare_exchange(last_ms, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::Relaxed));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for LogThrottle {
    fn default() -> Self {
        Self::new()
    }
}

/// The instant throttles measure from, fixed on first use.
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_one_line_and_the_next_line_counts_the_rest() {
        // Goal: of 10,000 calls in a burst, the first is admitted and the others held back;
        // once the interval has passed, the next admitted line reports all of them.
        let throttle = LogThrottle::new();
        assert_eq!(throttle.admit(), Some(0));
        let started = Instant::now();
        let (mut admitted, mut reported) = (0, 0);
        for _ in 0..10_000 {
            if let Some(n) = throttle.admit() {
                admitted += 1;
                reported += n;
            }
        }
        let seconds = started.elapsed().as_secs();
        assert!(admitted <= seconds + 1, "{admitted} lines in {seconds} s");
        // Poll (no fixed sleep) until the interval has passed; each refused poll is held back.
        let mut polls = 0;
        let last = loop {
            if let Some(n) = throttle.admit() {
                break n;
            }
            polls += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        // Every call was either written or reported by a later line: none is lost.
        assert_eq!(reported + last + admitted, 10_000 + polls);
    }
}
