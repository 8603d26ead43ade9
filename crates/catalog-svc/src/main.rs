//! `catalog-svc --id N [--config cluster.toml] [--data DIR] [--bootstrap]`: one catalog replica, the
//! same flags and behaviour as `pygmy serve catalog`.

fn main() -> std::process::ExitCode {
    runtime::entry::main(
        "catalog-svc",
        "One replica of the Pygmy catalog group.",
        runtime::entry::Workers::One,
        catalog_svc::run,
    )
}
