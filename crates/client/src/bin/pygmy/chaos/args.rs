//! The values of `pygmy chaos`'s flags as clap parses them: the fixed sets (`--faults`,
//! `--max-down`) as `ValueEnum`s, so that `--help` lists them and a wrong one gets clap's own
//! error naming them, and the durations, intervals and project names.
//!
//! The library's `FaultKind` and `MaxDown` know nothing of clap (libraries never see it): the
//! enums here name their values on the command line and convert into them.

use std::ffi::OsStr;
use std::time::Duration;

use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::ValueEnum;
use client::chaos::{FaultKind, MaxDown};
use runtime::cluster::RestockFile;

/// Faults of a run on processes unless `--faults` says otherwise.
const DEFAULT_FAULTS: [FaultArg; 3] = [FaultArg::Kill, FaultArg::Pause, FaultArg::Frontend];

/// One fault kind of `--faults`. The order of the variants is the order of the default list
/// with `--compose` (every fault), which seeds the schedule: do not reorder them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum FaultArg {
    /// SIGKILL a replica, restart it later.
    Kill,
    /// SIGSTOP a replica, resume it later.
    Pause,
    /// SIGKILL a frontend, restart it later.
    Frontend,
    /// With --compose: cut a replica off from every other process, both ways.
    Isolate,
    /// With --compose: cut a minority of a group off from the rest of the group.
    Split,
    /// With --compose: drop a replica's requests to the rest of its group, not theirs to it.
    #[value(name = "oneway")]
    OneWay,
    /// With --compose: cut a frontend off from the catalog leader, so it cannot renew its lease.
    FrontendCut,
    /// Without --compose: replace a replica (its directory wiped) by a new one under a new id.
    Member,
}

impl From<FaultArg> for FaultKind {
    fn from(fault: FaultArg) -> FaultKind {
        match fault {
            FaultArg::Kill => FaultKind::Kill,
            FaultArg::Pause => FaultKind::Pause,
            FaultArg::Frontend => FaultKind::KillFrontend,
            FaultArg::Isolate => FaultKind::Isolate,
            FaultArg::Split => FaultKind::Split,
            FaultArg::OneWay => FaultKind::OneWay,
            FaultArg::FrontendCut => FaultKind::CutFrontend,
            FaultArg::Member => FaultKind::Member,
        }
    }
}

/// The faults of a run: those given (`None` items are empty ones, as in `--faults ""`), or the
/// default for where the run goes (every fault with `--compose`).
pub(super) fn faults_or_default(
    given: Option<&[Option<FaultKind>]>,
    compose: bool,
) -> Vec<FaultKind> {
    match given {
        Some(given) => given.iter().flatten().copied().collect(),
        // Containers cannot be added by the nemesis: every fault but `member`.
        None if compose => FaultArg::value_variants()
            .iter()
            .filter(|&&f| f != FaultArg::Member)
            .map(|&f| f.into())
            .collect(),
        None => DEFAULT_FAULTS.into_iter().map(FaultKind::from).collect(),
    }
}

/// Parses one item of the comma-separated `--faults`: a [`FaultArg`] (spaces around it
/// ignored), or nothing for an empty item, so that `--faults ""` asks for no fault at all.
#[derive(Debug, Clone, Copy)]
pub(super) struct FaultParser;

impl TypedValueParser for FaultParser {
    type Value = Option<FaultKind>;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        // Not UTF-8: clap's own parser refuses it, naming the possible values.
        let value = value.to_str().map_or(value, |text| OsStr::new(text.trim()));
        if value.is_empty() {
            return Ok(None);
        }
        let fault = EnumValueParser::<FaultArg>::new().parse_ref(cmd, arg, value)?;
        Ok(Some(fault.into()))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            FaultArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

/// `--max-down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum MaxDownArg {
    /// Fewer than half of a group: it stays available.
    Minority,
    /// Half of a group or more: it loses its quorum for a while.
    Majority,
    /// Every replica of a group (then a fault may also kill a whole group at once).
    All,
}

impl From<MaxDownArg> for MaxDown {
    fn from(max_down: MaxDownArg) -> MaxDown {
        match max_down {
            MaxDownArg::Minority => MaxDown::Minority,
            MaxDownArg::Majority => MaxDown::Majority,
            MaxDownArg::All => MaxDown::All,
        }
    }
}

/// Parses `--duration`, e.g. 60s, 10m.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    client::bench::parse_duration(text).map_err(|e| e.to_string())
}

/// Parses `--interval MIN..MAX`, with `0 < MIN <= MAX`.
pub(super) fn parse_interval(text: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = text
        .split_once("..")
        .ok_or("give the interval as MIN..MAX, e.g. 1s..6s")?;
    let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
    if lo.is_zero() || lo > hi {
        return Err(format!("the interval {text} needs 0 < MIN <= MAX"));
    }
    Ok((lo, hi))
}

