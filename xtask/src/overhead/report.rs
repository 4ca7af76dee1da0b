//! The overhead benchmark's output: a progress line per measured configuration on stderr, then on
//! stdout a summary that leads with the ratios (CPU per request each tool adds above the floor,
//! saturating throughput relative to no tool) and the detail tables behind it.
//!
//! Differences and ratios are taken within a round (the configurations of a round ran back to
//! back) and the median over rounds is reported; each part of a split is its own median, so the
//! parts need not add up exactly to the total.
use std::collections::BTreeMap;

use super::{
    Options, SchemeResults,
    config::Config,
    measure::{ConfigRun, CpuPerRequest},
};
use crate::{proc_stat::ProgramRuns, stats::median};

pub fn progress(round: usize, scheme: &str, config: Config, run: &ConfigRun) {
    let s = &run.saturating;
    let mut line = format!(
        "round {round}, {scheme}, {}: saturating {:.0} req/s, CPU per request nginx {:.1} / client {:.1} / tool {:.1} µs",
        config.name(),
        s.requests_per_second,
        s.cpu.nginx_us,
        s.cpu.client_us,
        s.cpu.tool_us
    );
    if let Some(calls) = s.captured_calls {
        line += &format!(", {calls:.0} calls captured");
    }
    for f in &run.fixed {
        line += &format!(
            "; {}/s: achieved {:.0}, p50 {:.3} ms, nginx {:.1} / client {:.1} / tool {:.1} µs",
            f.rate, f.achieved, f.p50_ms, f.cpu.nginx_us, f.cpu.client_us, f.cpu.tool_us
        );
    }
    eprintln!("{line}");
}

/// Median over rounds of `f` of the paired runs of two configurations.
fn paired(a: &[ConfigRun], b: &[ConfigRun], f: impl Fn(&ConfigRun, &ConfigRun) -> f64) -> f64 {
    median(a.iter().zip(b).map(|(x, y)| f(x, y)).collect())
}

fn med(runs: &[ConfigRun], f: impl Fn(&ConfigRun) -> f64) -> f64 {
    median(runs.iter().map(f).collect())
}

/// Median of each part of the per-round difference `cpu(x) - cpu(reference)`.
fn added(
    runs: &[ConfigRun],
    reference: &[ConfigRun],
    cpu: impl Fn(&ConfigRun) -> CpuPerRequest,
) -> (f64, CpuPerRequest) {
    let diff = |x: &ConfigRun, r: &ConfigRun| cpu(x).minus(&cpu(r));
    (
        paired(runs, reference, |x, r| diff(x, r).total()),
        CpuPerRequest {
            nginx_us: paired(runs, reference, |x, r| diff(x, r).nginx_us),
            client_us: paired(runs, reference, |x, r| diff(x, r).client_us),
            tool_us: paired(runs, reference, |x, r| diff(x, r).tool_us),
        },
    )
}

fn thousands(n: u32) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a configuration's added cost is measured against: the floor for the tools that capture,
/// no tool for the floor (falling back to no tool when the floor was not run).
fn reference(r: &SchemeResults, config: Config) -> Option<(Config, &[ConfigRun])> {
    let floor = r.of(Config::Floor).map(|f| (Config::Floor, f));
    let none = r.of(Config::None).map(|n| (Config::None, n));
    match config {
        Config::None => None,
        Config::Floor => none,
        Config::Monitor | Config::Bpftrace => floor.or(none),
    }
}

