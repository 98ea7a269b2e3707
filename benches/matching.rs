//! Matching benchmark on the citylots2 workloads of `shared/bench-data` (see its
//! README): for each citylots2 rule group and each mixed-operator scale set,
//! events/s, ns/event, memory of the compiled matcher, and a check of the match
//! counts against the expected ones.
//!
//! `cargo bench --bench matching`; environment:
//! - `STOWAGE_BENCH_DATA`: the bench-data folder (default `../shared/bench-data`
//!   next to the crate);
//! - `STOWAGE_BENCH_LINES`: use only the first N events (smoke run; counts are
//!   then not checked);
//! - `STOWAGE_BENCH_PASSES`: timed passes per workload, the median is reported
//!   (default 3);
//! - `STOWAGE_BENCH_ONLY`: run only these workloads (comma-separated names;
//!   `SCALING` is the interleaved rule-count comparison at the end);
//! - `STOWAGE_BENCH_ROUNDS`, `STOWAGE_BENCH_SLICE`: rounds and events per round
//!   of that comparison (default 21 and 20,000).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use serde_json::Value;
use stowage::pattern::{Limits, Matcher, MatcherBuilder, Pattern};

fn main() {
    let dir = std::env::var("STOWAGE_BENCH_DATA").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench-data"),
        PathBuf::from,
    );
    let limit: Option<usize> = std::env::var("STOWAGE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok());
    let passes: usize = std::env::var("STOWAGE_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let only = std::env::var("STOWAGE_BENCH_ONLY").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w == name))
    };

    let started = Instant::now();
    let events = load_lines(&dir.join("citylots2-synth.json.gz"), limit);
    let bytes: usize = events.iter().map(Vec::len).sum();
    println!(
        "loaded {} events ({:.1} MB) in {:.1}s; {} timed pass(es) per workload, median reported",
        events.len(),
        mb(bytes),
        started.elapsed().as_secs_f64(),
        passes
    );
    let check = limit.is_none();
    if !check {
        println!("STOWAGE_BENCH_LINES is set: match counts are not checked");
    }

    println!("\n## citylots2 groups (5 rules each)\n");
    println!(
        "events/s and ns/event are on-CPU time of the matching thread; wall ns/event alongside\n"
    );
    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>12}  check",
        "group", "events/s", "ns/event", "wall ns", "memory B"
    );
    let rules = read_json(&dir.join("citylots2-rules.json"));
    for group in rules["groups"].as_array().expect("groups") {
        let name = group["name"].as_str().expect("name");
        if !wanted(name) {
            continue;
        }
        if name == "REGEXP" {
            println!("{name:<28} skipped: regexp is not an EventBridge operator");
            continue;
        }
        let specs: Vec<(String, u64)> = group["patterns"]
            .as_array()
            .expect("patterns")
            .iter()
            .map(|p| {
                // quamina's `shellstyle` is the same operator as `wildcard`.
                let text = p["pattern"]
                    .as_str()
                    .expect("pattern")
                    .replace("\"shellstyle\"", "\"wildcard\"");
                (text, p["expected_synthetic"].as_u64().expect("count"))
            })
            .collect();
        let result = run(&specs, &events, passes);
        let verdict = if check {
            verdict_per_rule(&specs, &result.per_rule)
        } else {
            "-".to_owned()
        };
        println!(
            "{name:<28} {:>12.0} {:>10.0} {:>10.0} {:>12}  {verdict}",
            result.events_per_second(events.len()),
            result.ns_per_event(events.len()),
            result.wall_ns_per_event(events.len()),
            result.memory
        );
    }

    println!("\n## mixed-operator scale sets\n");
    println!(
        "{:<20} {:>6} {:>12} {:>10} {:>10} {:>12} {:>10} {:>12}  check",
        "set", "rules", "events/s", "ns/event", "wall ns", "memory B", "build ms", "matches"
    );
    let scale = read_json(&dir.join("citylots2-scale-rules.json"));
    let mut per_event = std::collections::BTreeMap::new();
    let mut scaling_specs = std::collections::BTreeMap::new();
    for group in scale["groups"].as_array().expect("groups") {
        let name = group["name"].as_str().expect("name");
        let specs: Vec<(String, u64)> = group["patterns"]
            .as_array()
            .expect("patterns")
            .iter()
            .map(|p| {
                let text = p["pattern"].as_str().expect("pattern").to_owned();
                (text, p["expected_synthetic"].as_u64().expect("count"))
            })
            .collect();
        let mut sets = vec![(
            name.to_owned(),
            specs.clone(),
            group["expected_total_matches"].as_u64(),
        )];
        // The 1,000-rule set is the first 1,000 of the 10,000 (the file's note):
        // its expected total is the sum of its rules' own counts.
        if name.ends_with("_10000") {
            let first: Vec<(String, u64)> = specs.iter().take(1000).cloned().collect();
            let total = first.iter().map(|(_, c)| c).sum();
            sets.insert(0, (name.replace("_10000", "_1000"), first, Some(total)));
        }
        for (set_name, specs, expected_total) in sets {
            if SCALING.contains(&set_name.as_str()) {
                scaling_specs.insert(set_name.clone(), specs.clone());
            }
            if !wanted(&set_name) {
                continue;
            }
            let result = run(&specs, &events, passes);
            let total: u64 = result.per_rule.iter().sum();
            let verdict = if check {
                let rules = verdict_per_rule(&specs, &result.per_rule);
                match expected_total {
                    Some(e) if e != total => {
                        format!("MISMATCH total {total} expected {e}; {rules}")
                    }
                    _ => rules,
                }
            } else {
                "-".to_owned()
            };
            let ns = result.ns_per_event(events.len());
            per_event.insert(set_name.clone(), ns);
            println!(
                "{set_name:<20} {:>6} {:>12.0} {:>10.0} {:>10.0} {:>12} {:>10.1} {:>12}  {verdict}",
                specs.len(),
                result.events_per_second(events.len()),
                ns,
                result.wall_ns_per_event(events.len()),
                result.memory,
                result.build.as_secs_f64() * 1e3,
                total
            );
        }
    }
    // One rule that reads as far into each event as the large sets do (the
    // last `properties` member and `geometry.firstCoordinates.x`), to separate
    // the cost of reading more of the event from the cost of more rules.
    let wide = r#"{"properties": {"MAPBLKLOT": ["2035009"], "ODD_EVEN": [{"exists": true}]}, "geometry": {"firstCoordinates": {"x": [{"exists": true}]}}}"#;
    scaling_specs.insert("WIDE_1".to_owned(), vec![(wide.to_owned(), 1)]);
    if wanted("WIDE_1") {
        let specs = vec![(wide.to_owned(), 1)];
        let result = run(&specs, &events, passes);
        let verdict = if check {
            verdict_per_rule(&specs, &result.per_rule)
        } else {
            "-".to_owned()
        };
        let ns = result.ns_per_event(events.len());
        per_event.insert("WIDE_1".to_owned(), ns);
        println!(
            "{:<20} {:>6} {:>12.0} {:>10.0} {:>10.0} {:>12} {:>10.1} {:>12}  {verdict}",
            "WIDE_1",
            1,
            result.events_per_second(events.len()),
            ns,
            result.wall_ns_per_event(events.len()),
            result.memory,
            result.build.as_secs_f64() * 1e3,
            result.per_rule.iter().sum::<u64>()
        );
    }
    for family in ["QMIX", "EMIX"] {
        if let (Some(wide), Some(many)) = (
            per_event.get("WIDE_1"),
            per_event.get(&format!("{family}_10000")),
        ) {
            println!(
                "{family}: 10,000 rules cost {:.2}x the ns/event of 1 rule reading the same fields (WIDE_1)",
                many / wide
            );
        }
        if let (Some(one), Some(many)) = (
            per_event.get(&format!("{family}_1")),
            per_event.get(&format!("{family}_10000")),
        ) {
            println!(
                "{family}: 10,000 rules cost {:.2}x the ns/event of 1 rule",
                many / one
            );
        }
    }
    if wanted("SCALING") {
        scaling(&scaling_specs, &events);
    }
}

