//! `pygmy completions SHELL`: the shell's completion script for `pygmy`, on stdout, generated
//! from the same clap tree that parses the arguments, so it cannot drift from them.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

/// `pygmy completions SHELL`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script of `args.shell` on stdout.
///
/// # Errors
/// Writing to stdout failed.
pub(crate) fn run(args: CompletionsArgs) -> Result<()> {
    let script = script(args.shell);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("cannot write the completion script to stdout")
}

/// The completion script of `shell`. Generated into memory: clap_complete panics when its
/// writer fails, and stdout may be a closed pipe.
fn script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "pygmy", &mut script);
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand path of `command` below it, e.g. `["serve", "catalog"]`.
    fn subcommand_paths(command: &clap::Command) -> Vec<Vec<String>> {
        let mut paths = Vec::new();
        for sub in command.get_subcommands() {
            let name = sub.get_name().to_string();
            paths.push(vec![name.clone()]);
            for mut below in subcommand_paths(sub) {
                below.insert(0, name.clone());
                paths.push(below);
            }
        }
        paths
    }

    #[test]
    fn every_script_names_every_subcommand_of_the_parser() {
        // Goal: a subcommand added to the parser is completed in every shell. Method: walk
        // clap's own tree (no hand list) and look for each name in each generated script.
        let paths = subcommand_paths(&crate::Cli::command());
        assert!(paths.iter().any(|p| p == &["serve", "catalog"]));
        assert!(paths.iter().any(|p| p == &["completions"]));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(script(shell)).unwrap();
            for path in &paths {
                let name = path.last().unwrap();
                let named = script
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .any(|word| word == name);
                assert!(named, "the {shell} script lacks {path:?}");
            }
        }
    }

    #[test]
    fn bash_script_has_a_case_per_subcommand_path_and_parses() {
        // Goal: the bash script completes below each subcommand, and bash accepts it. Method:
        // clap_complete's bash script sets `cmd="pygmy__subcmd__a__subcmd__b"` per subcommand
        // path (the separator aside, compare the words); then `bash -n` parses the script
        // without running it.
        let script = String::from_utf8(script(Shell::Bash)).unwrap();
        let cases: Vec<Vec<&str>> = script
            .lines()
            .filter_map(|line| line.trim().strip_prefix("cmd=\""))
            .map(|value| {
                let value = value.trim_end_matches('"');
                value.split("__").filter(|w| *w != "subcmd").collect()
            })
            .collect();
        for path in subcommand_paths(&crate::Cli::command()) {
            let words: Vec<&str> = std::iter::once("pygmy")
                .chain(path.iter().flat_map(|name| name.split('-')))
                .collect();
            assert!(
                cases.contains(&words),
                "no case for {path:?} in the bash script"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pygmy.bash");
        std::fs::write(&file, &script).unwrap();
        let checked = std::process::Command::new("bash")
            .arg("-n")
            .arg(&file)
            .output()
            .expect("bash runs");
        assert!(
            checked.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}
