//! Flame graphs end to end: the fixture crate's `tests/flamegraph.rs` runs under
//! `cargo test` as a subprocess (as in `fixture_e2e.rs`) with each `VM_BENCH_FLAMEGRAPH`
//! policy, and its output, artifacts and SVG files are checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use vm_bench_runtime::artifact::{Artifact, Outcome, Verdict};
use vm_bench_runtime::suite::report::SuiteReport;

/// Serializes fixture runs: they would otherwise disturb each other's measurements.
static RUNS: Mutex<()> = Mutex::new(());

const FAILING: &str = "flamegraph.hot_loop_over_bound";
const PASSING: &str = "flamegraph.cheap_under_bound";
const ASKING: &str = "flamegraph.asks_for_a_flamegraph";
const HOT_FUNCTION: &str = "fixture_hot_checksum_loop";

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/Cargo.toml")
}

fn fixture_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("vm-bench-fixture")
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = fixture_target().join("e2e-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `cargo test --test flamegraph` of the fixture with `VM_BENCH_FLAMEGRAPH` set to
/// `policy` (unset for `None`); stdout and stderr together.
fn run_fixture(dir: &Path, policy: Option<&str>) -> (Output, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(manifest())
        .arg("--target-dir")
        .arg(fixture_target())
        .args(["--test", "flamegraph", "--", "--test-threads=3"])
        .env("VM_BENCH_DIR", dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("VM_BENCH_MODE")
        .env_remove("VM_BENCH_TARGETS")
        .env_remove("VM_BENCH_FLAMEGRAPH");
    if let Some(p) = policy {
        cmd.env("VM_BENCH_FLAMEGRAPH", p);
    }
    let out = cmd.output().expect("cargo runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn artifact(dir: &Path, stem: &str) -> Artifact {
    let file = format!("{stem}.json");
    Artifact::read(&dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn svg_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.flame.svg"))
}

/// Parses the whole file as XML (any syntax error fails) and returns the root element's
/// name and the text of every `<title>` (inferno writes one per frame).
fn parse_svg(path: &Path) -> (String, Vec<String>) {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.check_end_names(true);
    let mut root = None;
    let mut depth = 0usize;
    let mut in_title = false;
    let mut titles = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if depth == 0 {
                    assert!(root.is_none(), "two root elements in {}", path.display());
                    root = Some(name.clone());
                }
                in_title = name == "title";
                depth += 1;
            }
            Ok(Event::Empty(e)) if depth == 0 => {
                root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::End(_)) => {
                depth -= 1;
                in_title = false;
            }
            Ok(Event::Text(t)) if in_title => {
                titles.push(t.unescape().expect("escaped text").into_owned());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "{} is not well-formed XML at byte {}: {e}",
                path.display(),
                reader.buffer_position()
            ),
        }
    }
    assert_eq!(depth, 0, "unclosed elements in {}", path.display());
    (root.expect("a root element"), titles)
}

#[test]
fn failing_kpi_draws_a_flame_graph_naming_the_hot_function() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("flamegraph-fail");
    // A graph left by an earlier run of the passing benchmark must not survive this run.
    let stale = svg_path(&dir, PASSING);
    std::fs::write(&stale, "<svg/>").unwrap();
    let (out, text) = run_fixture(&dir, None);
    assert!(!out.status.success(), "the failing KPI fails:\n{text}");
    assert!(
        text.contains("test hot_loop_over_bound ... FAILED"),
        "{text}"
    );
    assert!(text.contains("test cheap_under_bound ... ok"), "{text}");
    assert!(text.contains("test asks_for_a_flamegraph ... ok"), "{text}");

    let svg = svg_path(&dir, FAILING);
    // The failure line names the SVG after the artifact.
    let line = text
        .lines()
        .find(|l| l.starts_with("KPI FAILED flamegraph::hot_loop_over_bound"))
        .unwrap_or_else(|| panic!("no failure line in:\n{text}"));
    assert!(
        line.ends_with(&format!(
            "artifact: {}; flame graph: {}",
            dir.join(format!("{FAILING}.json")).display(),
            svg.display()
        )),
        "{line}"
    );

    // The SVG is well-formed, an <svg> document, and names the hot function in a frame.
    let (root, titles) = parse_svg(&svg);
    assert_eq!(root, "svg");
    let hot: Vec<&String> = titles.iter().filter(|t| t.contains(HOT_FUNCTION)).collect();
    assert!(
        !hot.is_empty(),
        "no frame names {HOT_FUNCTION}; frames: {titles:#?}"
    );
    // Its frame holds most of the samples: it is the hot function, not a passer-by. The
    // title reads "name (N samples, P%)".
    let share: f64 = hot
        .iter()
        .filter_map(|t| t.rsplit(", ").next()?.strip_suffix("%)")?.parse().ok())
        .fold(0.0, f64::max);
    assert!(
        share >= 50.0,
        "{HOT_FUNCTION} holds {share}% of the samples: {hot:?}"
    );
    // The stacks are this benchmark's: its body, and no frame of another benchmark.
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("flamegraph::__vm_bench_body_hot_loop_over_bound")),
        "{titles:#?}"
    );
    assert!(
        !titles
            .iter()
            .any(|t| t.contains("cheap_under_bound") || t.contains("asks_for_a_flamegraph")),
        "{titles:#?}"
    );

    // The artifact names the SVG relative to its own directory, and says how it was drawn.
    let fail = artifact(&dir, FAILING);
    assert_eq!(fail.outcome, Outcome::Failed);
    assert_eq!(
        fail.flamegraph.as_deref(),
        Some(format!("{FAILING}.flame.svg").as_str())
    );
    assert!(fail.failures[0].ends_with(&format!("flame graph: {}", svg.display())));
    assert!(
        fail.measurement
            .decisions
            .iter()
            .any(|d| d.starts_with("flame graph drawn after the verdict: ")),
        "{:?}",
        fail.measurement.decisions
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{FAILING}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(json["flamegraph"], format!("{FAILING}.flame.svg"));

    // A passing benchmark draws none by default (and the stale file is gone); one whose
    // attribute says `flamegraph` draws one although it passed.
    let pass = artifact(&dir, PASSING);
    assert_eq!(pass.outcome, Outcome::Passed);
    assert_eq!(pass.flamegraph, None);
    assert!(!stale.exists(), "stale {} survived", stale.display());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{PASSING}.json"))).unwrap(),
    )
    .unwrap();
    assert!(json.get("flamegraph").is_none(), "{json}");
    let asking = artifact(&dir, ASKING);
    assert_eq!(asking.outcome, Outcome::Passed);
    assert_eq!(
        asking.flamegraph.as_deref(),
        Some(format!("{ASKING}.flame.svg").as_str())
    );
    let (root, titles) = parse_svg(&svg_path(&dir, ASKING));
    assert_eq!(root, "svg");
    assert!(titles.iter().any(|t| t.contains(HOT_FUNCTION)));

    // The report copies the graph into its own directory and links the copy from the
    // benchmark's row, and only where there is one.
    let mut report = SuiteReport::from_artifacts("flamegraph_e2e", &[fail, pass]);
    let (files, notes) = vm_bench_runtime::suite::output::collect_flamegraphs(&mut report, &dir);
    assert!(notes.is_empty(), "{notes:?}");
    let copied = format!("flamegraphs/{FAILING}.flame.svg");
    assert_eq!(
        files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        [copied.as_str()]
    );
    assert_eq!(
        files[0].1,
        std::fs::read_to_string(svg_path(&dir, FAILING)).unwrap()
    );
    let out = dir.join("report-with-flamegraph");
    vm_bench_runtime::suite::output::write_report(&report, &[], &out, files).unwrap();
    assert!(out.join(&copied).is_file(), "no copy at {copied}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let fail_row = html
        .lines()
        .find(|l| l.contains("title=\"flamegraph::hot_loop_over_bound\""))
        .unwrap_or_else(|| panic!("no row of the failing benchmark:\n{html}"));
    assert!(
        fail_row.contains(&format!("href=\"{copied}\">flame graph</a>")),
        "{fail_row}"
    );
    let pass_row = html
        .lines()
        .find(|l| l.contains("title=\"flamegraph::cheap_under_bound\""))
        .unwrap_or_else(|| panic!("no row of the passing benchmark:\n{html}"));
    assert!(!pass_row.contains("flame graph"), "{pass_row}");

    // A graph the artifact names but that is gone: the row loses its link and a note
    // names the file, instead of a dangling link.
    for row in &mut report.results {
        if row.flamegraph.is_some() {
            row.flamegraph = Some("gone.flame.svg".into());
        }
    }
    let (files, notes) = vm_bench_runtime::suite::output::collect_flamegraphs(&mut report, &dir);
    assert!(files.is_empty());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("gone.flame.svg"), "{}", notes[0]);
    assert!(report.results.iter().all(|r| r.flamegraph.is_none()));
}

