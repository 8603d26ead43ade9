//! `order-svc --id N [--config cluster.toml] [--data DIR] [--bootstrap]`: one order replica, the
//! same flags and behaviour as `pygmy serve order`.

fn main() -> std::process::ExitCode {
    runtime::entry::main(
        "order-svc",
        "One replica of the Pygmy order group.",
        runtime::entry::Workers::One,
        order_svc::run,
    )
}
