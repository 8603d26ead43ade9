//! What `pygmy chaos` shows on stderr while its clients and nemesis run.
//!
//! On a terminal: a bar (`crate::progress`) of the time elapsed out of `--duration`, with the
//! operations so far by outcome and their rate, the faults so far and those in force; each
//! fault's line (and any nemesis error) is printed above it. Elsewhere (CI's log): the same
//! lines per fault, and one summary line every [`PLAIN_EVERY`], so a log stays short.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::ProgressBar;

use crate::chaos::workload::{Recorder, Tallies, Tally};
use crate::progress::{self, Rate};

/// How often a summary line is printed when stderr is not a terminal: a 60 s run gets six.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The progress of one run, shared by the task drawing it and the nemesis.
pub(crate) struct Progress {
    /// The bar; hidden when stderr is not a terminal (then `suspend` just runs its closure).
    bar: ProgressBar,
    /// `--duration`.
    duration: Duration,
    /// The faults so far.
    faults: Mutex<Faults>,
}

/// The faults of a run as the progress shows them.
#[derive(Debug, Default)]
struct Faults {
    /// Faults that took hold (skipped ones are not counted).
    fired: u64,
    /// Those not healed yet, by event index, with their description.
    in_force: BTreeMap<usize, String>,
}

impl Progress {
    /// The progress of a run of `duration`: a bar if stderr is a terminal, else plain lines.
    /// The bar's clock starts now.
    pub(crate) fn new(duration: Duration) -> Arc<Progress> {
        let hidden = !std::io::stderr().is_terminal();
        Arc::new(Progress {
            bar: progress::bar(hidden, progress::millis(duration)),
            duration,
            faults: Mutex::new(Faults::default()),
        })
    }

    /// Prints `line` on stderr, above the bar if there is one.
    pub(crate) fn line(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Fault `event` took hold: counts it, shows `what` (its description) as in force until
    /// [`Progress::healed`], and prints `line`.
    pub(crate) fn fired(&self, event: usize, what: String, line: &str) {
        {
            let mut faults = self.faults();
            faults.fired += 1;
            faults.in_force.insert(event, what);
        }
        self.line(line);
    }

    /// Fault `event` was healed: it is no longer in force.
    pub(crate) fn healed(&self, event: usize) {
        self.faults().in_force.remove(&event);
    }

    /// Removes the bar from the terminal, for what is printed after the run.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Shows the run's progress until aborted: redraws the bar every tick on a terminal, else
    /// prints a summary line every [`PLAIN_EVERY`].
    pub(crate) async fn show(self: Arc<Self>, recorder: Arc<Recorder>) {
        if self.bar.is_hidden() {
            self.print_summaries(&recorder).await;
        } else {
            self.redraw_bar(&recorder).await;
        }
    }

    /// Prints a summary line every [`PLAIN_EVERY`]. Loops until aborted.
    async fn print_summaries(&self, recorder: &Recorder) {
        let mut every = tokio::time::interval(PLAIN_EVERY);
        // The first tick is at once, when nothing has happened yet.
        every.tick().await;
        loop {
            every.tick().await;
            self.line(&self.summary(recorder));
        }
    }

    /// Redraws the bar every tick. Loops until aborted.
    async fn redraw_bar(&self, recorder: &Recorder) {
        let mut rate = Rate::default();
        progress::every_tick(|now| {
            let tallies = recorder.tallies();
            let per_second = rate.per_second(now, tallies.iter().sum());
            let faults = self.faults();
            let in_force = match faults.in_force.values().last() {
                None => String::new(),
                Some(last) if faults.in_force.len() == 1 => format!(" (now {last})"),
                Some(last) => format!(" (now {last} and {} more)", faults.in_force.len() - 1),
            };
            self.bar.set_position(recorder.now_ns() / 1_000_000);
            // Faults before the outcomes: on a narrow terminal the end of the line is cut.
            self.bar.set_message(format!(
                "of {:.0}s, {} faults{in_force}; {} operations, {per_second:.0}/s {}",
                self.duration.as_secs_f64(),
                faults.fired,
                tallies.iter().sum::<u64>(),
                by_outcome(&tallies)
            ));
        })
        .await;
    }

    /// One summary line: time elapsed, operations by outcome, faults.
    fn summary(&self, recorder: &Recorder) -> String {
        let elapsed = recorder.now_ns() as f64 / 1e9;
        let faults = self.faults();
        let tallies = recorder.tallies();
        format!(
            "pygmy chaos: {elapsed:>5.0}s of {:.0}s, {} operations {}, {} faults ({} in force)",
            self.duration.as_secs_f64(),
            tallies.iter().sum::<u64>(),
            by_outcome(&tallies),
            faults.fired,
            faults.in_force.len()
        )
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        // The counts stay meaningful if a holder panicked: nothing is left half-updated.
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `(A ok, B refused/missing, C failed, D unknown)`, named as the report's columns.
fn by_outcome(tallies: &Tallies) -> String {
    let count = |tally: Tally| tallies[tally as usize];
    format!(
        "({} ok, {} refused/missing, {} failed, {} unknown)",
        count(Tally::Ok),
        count(Tally::RefusedOrMissing),
        count(Tally::Failed),
        count(Tally::Unknown)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_named_as_the_report_columns() {
        assert_eq!(
            by_outcome(&[7, 2, 1, 3]),
            "(7 ok, 2 refused/missing, 1 failed, 3 unknown)"
        );
    }

    #[tokio::test]
    async fn faults_count_once_fired_and_stay_in_force_until_healed() {
        // Goal: the summary counts fired faults and shows how many are still in force.
        // Method: fire two, heal one, read the plain summary line.
        let progress = Progress::new(Duration::from_secs(60));
        let recorder = Recorder::new(tokio::time::Instant::now());
        progress.fired(0, "kill catalog-1 (leader)".into(), "fault 0");
        progress.fired(1, "pause orders-2 (follower)".into(), "fault 1");
        progress.healed(0);
        let line = progress.summary(&recorder);
        assert!(
            line.starts_with("pygmy chaos:     0s of 60s, 0 operations (0 ok"),
            "{line}"
        );
        assert!(line.ends_with(", 2 faults (1 in force)"), "{line}");
        assert_eq!(
            progress.faults().in_force.values().collect::<Vec<_>>(),
            ["pause orders-2 (follower)"]
        );
    }
}