/// Parses `--project`: a name Compose accepts.
pub(super) fn parse_project(text: &str) -> Result<String, String> {
    let ok = text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "{text:?} is no Compose project name: lowercase letters, digits, '-' and '_', starting with a letter or digit"
        ));
    }
    Ok(text.to_string())
}

/// `--restock EVERY_S,BELOW,TO`: the timed restock policy of the generated cluster.
pub(super) fn parse_restock(text: &str) -> Result<RestockFile, String> {
    let numbers: Vec<u64> = text
        .split(',')
        .map(|n| n.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{text:?} is not EVERY_S,BELOW,TO (three whole numbers): {e}"))?;
    let [every_s, below, to] = numbers[..] else {
        return Err(format!(
            "{text:?} is not EVERY_S,BELOW,TO (three whole numbers)"
        ));
    };
    let file = RestockFile { every_s, below, to };
    file.validate().map_err(|e| e.to_string())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restock_policies_are_three_numbers_validated_like_cluster_toml() {
        let policy = parse_restock("2, 45,55").unwrap();
        assert_eq!((policy.every_s, policy.below, policy.to), (2, 45, 55));
        assert!(parse_restock("2,45")
            .unwrap_err()
            .contains("EVERY_S,BELOW,TO"));
        assert!(parse_restock("2,x,5")
            .unwrap_err()
            .contains("three whole numbers"));
        assert!(parse_restock("2,9,5")
            .unwrap_err()
            .contains("less than below"));
    }

    #[test]
    fn intervals_are_checked_when_parsed() {
        let ms = Duration::from_millis;
        assert_eq!(parse_interval("1s..6s"), Ok((ms(1000), ms(6000))));
        assert_eq!(parse_interval("500ms..500ms"), Ok((ms(500), ms(500))));
        for bad in ["6s..1s", "0s..1s", "1s", "1s..x"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fault_items_are_trimmed_an_empty_one_is_none_and_an_unknown_one_names_every_fault() {
        let cmd = clap::Command::new("chaos");
        let parse = |text: &str| FaultParser.parse_ref(&cmd, None, OsStr::new(text));
        assert_eq!(parse(" frontend").unwrap(), Some(FaultKind::KillFrontend));
        assert_eq!(parse("oneway").unwrap(), Some(FaultKind::OneWay));
        assert_eq!(parse("frontend-cut").unwrap(), Some(FaultKind::CutFrontend));
        assert_eq!(parse("").unwrap(), None);
        let e = parse("flood").unwrap_err().to_string();
        assert!(e.contains("'flood'"), "{e}");
        for name in [
            "kill",
            "pause",
            "frontend",
            "isolate",
            "split",
            "oneway",
            "frontend-cut",
        ] {
            assert!(e.contains(name), "the error lists {name}: {e}");
        }
    }

    #[test]
    fn default_faults_are_the_process_ones_or_with_compose_every_one() {
        // The defaults the lists of names gave before they were enums, in the same order: the
        // order seeds the schedule, so CI's pinned runs replay.
        use FaultKind::*;
        assert_eq!(faults_or_default(None, false), [Kill, Pause, KillFrontend]);
        let every = [
            Kill,
            Pause,
            KillFrontend,
            Isolate,
            Split,
            OneWay,
            CutFrontend,
        ];
        assert_eq!(faults_or_default(None, true), every);
        assert_eq!(faults_or_default(Some(&[None]), true), []);
        let given = [Some(Split), None, Some(Kill)];
        assert_eq!(faults_or_default(Some(&given), false), [Split, Kill]);
    }

    /// `pygmy chaos ARGS...` as the binary parses it.
    fn chaos(args: &[&str]) -> crate::chaos::ChaosArgs {
        use clap::Parser as _;
        let argv = ["pygmy", "chaos"].iter().chain(args);
        match crate::Cli::try_parse_from(argv).unwrap().command {
            crate::Command::Chaos(chaos) => chaos,
            other => panic!("not chaos: {other:?}"),
        }
    }

    #[test]
    fn chaos_flags_parse_into_the_library_types_with_the_former_defaults_and_forms() {
        use FaultKind::*;
        let default = chaos(&[]);
        assert_eq!(default.max_down, MaxDown::Minority);
        assert_eq!(default.faults(), [Kill, Pause, KillFrontend]);
        assert_eq!(chaos(&["--max-down", "all"]).max_down, MaxDown::All);
        assert_eq!(chaos(&["--faults", ""]).faults(), []);
        let listed = chaos(&["--faults", "oneway, frontend-cut,", "--faults", "pause"]);
        assert_eq!(listed.faults(), [OneWay, CutFrontend, Pause]);
    }
}