fn summary(results: &[SchemeResults], options: &Options) {
    let shown: Vec<Config> = options
        .configs
        .iter()
        .copied()
        .filter(|c| *c != Config::None)
        .collect();
    let both = shown.contains(&Config::Monitor) && shown.contains(&Config::Bpftrace);
    println!(
        "\n## Summary: medians of {} rounds ({} s per load), per-round differences and ratios\n",
        options.rounds, options.seconds
    );
    println!(
        "CPU added per request: nginx worker + load generator + tool (user + system), above the \
         floor for the tools that capture and above no tool for the floor; in brackets nginx / \
         client / tool. Throughput: wrk's requests/s relative to no tool.\n"
    );
    let mut header = "| scheme | measure |".to_owned();
    for c in &shown {
        header += &format!(" {} |", c.name());
    }
    if both {
        header += " bpftrace ÷ monitor |";
    }
    println!("{header}");
    println!(
        "{}",
        "|---".repeat(2 + shown.len() + usize::from(both)) + "|"
    );
    for r in results {
        for (i, rate) in options.rates.iter().enumerate() {
            let mut row = format!(
                "| {} | {}/s: CPU added per request (µs) |",
                r.title,
                thousands(*rate)
            );
            let mut totals = BTreeMap::new();
            for &c in &shown {
                let cell = match (r.of(c), reference(r, c)) {
                    (Some(runs), Some((base, base_runs))) => {
                        let (total, parts) = added(runs, base_runs, |x| x.fixed[i].cpu);
                        totals.insert(c, total);
                        format!(
                            "**{total:+.1}** above {} ({:.1} / {:.1} / {:.1})",
                            base.name(),
                            parts.nginx_us,
                            parts.client_us,
                            parts.tool_us
                        )
                    }
                    _ => "–".to_owned(),
                };
                row += &format!(" {cell} |");
            }
            if both {
                row += &format!(
                    " {:.2} |",
                    totals
                        .get(&Config::Bpftrace)
                        .zip(totals.get(&Config::Monitor))
                        .map(|(b, m)| b / m)
                        .unwrap_or(f64::NAN)
                );
            }
            println!("{row}");
        }
        let mut row = format!("| {} | saturating throughput relative to none |", r.title);
        let mut ratios = BTreeMap::new();
        for &c in &shown {
            let cell = match (r.of(c), r.of(Config::None)) {
                (Some(runs), Some(none)) => {
                    let ratio = paired(runs, none, |x, n| {
                        x.saturating.requests_per_second / n.saturating.requests_per_second
                    });
                    ratios.insert(c, ratio);
                    format!("**{ratio:.3}**")
                }
                _ => "–".to_owned(),
            };
            row += &format!(" {cell} |");
        }
        if both {
            row += &format!(
                " {:.2} |",
                ratios
                    .get(&Config::Bpftrace)
                    .zip(ratios.get(&Config::Monitor))
                    .map(|(b, m)| b / m)
                    .unwrap_or(f64::NAN)
            );
        }
        println!("{row}");
    }
}

fn kernel_total(kernel: &BTreeMap<String, ProgramRuns>) -> (u64, u64) {
    kernel
        .values()
        .fold((0, 0), |(ns, runs), p| (ns + p.run_time_ns, runs + p.runs))
}