/// The sets compared by [`scaling`].
const SCALING: [&str; 9] = [
    "QMIX_1",
    "WIDE_1",
    "QMIX_100",
    "QMIX_1000",
    "QMIX_10000",
    "EMIX_1",
    "EMIX_100",
    "EMIX_1000",
    "EMIX_10000",
];

/// Rule-count scaling measured interleaved: the machine's speed drifts by tens
/// of percent over a run (it is shared), so sets timed one after another
/// minutes apart are not comparable. Here every round times each set on the
/// same slice of events, one right after the other, and the ratio of each
/// round is taken; the median of those ratios is reported (wall time).
fn scaling(specs: &std::collections::BTreeMap<String, Vec<(String, u64)>>, events: &[Vec<u8>]) {
    if events.is_empty() {
        return;
    }
    let rounds = env_usize("STOWAGE_BENCH_ROUNDS", 21);
    let slice = env_usize("STOWAGE_BENCH_SLICE", 20_000)
        .min(events.len())
        .max(1);
    let matchers: Vec<(&str, Matcher<usize>)> = SCALING
        .iter()
        .filter_map(|name| Some((*name, build_matcher(specs.get(*name)?))))
        .collect();
    // ns/event of each set in each round.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); matchers.len()];
    for round in 0..rounds {
        let start = (round * slice) % events.len();
        let chunk = &events[start..(start + slice).min(events.len())];
        for ((_, matcher), times) in matchers.iter().zip(&mut samples) {
            // Wall time: the thread's on-CPU time (schedstat) advances in
            // scheduler ticks, too coarse for a slice; a round that was
            // preempted is an outlier the median drops.
            let wall = Instant::now();
            for event in chunk {
                std::hint::black_box(matcher.matches(event).expect("valid event"));
            }
            times.push(wall.elapsed().as_nanos() as f64 / chunk.len() as f64);
        }
    }
    println!("\n## rule-count scaling, interleaved ({rounds} rounds of {slice} events; medians)\n");
    println!("{:<12} {:>10}", "set", "ns/event");
    let index = |name: &str| matchers.iter().position(|(n, _)| *n == name);
    for ((name, _), times) in matchers.iter().zip(&samples) {
        println!("{name:<12} {:>10.0}", median(times.clone()));
    }
    let ratio = |many: &str, one: &str| -> Option<f64> {
        let (m, o) = (index(many)?, index(one)?);
        Some(median(
            samples[m]
                .iter()
                .zip(&samples[o])
                .map(|(m, o)| m / o)
                .collect(),
        ))
    };
    for (many, one, what) in [
        ("QMIX_10000", "QMIX_1", "1 rule (QMIX_1)"),
        (
            "QMIX_10000",
            "WIDE_1",
            "1 rule reading the same fields (WIDE_1)",
        ),
        ("QMIX_10000", "QMIX_100", "100 rules (QMIX_100)"),
        ("QMIX_10000", "QMIX_1000", "1,000 rules (QMIX_1000)"),
        ("EMIX_10000", "EMIX_1", "1 rule (EMIX_1)"),
        ("EMIX_10000", "EMIX_100", "100 rules (EMIX_100)"),
        ("EMIX_10000", "EMIX_1000", "1,000 rules (EMIX_1000)"),
        (
            "EMIX_10000",
            "WIDE_1",
            "1 rule reading the same fields (WIDE_1)",
        ),
    ] {
        if let Some(r) = ratio(many, one) {
            println!("{many} costs {r:.2}x the ns/event of {what}");
        }
    }
}

