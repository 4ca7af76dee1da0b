//! `monitor policy check FILE` and `monitor policy default`.
use std::path::Path;

use anyhow::Context as _;
use monitor::policy::{DEFAULT_POLICY_YAML, Policy};

/// Ok(true) when the file is valid.
pub fn check(file: &Path) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match Policy::from_yaml(&text) {
        Ok(_) => {
            println!("{}: ok", file.display());
            Ok(true)
        }
        Err(errors) => {
            // `file:line:column: message` is what editors and CI annotators parse.
            for error in &errors.errors {
                let hint = error
                    .hint
                    .as_deref()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                println!(
                    "{}:{}:{}: {}{hint}",
                    file.display(),
                    error.line,
                    error.column,
                    error.message
                );
            }
            Ok(false)
        }
    }
}

pub fn print_default() {
    print!("{DEFAULT_POLICY_YAML}");
}
