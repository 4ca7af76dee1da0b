//! `monitor policy check` and `monitor policy default`, as a user runs them (no root needed).
use std::process::Command;

use monitor_e2e::{monitor_binary, scratch_dir};

#[test]
fn the_default_policy_prints_and_checks_clean() {
    let out = Command::new(monitor_binary())
        .args(["policy", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = scratch_dir("policy-default");
    let path = dir.join("default.yaml");
    std::fs::write(&path, &out.stdout).unwrap();
    let check = Command::new(monitor_binary())
        .args(["policy", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains(": ok"));
}

#[test]
fn a_broken_policy_fails_with_every_error_located() {
    let dir = scratch_dir("policy-broken");
    let path = dir.join("broken.yaml");
    std::fs::write(
        &path,
        "version: 1\n\
         destinations:\n  \
           - id: a\n    action: deny\n    hosts: [\"ok.example\"]\n    workloads: [nosuch]\n  \
           - id: a\n    action: deny\n    hosts: [\"b.example\"]\n",
    )
    .unwrap();
    let check = Command::new(monitor_binary())
        .args(["policy", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    let shown = path.display().to_string();
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with(&shown)).collect();
    assert!(
        errors.len() >= 2,
        "an unknown workload and a duplicate id:\n{text}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains(":6:") && l.contains("nosuch")),
        "{text}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains(":7:") && l.to_lowercase().contains("duplicate")),
        "{text}"
    );

    let missing = Command::new(monitor_binary())
        .args(["policy", "check", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
