//! `frontend-svc [--addr HOST:PORT] [--no-cache] [--config cluster.toml] [--data DIR]`: the
//! public HTTP API of the store, the same flags and behaviour as `pygmy serve frontend`.

fn main() -> std::process::ExitCode {
    runtime::entry::main(
        "frontend-svc",
        "The Pygmy frontend: routes the public API to the catalog and order groups.",
        runtime::entry::Workers::PerCore,
        frontend_svc::run,
    )
}