fn saturating_detail(r: &SchemeResults, options: &Options) {
    println!(
        "\n### {}: saturating load (wrk, 2 threads, {} connections), medians of {} rounds\n",
        r.title, options.connections, options.rounds
    );
    println!(
        "| configuration | requests/s | relative to none | p50 / p99 latency (ms) | CPU per request: nginx / client / tool (µs) | tool CPU per 1,000 captured calls | calls captured per run | tool peak RSS | kernel programs: ns per run / µs per request | tool CPU idle (ms per s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let none = r.of(Config::None);
    for (config, runs) in &r.runs {
        let s = |f: fn(&ConfigRun) -> f64| med(runs, f);
        let relative = none
            .map(|n| {
                format!(
                    "{:.3}",
                    paired(runs, n, |x, n| {
                        x.saturating.requests_per_second / n.saturating.requests_per_second
                    })
                )
            })
            .unwrap_or_else(|| "–".to_owned());
        let calls = runs
            .iter()
            .map(|x| x.saturating.captured_calls)
            .collect::<Option<Vec<f64>>>();
        let (per_calls, calls) = match calls {
            Some(calls) if *config == Config::Monitor => (
                format!(
                    "{:.1} ms",
                    med(runs, |x| x.saturating.tool_cpu_seconds * 1e6
                        / x.saturating.captured_calls.unwrap_or(0.0).max(1.0))
                ),
                format!("{:.0}", median(calls)),
            ),
            _ => ("–".to_owned(), "–".to_owned()),
        };
        let has_tool = *config != Config::None;
        let kernel = if has_tool {
            format!(
                "{:.0} / {:.2}",
                med(runs, |x| {
                    let (ns, n) = kernel_total(&x.saturating.kernel);
                    ns as f64 / n.max(1) as f64
                }),
                med(runs, |x| kernel_total(&x.saturating.kernel).0 as f64
                    / 1000.0
                    / x.saturating.requests.max(1.0))
            )
        } else {
            "–".to_owned()
        };
        let rss = runs.iter().map(|x| x.saturating.peak_rss_kib).max();
        println!(
            "| {} | {:.0} | {relative} | {:.3} / {:.3} | {:.1} / {:.1} / {:.1} | {per_calls} | {calls} | {} | {kernel} | {} |",
            config.name(),
            s(|x| x.saturating.requests_per_second),
            s(|x| x.saturating.p50_ms),
            s(|x| x.saturating.p99_ms),
            s(|x| x.saturating.cpu.nginx_us),
            s(|x| x.saturating.cpu.client_us),
            s(|x| x.saturating.cpu.tool_us),
            match rss {
                Some(kib) if has_tool => format!("{:.0} MiB", kib as f64 / 1024.0),
                _ => "–".to_owned(),
            },
            if has_tool {
                format!("{:.1}", med(runs, |x| x.idle_ms_per_s.unwrap_or(f64::NAN)))
            } else {
                "–".to_owned()
            },
        );
    }
}

fn fixed_detail(r: &SchemeResults, options: &Options) {
    println!(
        "\n### {}: fixed rates (h2load --h1, keep-alive lanes), medians of {} rounds\n",
        r.title, options.rounds
    );
    println!(
        "| target req/s | configuration | achieved | p50 / p99 latency (ms) | CPU per request: nginx / client / tool (µs) | total (µs) |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, rate) in options.rates.iter().enumerate() {
        for (config, runs) in &r.runs {
            let m = |f: fn(&CpuPerRequest) -> f64| med(runs, |x| f(&x.fixed[i].cpu));
            println!(
                "| {} | {} | {:.0} | {:.3} / {:.3} | {:.1} / {:.1} / {:.1} | {:.1} |",
                thousands(*rate),
                config.name(),
                med(runs, |x| x.fixed[i].achieved),
                med(runs, |x| x.fixed[i].p50_ms),
                med(runs, |x| x.fixed[i].p99_ms),
                m(|c| c.nginx_us),
                m(|c| c.client_us),
                m(|c| c.tool_us),
                m(CpuPerRequest::total),
            );
        }
    }
}

/// Where the monitor's kernel-side time goes, program by program, over all rounds of the
/// saturating load.
fn kernel_programs(r: &SchemeResults) {
    let Some(runs) = r.of(Config::Monitor) else {
        return;
    };
    let calls: f64 = runs
        .iter()
        .filter_map(|x| x.saturating.captured_calls)
        .sum::<f64>()
        .max(1.0);
    let mut programs: BTreeMap<&str, ProgramRuns> = BTreeMap::new();
    for (name, p) in runs.iter().flat_map(|x| &x.saturating.kernel) {
        let entry = programs.entry(name).or_default();
        entry.run_time_ns += p.run_time_ns;
        entry.runs += p.runs;
    }
    let mut rows: Vec<(&str, ProgramRuns)> =
        programs.into_iter().filter(|(_, p)| p.runs > 0).collect();
    rows.sort_by_key(|(_, p)| std::cmp::Reverse(p.run_time_ns));
    println!(
        "\n### {}: the monitor's kernel programs under the saturating load, all rounds\n",
        r.title
    );
    println!("| program | runs per captured call | ns per run | µs per captured call |");
    println!("|---|---|---|---|");
    for (name, p) in rows {
        println!(
            "| `{name}` | {:.2} | {:.0} | {:.2} |",
            p.runs as f64 / calls,
            p.run_time_ns as f64 / p.runs as f64,
            p.run_time_ns as f64 / 1000.0 / calls
        );
    }
}

pub fn print(results: &[SchemeResults], options: &Options) {
    summary(results, options);
    println!("\n## Detail");
    for r in results {
        saturating_detail(r, options);
        fixed_detail(r, options);
        kernel_programs(r);
    }
}