/// One matcher over the patterns of `specs`, rule `i` being the i-th pattern.
fn build_matcher(specs: &[(String, u64)]) -> Matcher<usize> {
    let limits = Limits::default();
    let mut builder = MatcherBuilder::new();
    for (i, (text, _)) in specs.iter().enumerate() {
        let pattern =
            Pattern::parse(text, &limits).unwrap_or_else(|e| panic!("pattern {text}: {e}"));
        builder.add(i, &pattern);
    }
    builder.build()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct RunResult {
    /// Median wall time of one pass over all events.
    pass: Duration,
    /// Median on-CPU time of the matching thread for one pass, when the OS
    /// reports it: on a shared machine this is the figure to compare.
    cpu: Option<Duration>,
    build: Duration,
    memory: usize,
    per_rule: Vec<u64>,
}

impl RunResult {
    /// CPU time when known, else wall time.
    fn time(&self) -> Duration {
        self.cpu.unwrap_or(self.pass)
    }

    fn ns_per_event(&self, events: usize) -> f64 {
        self.time().as_secs_f64() * 1e9 / events as f64
    }

    fn events_per_second(&self, events: usize) -> f64 {
        events as f64 / self.time().as_secs_f64()
    }

    fn wall_ns_per_event(&self, events: usize) -> f64 {
        self.pass.as_secs_f64() * 1e9 / events as f64
    }
}

fn run(specs: &[(String, u64)], events: &[Vec<u8>], passes: usize) -> RunResult {
    let started = Instant::now();
    let matcher = build_matcher(specs);
    let build = started.elapsed();
    let mut per_rule = vec![0u64; specs.len()];
    let mut times = Vec::with_capacity(passes);
    let mut cpu_times = Vec::with_capacity(passes);
    for pass in 0..passes {
        let cpu_started = thread_cpu_ns();
        let started = Instant::now();
        for event in events {
            let matched = matcher.matches(event).expect("valid event");
            if pass == 0 {
                for rule in &matched {
                    per_rule[*rule] += 1;
                }
            }
            std::hint::black_box(matched);
        }
        times.push(started.elapsed());
        if let (Some(a), Some(b)) = (cpu_started, thread_cpu_ns()) {
            cpu_times.push(Duration::from_nanos(b.saturating_sub(a)));
        }
    }
    times.sort();
    cpu_times.sort();
    RunResult {
        pass: times[times.len() / 2],
        cpu: cpu_times.get(cpu_times.len() / 2).copied(),
        build,
        memory: matcher.approx_memory_bytes(),
        per_rule,
    }
}

fn verdict_per_rule(specs: &[(String, u64)], counts: &[u64]) -> String {
    let wrong: Vec<String> = specs
        .iter()
        .zip(counts)
        .filter(|((_, expected), got)| expected != *got)
        .take(3)
        .map(|((text, expected), got)| format!("{text} got {got} expected {expected}"))
        .collect();
    if wrong.is_empty() {
        "ok".to_owned()
    } else {
        format!("MISMATCH {}", wrong.join("; "))
    }
}

fn load_lines(path: &PathBuf, limit: Option<usize>) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = BufReader::new(GzDecoder::new(file));
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while limit.is_none_or(|l| lines.len() < l) {
        line.clear();
        if reader.read_until(b'\n', &mut line).expect("readable") == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        lines.push(line.clone());
    }
    lines
}

fn read_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// On-CPU nanoseconds of the calling thread (Linux `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}
