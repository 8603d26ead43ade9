//! The public API from a terminal: `search`, `lookup`, `buy`, `order`, `restock`, `cluster`.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use api::book::{COST_MAX, QUANTITY_MAX, STOCK_DELTA_ABS_MAX};
use api::BookList;
use clap::{value_parser, Args};
use client::PygmyClient;

use crate::output::{self, print};
use runtime::entry::ConfigArgs;
use runtime::{tokens, ClusterOverrides};

/// `pygmy search [TOPIC]`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Topic, e.g. `ds` (distributed systems) or `gs` (graduate school); every book if omitted.
    topic: Option<String>,
}

/// `pygmy lookup ID`.
#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// Book id (item number), from 1.
    #[arg(value_parser = value_parser!(u64).range(1..))]
    id: u64,
}

/// `pygmy buy ID [--quantity N] [--key K]`.
#[derive(Debug, Args)]
pub(crate) struct BuyArgs {
    /// Book id (item number), from 1.
    #[arg(value_parser = value_parser!(u64).range(1..))]
    id: u64,
    /// Copies to buy.
    #[arg(long, short, default_value_t = 1, value_parser = value_parser!(u64).range(1..=QUANTITY_MAX))]
    quantity: u64,
    /// Idempotency key: the same buy sent again with the same key is applied at most once.
    /// Default: a fresh random key, shown in the error message if the buy fails.
    #[arg(long, value_parser = buy_key)]
    key: Option<String>,
}

/// `pygmy order NUMBER`.
#[derive(Debug, Args)]
pub(crate) struct OrderArgs {
    /// Order number, from 1.
    #[arg(value_parser = value_parser!(u64).range(1..))]
    number: u64,
}

/// `pygmy restock ID DELTA [--cost C]`.
#[derive(Debug, Args)]
pub(crate) struct RestockArgs {
    /// Book id (item number), from 1.
    #[arg(value_parser = value_parser!(u64).range(1..))]
    id: u64,
    /// Copies to add; negative removes copies (stock never goes below zero); 0 with `--cost`
    /// changes only the cost.
    #[arg(allow_negative_numbers = true,
          value_parser = value_parser!(i64).range(-STOCK_DELTA_ABS_MAX..=STOCK_DELTA_ABS_MAX))]
    delta: i64,
    /// New cost of the book.
    #[arg(long, value_parser = value_parser!(u64).range(..=COST_MAX))]
    cost: Option<u64>,
    /// Admin token. Default: the configuration's `admin_token`, else the one `pygmy up` stored
    /// in `<data_dir>/tokens.toml`.
    #[arg(long, env = "PYGMY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Cluster configuration, read only to find the admin token.
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory, read only to find `tokens.toml`.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Checks a buy key with the server's rule, so a bad one is refused before sending.
fn buy_key(raw: &str) -> std::result::Result<String, String> {
    match api::book::check_buy_key(raw) {
        Ok(()) => Ok(raw.to_string()),
        Err(e) => Err(e.message),
    }
}

/// `pygmy search`.
pub(crate) async fn search(c: &PygmyClient, a: SearchArgs, json: bool) -> Result<()> {
    let topic = a.topic.as_deref();
    let what = topic.map_or("every book".into(), |t| format!("topic {t:?}"));
    let books = c
        .search(topic)
        .await
        .with_context(|| format!("searching the catalog for {what}"))?;
    print(json, &BookList { books }, |out, list| {
        output::books(out, &list.books)
    })
}

/// `pygmy lookup`.
pub(crate) async fn lookup(c: &PygmyClient, a: LookupArgs, json: bool) -> Result<()> {
    let book = c
        .lookup(a.id)
        .await
        .with_context(|| format!("looking up book {}", a.id))?;
    print(json, &book, |out, _| {
        output::books(out, std::slice::from_ref(&book))
    })
}

/// `pygmy buy`.
pub(crate) async fn buy(c: &PygmyClient, a: BuyArgs, json: bool) -> Result<()> {
    let key = a
        .key
        .unwrap_or_else(|| format!("cli-{}", tokens::random_hex(8)));
    let order = c
        .buy(a.id, a.quantity, Some(&key))
        .await
        .with_context(|| format!("buying {} of book {} (buy key {key})", a.quantity, a.id))?;
    print(json, &order, |out, order| output::order(out, order))
}

/// `pygmy order`.
pub(crate) async fn order(c: &PygmyClient, a: OrderArgs, json: bool) -> Result<()> {
    let order = c
        .order(a.number)
        .await
        .with_context(|| format!("reading order {}", a.number))?;
    print(json, &order, |out, order| output::order(out, order))
}

/// `pygmy restock`.
pub(crate) async fn restock(c: &PygmyClient, a: RestockArgs, json: bool) -> Result<()> {
    let stock_delta = (a.delta != 0).then_some(a.delta);
    if stock_delta.is_none() && a.cost.is_none() {
        bail!("nothing to change: give a non-zero DELTA and/or --cost");
    }
    let token = match a.admin_token {
        Some(token) => token,
        None => {
            let config = ConfigArgs {
                config: a.config,
                data: a.data,
            };
            tokens::admin_token(&config.load(ClusterOverrides::default())?)?
        }
    };
    let book = c
        .update_book(a.id, stock_delta, a.cost, &token)
        .await
        .with_context(|| format!("updating book {}", a.id))?;
    print(json, &book, |out, _| {
        output::books(out, std::slice::from_ref(&book))
    })
}

/// `pygmy cluster`.
pub(crate) async fn cluster(c: &PygmyClient, json: bool) -> Result<()> {
    let view = c.cluster().await.context("reading the cluster's state")?;
    print(json, &view, |out, view| output::cluster(out, view))
}
