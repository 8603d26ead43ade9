//! What every server process shares: logging, the panic hook, the shutdown signal.

use std::io::IsTerminal;
use std::sync::Once;

/// Sets up `tracing` to stderr, filtered by `RUST_LOG` (default: info, openraft warnings only).
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init();
    });
}

/// Makes every file and directory this process creates from now on private to its user (umask
/// 0o077: files 0600, directories 0700): replica directories hold customer orders, and sled
/// creates its own files with the default modes. Call it first thing in server binaries.
pub fn restrict_file_modes() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Logs a panic through tracing and aborts the process: a replica with a dead task is worse than
/// a dead replica, which its group tolerates and a supervisor restarts.
///
/// The one exception is sled inside [`crate::db::guard_sled`] (opening a replica, reading a copy
/// for inspection), whose panic on a damaged directory is turned into an error there.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if crate::db::in_sled_guard() {
            return;
        }
        tracing::error!(panic = %info, "panicked; aborting");
        eprintln!("panicked: {info}");
        std::process::abort();
    }));
}

/// Resolves on Ctrl-C or SIGTERM.
///
/// # Cancel safety
/// Cancel safe: it only waits for signals.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Resolves once this process's parent is no longer `parent_pid` (it died and the process was
/// re-parented): children of `pygmy up` use it so that none is left behind when `up` is killed.
///
/// # Cancel safety
/// Cancel safe: it only polls.
pub async fn parent_exited(parent_pid: u32) {
    // Polling is the portable way; Linux's PR_SET_PDEATHSIG would need unsafe code.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        if std::os::unix::process::parent_id() != parent_pid {
            tracing::warn!(parent_pid, "parent process is gone; shutting down");
            return;
        }
    }
}
