//! `monitor inventory`: prints a daemon's API inventory, read from its `/inventory` URL or its
//! `--inventory-file`, as a table or as the JSON document itself.
use std::io::Write as _;

use anyhow::Context as _;
use monitor::inventory::{self, InventorySnapshot};

use crate::cli::InventoryArgs;

pub fn run(args: &InventoryArgs) -> anyhow::Result<()> {
    let snap = load(args)?;
    let mut text = if args.json {
        serde_json::to_string_pretty(&snap).context("encoding the inventory")?
    } else {
        inventory::render_table(&snap)
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // `monitor inventory | head`: the reader has seen enough, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("writing to stdout"),
    }
}

fn load(args: &InventoryArgs) -> anyhow::Result<InventorySnapshot> {
    Ok(match &args.file {
        Some(path) => inventory::read_file(path)?,
        None => inventory::fetch_url(&args.url)?,
    })
}
