//! `monitor inventory`: prints a daemon's API inventory, read from its `/inventory` URL or its
//! `--inventory-file`, as a table or as the JSON document itself.
use anyhow::Context as _;
use monitor::inventory::{self, InventorySnapshot};

use crate::cli::InventoryArgs;

pub fn run(args: &InventoryArgs) -> anyhow::Result<()> {
    let snap = load(args)?;
    if args.json {
        let json = serde_json::to_string_pretty(&snap).context("encoding the inventory")?;
        println!("{json}");
    } else {
        print!("{}", inventory::render_table(&snap));
    }
    Ok(())
}

fn load(args: &InventoryArgs) -> anyhow::Result<InventorySnapshot> {
    Ok(match &args.file {
        Some(path) => inventory::read_file(path)?,
        None => inventory::fetch_url(&args.url)?,
    })
}