#[test]
fn policies_off_and_always_and_the_verdict_is_untouched() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let off = fresh_dir("flamegraph-off");
    let (out, text) = run_fixture(&off, Some("off"));
    assert!(!out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("KPI FAILED flamegraph::hot_loop_over_bound"))
        .unwrap_or_else(|| panic!("no failure line in:\n{text}"));
    assert!(line.ends_with(&format!("{FAILING}.json")), "{line}");
    for stem in [FAILING, PASSING, ASKING] {
        assert!(
            !svg_path(&off, stem).exists(),
            "{stem} drew a graph with off"
        );
        assert_eq!(artifact(&off, stem).flamegraph, None);
    }

    let always = fresh_dir("flamegraph-always");
    let (out, text) = run_fixture(&always, Some("always"));
    assert!(!out.status.success(), "{text}");
    for stem in [FAILING, PASSING, ASKING] {
        let a = artifact(&always, stem);
        assert_eq!(
            a.flamegraph.as_deref(),
            Some(format!("{stem}.flame.svg").as_str()),
            "{stem}"
        );
        assert_eq!(parse_svg(&svg_path(&always, stem)).0, "svg");
    }

    // The verdict's samples are taken before the profiler starts: with and without
    // profiling the failing benchmark has its 30 samples in one round, the same verdict
    // and the same stop reason, and no timing entry mentions the profiling run.
    let (a, b) = (artifact(&off, FAILING), artifact(&always, FAILING));
    for x in [&a, &b] {
        let t = x.timing.as_ref().expect("timing");
        assert_eq!(t.samples.len(), 30, "{:?}", x.measurement.stop_reasons);
        assert!(t.samples.iter().all(|s| s.round == 1));
        assert_eq!(x.kpis[0].verdict, Verdict::Fail);
        // Descheduled samples may be excluded, never added.
        assert_eq!(x.kpis[0].samples, t.kept.n);
        assert!(t.kept.n <= 30);
    }
    assert_eq!(a.measurement.stop_reasons, b.measurement.stop_reasons);
    assert_eq!(a.measurement.rounds, b.measurement.rounds);
    // Only the profiled run's decisions mention the graph.
    assert!(!a
        .measurement
        .decisions
        .iter()
        .any(|d| d.contains("flame graph")));
    assert!(b
        .measurement
        .decisions
        .iter()
        .any(|d| d.contains("flame graph")));
}

#[test]
fn an_unknown_policy_fails_every_benchmark_naming_the_valid_ones() {
    let _g = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("flamegraph-bad");
    let (out, text) = run_fixture(&dir, Some("sometimes"));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("invalid VM_BENCH_FLAMEGRAPH=\"sometimes\": expected one of fail (default), always (or 1), off (or 0)"),
        "{text}"
    );
    assert!(text.contains("test cheap_under_bound ... FAILED"), "{text}");
    // Nothing was measured or written.
    assert!(!dir.join(format!("{PASSING}.json")).exists());
}
