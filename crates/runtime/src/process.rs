//! What every server process shares: logging, the panic hook, the shutdown signal.

use std::cell::Cell;
use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// The environment variable `pygmy up` sets to its own pid in its children: a child whose
/// parent is no longer that process shuts down, so none outlives a killed `pygmy up`.
pub const ENV_PARENT_PID: &str = "PYGMY_PARENT_PID";

thread_local! {
    // Set inside `catch_panic`: the process panic hook then lets the panic unwind to it.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

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
/// The one exception is a panic inside [`catch_panic`] (sled opening a damaged directory), which
/// is turned into an error there.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if CATCHING.with(Cell::get) {
            return;
        }
        tracing::error!(panic = %info, "panicked; aborting");
        eprintln!("panicked: {info}");
        std::process::abort();
    }));
}

/// Runs `f`, turning a panic inside it into `Err(message)` (`None` if the panic carried no
/// text), with the process panic hook silent: for libraries that panic rather than fail on bad
/// input they read, whose panic must become a clear error, not a dead process.
///
/// # Errors
/// `f` panicked.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, Option<String>> {
    let outer = CATCHING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(outer));
    result.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
    })
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

/// Resolves on Ctrl-C or SIGTERM, or once the process `parent` (if any) has exited: what stops a
/// server process.
///
/// # Cancel safety
/// Cancel safe: it only waits for signals and polls.
pub async fn stop_signal(parent: Option<u32>) {
    let parent_gone = async move {
        match parent {
            Some(pid) => parent_exited(pid).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown_signal() => {}
        () = parent_gone => {}
    }
}

/// [`ENV_PARENT_PID`], if set.
///
/// # Errors
/// It is set but is not a process id.
pub fn parent_pid() -> crate::Result<Option<u32>> {
    let Ok(raw) = std::env::var(ENV_PARENT_PID) else {
        return Ok(None);
    };
    raw.trim().parse::<u32>().map(Some).map_err(|_| {
        crate::Error::Config(format!(
            "{ENV_PARENT_PID} must be a process id (set by `pygmy up`), got {raw:?}"
        ))
    })
}
