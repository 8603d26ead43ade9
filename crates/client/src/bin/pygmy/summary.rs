//! What `pygmy up` prints once the cluster is ready: where everything is and how to restart a
//! replica by hand. Human text or (`--json`) one JSON object, on stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::launch::{Children, Started};
use crate::output::{self, Align, Table};
use runtime::tokens;

/// The summary as JSON.
#[derive(Debug, Serialize)]
struct Summary {
    frontend_url: String,
    /// Every frontend (the first is `frontend_url`).
    frontend_urls: Vec<String>,
    data_dir: PathBuf,
    /// `tokens.toml` if the admin token is stored there; else it is set by the configuration.
    admin_token_file: Option<PathBuf>,
    leaders: Leaders,
    processes: Vec<Process>,
}

#[derive(Debug, Serialize)]
struct Leaders {
    catalog: u64,
    orders: u64,
}

/// One child process.
#[derive(Debug, Serialize)]
struct Process {
    name: String,
    addr: String,
    /// Replica directory (none for the frontend).
    data_dir: Option<PathBuf>,
    log: PathBuf,
    /// The command that starts it again by hand.
    restart: String,
}

/// Prints the summary of a started cluster.
///
/// # Errors
/// Writing to stdout failed.
pub(crate) fn print(started: &Started, children: &Children, json: bool) -> Result<()> {
    let summary = summarize(started, children);
    let out = &mut std::io::stdout().lock();
    if json {
        output::json(out, &summary)?;
        return Ok(());
    }
    let token_place = match &summary.admin_token_file {
        Some(file) => format!("in {} (`pygmy restock` reads it there)", file.display()),
        None => "set by the configuration (cluster.toml or PYGMY_ADMIN_TOKEN)".into(),
    };
    writeln!(
        out,
        "Pygmy is up: catalog leader {}, orders leader {}.\n",
        summary.leaders.catalog, summary.leaders.orders
    )?;
    writeln!(
        out,
        "frontend     {}   (try `pygmy search ds`)",
        summary.frontend_url
    )?;
    for other in summary.frontend_urls.iter().skip(1) {
        writeln!(
            out,
            "frontend     {other}   (try `pygmy --url {other} search ds`)"
        )?;
    }
    writeln!(out, "admin token  {token_place}")?;
    writeln!(out, "data         {}\n", summary.data_dir.display())?;
    let mut table = Table::new(&[
        ("PROCESS", Align::Left),
        ("ADDR", Align::Left),
        ("DIRECTORY", Align::Left),
        ("LOG", Align::Left),
    ]);
    for p in &summary.processes {
        let dir = p
            .data_dir
            .as_ref()
            .map_or("-".into(), |d| d.display().to_string());
        table.row(vec![
            p.name.clone(),
            p.addr.clone(),
            dir,
            p.log.display().to_string(),
        ]);
    }
    table.write(out)?;
    writeln!(
        out,
        "\nTo restart a replica that was killed (it finds its tokens by itself), run its command\n\
         from this directory; a replica restarted by hand is not stopped by Ctrl-C here:"
    )?;
    for p in summary.processes.iter().filter(|p| p.data_dir.is_some()) {
        writeln!(out, "  {}", p.restart)?;
    }
    out.flush()?;
    Ok(())
}

fn summarize(started: &Started, children: &Children) -> Summary {
    let cluster = &started.cluster;
    let processes = started
        .plans
        .iter()
        .map(|plan| Process {
            name: plan.name.clone(),
            addr: plan.addr.clone(),
            data_dir: plan.replica_dir.clone(),
            log: plan.log.clone(),
            restart: children.restart_command(&plan.name).unwrap_or_default(),
        })
        .collect();
    Summary {
        frontend_url: format!("http://{}", cluster.frontend_addr),
        frontend_urls: started
            .frontends
            .iter()
            .map(|addr| format!("http://{addr}"))
            .collect(),
        data_dir: cluster.data_dir.clone(),
        admin_token_file: started
            .admin_token_stored
            .then(|| tokens::path(&cluster.data_dir)),
        leaders: Leaders {
            catalog: started.leaders.0,
            orders: started.leaders.1,
        },
        processes,
    }
}
