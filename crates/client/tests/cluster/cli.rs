//! Argument errors and an absent cluster: exit code 2 and a message saying what to do; the
//! values of fixed sets in help and errors; shell completions.

use crate::{code_and_stderr, pygmy};

#[tokio::test]
async fn bad_arguments_exit_2_and_say_what_is_wrong() {
    // Goal: every malformed command line is refused before anything is sent, with exit code 2
    // and a message naming the bad value. Method: run pygmy with each and read stderr.
    let cases: &[(&[&str], &str)] = &[
        (&["lookup", "abc"], "invalid value 'abc'"),
        (&["lookup", "0"], "invalid value '0'"),
        (&["buy", "3", "--quantity", "0"], "0 is not in 1..=1000"),
        (
            &["buy", "3", "--quantity", "1001"],
            "1001 is not in 1..=1000",
        ),
        (&["buy", "3", "--key", "a b"], "visible ASCII"),
        (&["order", "-1"], "unexpected argument '-1'"),
        (
            &["restock", "2", "0", "--admin-token", "t"],
            "nothing to change",
        ),
        (&["serve", "catalog"], "--id <ID>"),
        (
            &["serve", "nonsense", "--id", "1"],
            "unrecognized subcommand",
        ),
        (&["--url", "ftp://h", "search"], "only http:// is supported"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
    ];
    for (args, expected) in cases {
        let (code, stderr) = code_and_stderr(&pygmy(args).await);
        assert_eq!(code, Some(2), "pygmy {args:?}: {stderr}");
        assert!(stderr.contains(expected), "pygmy {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "pygmy {args:?}: {stderr}");
    }
    let help = pygmy(&["--help"]).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: pygmy"));
}

#[tokio::test]
async fn commands_without_a_cluster_exit_2_with_a_hint() {
    // Goal: when nothing listens at --url, the user is told to start the cluster, and a buy
    // that could not connect is not reported as possibly applied.
    let url = format!("http://127.0.0.1:{}", test_support::free_port());
    for args in [
        vec!["search", "ds"],
        vec!["buy", "1"],
        vec!["cluster", "--json"],
    ] {
        let mut args = args;
        args.extend(["--url", url.as_str()]);
        let output = pygmy(&args).await;
        let (code, stderr) = code_and_stderr(&output);
        assert_eq!(code, Some(2), "pygmy {args:?}: {stderr}");
        assert!(stderr.starts_with("pygmy: "), "{stderr}");
        assert!(stderr.contains("Connection refused"), "{stderr}");
        assert!(stderr.contains("start it with `pygmy up`"), "{stderr}");
        assert!(!stderr.contains("may or may not"), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing on stdout: {output:?}");
    }
}

#[tokio::test]
async fn fixed_sets_of_values_are_listed_in_help_and_a_wrong_one_is_refused_with_them() {
    // Goal: `--help` shows the fault kinds and `--max-down` values, and a value outside the
    // set exits 2 with clap's message naming the allowed ones. Method: run pygmy and read
    // stdout (help) and stderr (errors).
    let faults = [
        "kill",
        "pause",
        "frontend",
        "isolate",
        "split",
        "oneway",
        "frontend-cut",
    ];
    let help = pygmy(&["chaos", "--help"]).await;
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for value in faults.iter().chain(&["minority", "majority", "all"]) {
        assert!(help.contains(&format!("- {value}:")), "{value} in: {help}");
    }
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["chaos", "--faults", "kill,flood"], "'flood'", &faults),
        (
            &["chaos", "--max-down", "most"],
            "'most'",
            &["minority", "majority", "all"],
        ),
        (
            &["bench", "--op", "delete"],
            "'delete'",
            &["lookup", "search", "buy", "mix"],
        ),
        (&["completions", "tcsh"], "'tcsh'", &["bash", "zsh", "fish"]),
    ];
    for (args, bad, allowed) in cases {
        let (code, stderr) = code_and_stderr(&pygmy(args).await);
        assert_eq!(code, Some(2), "pygmy {args:?}: {stderr}");
        assert!(stderr.contains(&format!("invalid value {bad}")), "{stderr}");
        let listed = stderr
            .lines()
            .find(|l| l.contains("[possible values: "))
            .unwrap_or_else(|| panic!("pygmy {args:?} lists no values: {stderr}"));
        for value in *allowed {
            assert!(listed.contains(value), "{value} in {listed}");
        }
    }
}

#[tokio::test]
async fn completions_print_a_script_for_each_shell_on_stdout() {
    // Goal: `pygmy completions SHELL` succeeds and writes the script itself to stdout (so
    // `pygmy completions bash > file` works), nothing to stderr. Method: run it per shell.
    for (shell, marker) in [
        ("bash", "complete -F _pygmy"),
        ("zsh", "#compdef pygmy"),
        ("fish", "complete -c pygmy"),
    ] {
        let output = pygmy(&["completions", shell]).await;
        let (code, stderr) = code_and_stderr(&output);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(stderr.is_empty(), "{shell}: {stderr}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
    }
}
