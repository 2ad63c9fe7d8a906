//! `report.html` rendered by a real browser: headless Chromium loads the page from the file
//! system (no server), its inline script records how many charts decoded
//! (`data-charts-loaded="k/n"` on `<body>`), and `--dump-dom` returns the DOM after the load
//! event, so the test sees whether every chart rendered and the tables are there. A
//! screenshot of the report is also compared with one of an empty page of the same size:
//! a page that renders nothing compresses to the same few kilobytes.
//!
//! A second test renders a report with a history (small multiples, change points, the
//! change against the previous run), failures, and units from nanoseconds to
//! milliseconds, and checks those views in the DOM, clicks table headers in a frame to
//! check sorting, and keeps a screenshot in the test output directory
//! (`$CARGO_TARGET_TMPDIR/report-views/report.png`).
//!
//! Chromium: `$VM_BENCH_CHROMIUM`, else `chromium`, `chromium-browser`, `google-chrome` on
//! `PATH` (Debian package `chromium`). Where none is installed the tests fail when `CI` or
//! `VM_BENCH_REQUIRE_CHROMIUM` is set (`.ci/run` sets the latter after installing it);
//! elsewhere they pass with a message printed straight to stderr, so it shows even though
//! libtest captures output.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use vm_bench_runtime::artifact::{Environment, Verdict};
use vm_bench_runtime::suite::baseline::{Baseline, CompareConfig, BASELINE_SCHEMA};
use vm_bench_runtime::suite::changepoint::ChangePointConfig;
use vm_bench_runtime::suite::history::RunSummary;
use vm_bench_runtime::suite::MetricRow;
use vm_bench_runtime::suite::{BenchRow, KpiRow, SuiteReport};

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VM_BENCH_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The browser, or `None` after a visible skip message; panics when Chromium is required.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(bin) = find_chromium() {
        return Some(bin);
    }
    let required = ["CI", "VM_BENCH_REQUIRE_CHROMIUM"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty() && x != "0" && x != "false"));
    assert!(
        !required,
        "{test}: no Chromium found, and CI / VM_BENCH_REQUIRE_CHROMIUM requires it \
         (install the Debian package `chromium` or set VM_BENCH_CHROMIUM)"
    );
    let _ = std::io::stderr().write_all(
        format!(
            "\nSKIPPED {test}: no Chromium found \
             (install the Debian package `chromium` or set VM_BENCH_CHROMIUM)\n"
        )
        .as_bytes(),
    );
    None
}

fn chromium(bin: &Path, args: &[&str], url: &str) -> std::process::Output {
    // --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

fn report() -> SuiteReport {
    let row = |name: &str, cat: &str, median: f64, bound: f64, verdict| BenchRow {
        name: name.into(),
        category: cat.into(),
        outcome: "passed".into(),
        iterations: 100,
        median_ns: median,
        median_ci: Some((median * 0.98, median * 1.02)),
        kpis: vec![KpiRow {
            key: "max_ns".into(),
            op: "<=".into(),
            bound,
            unit: "ns/iter".into(),
            measured: Some(median),
            interval: Some((median * 0.98, median * 1.02)),
            verdict,
            margin_pct: None,
        }],
        samples: (0..40)
            .map(|i| median * (1.0 + (i % 7) as f64 / 50.0))
            .collect(),
        ..BenchRow::empty()
    };
    SuiteReport::new(
        "browser test",
        None,
        vec![
            row("jit::bench_browser_a", "JIT", 400.0, 500.0, Verdict::Pass),
            row("tlb::bench_browser_b", "TLB", 900.0, 1000.0, Verdict::Pass),
        ],
    )
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("report_html_renders_in_headless_chromium") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("vmb-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Both suite-wide charts (KPI budget, baseline vs current) as images; the trends over
    // two runs are inline.
    let mut r = report();
    let mut older = r.clone();
    for row in &mut older.results {
        for k in &mut row.kpis {
            k.measured = k.measured.map(|m| m * 0.9);
            k.interval = k.interval.map(|(lo, hi)| (lo * 0.9, hi * 0.9));
        }
    }
    let older = SuiteReport::new("older", None, older.results);
    let mut first = older.summary();
    first.id = "000000000000001-older".into();
    first.timestamp_unix_ms = 1;
    let history = vec![first, r.summary()];
    let baseline = Baseline {
        schema: BASELINE_SCHEMA,
        name: "main".into(),
        benchmarks: r
            .samples()
            .into_iter()
            .map(|(k, v)| (k, v.iter().map(|x| x * 0.8).collect()))
            .collect(),
    };
    r.compare_baseline(&baseline, &CompareConfig::default());
    r.analyze_history(&history[..1], &ChangePointConfig::default())
        .unwrap();
    vm_bench_runtime::suite::output::write_report(&r, &history, &dir, Vec::new()).unwrap();
    let page = dir.join("report.html");
    let url = format!("file://{}", page.display());

    let out = chromium(&bin, &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The two suite-wide charts are embedded, and the browser decoded all of them.
    let images = dom.matches("<img ").count();
    assert_eq!(images, 2, "suite-wide charts embedded in the page:\n{dom}");
    assert_eq!(
        dom.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\"")
            .count(),
        2
    );
    assert!(
        dom.contains(&format!("data-charts-loaded=\"{images}/{images}\"")),
        "not every chart loaded:\n{dom}"
    );
    for text in [
        "Performance report",
        "bench_browser_a",
        "bench_browser_b",
        "FAIL: 2 benchmarks",
        "Baseline comparison: main",
        "regressed",
    ] {
        assert!(dom.contains(text), "{text:?} missing from the rendered DOM");
    }

    // Screenshot against an empty page of the same size.
    let blank_page = dir.join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let shot = |page: &Path, png: &Path| {
        let arg = format!("--screenshot={}", png.display());
        let out = chromium(
            &bin,
            &[&arg, "--window-size=1200,1400"],
            &format!("file://{}", page.display()),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::metadata(png).map(|m| m.len()).unwrap_or(0)
    };
    let report_png = shot(&page, &dir.join("report.png"));
    let blank_png = shot(&blank_page, &dir.join("blank.png"));
    assert!(blank_png > 0, "no screenshot of the blank page");
    assert!(
        report_png > 4 * blank_png,
        "report screenshot ({report_png} bytes) is not much more than an empty page ({blank_png} bytes)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A KPI row with verdict `verdict` (time KPIs are recorded in ns/iter whatever their key).
fn kpi(key: &str, op: &str, bound: f64, unit: &str, measured: f64, verdict: Verdict) -> KpiRow {
    KpiRow {
        key: key.into(),
        op: op.into(),
        bound,
        unit: unit.into(),
        measured: Some(measured),
        interval: Some((measured * 0.99, measured * 1.01)),
        verdict,
        margin_pct: Some((bound - measured) / bound * 100.0),
    }
}

/// A benchmark with 60 samples around `median_ns` (ns/iter).
fn timed(name: &str, cat: &str, median_ns: f64, kpis: Vec<KpiRow>) -> BenchRow {
    BenchRow {
        name: name.into(),
        category: cat.into(),
        outcome: if kpis.iter().any(|k| k.verdict == Verdict::Fail) {
            "failed".into()
        } else {
            "passed".into()
        },
        iterations: 1000,
        median_ns,
        median_ci: Some((median_ns * 0.99, median_ns * 1.01)),
        kpis,
        samples: (0..60)
            .map(|i| median_ns * (1.0 + ((i * 7 % 11) as f64 - 5.0) / 200.0))
            .collect(),
        ..BenchRow::empty()
    }
}

/// Four benchmarks: nanoseconds (passes; stepped up 30 % five runs ago), milliseconds
/// (fails its bound), microseconds (inconclusive), and one with a dozen GC metrics and no
/// KPI; twelve daily runs of history before this one.
fn views_input() -> (SuiteReport, Vec<RunSummary>) {
    let mut gc_metrics = timed("gc::bench_gc_metrics", "GC", 2.5e5, vec![]);
    gc_metrics.metrics = (0..12)
        .map(|i| MetricRow {
            name: format!("gc_metric_{i:02}_collections"),
            value: 1000.0 + i as f64,
            interval: Some((990.0 + i as f64, 1010.0 + i as f64)),
        })
        .collect();
    let rows = vec![
        timed(
            "jit::bench_dispatch",
            "JIT",
            30.112,
            vec![kpi("max_ns", "<=", 100.0, "ns/iter", 30.112, Verdict::Pass)],
        ),
        timed(
            "gc::bench_gc_pause",
            "GC",
            17_017_832.5,
            vec![kpi(
                "max_ms",
                "<=",
                15e6,
                "ns/iter",
                17_017_832.5,
                Verdict::Fail,
            )],
        ),
        timed(
            "tlb::bench_tlb_lookup",
            "TLB",
            450.0,
            // The interval straddles the bound: INCONCLUSIVE.
            vec![KpiRow {
                interval: Some((440.0, 470.0)),
                ..kpi(
                    "max_us",
                    "<=",
                    460.0,
                    "ns/iter",
                    450.0,
                    Verdict::Inconclusive,
                )
            }],
        ),
        gc_metrics,
    ];
    let env = Environment {
        timestamp: "2026-10-03T00:00:00.000Z".into(),
        timestamp_unix_ms: 1_790_000_000_000 + 12 * 86_400_000,
        git_commit: Some("f00dfeed00000000".into()),
        git_dirty: Some(false),
        rustc_version: "rustc".into(),
        target_triple: "x86_64-unknown-linux-gnu".into(),
        opt_level: "3".into(),
        profile: "test".into(),
        debug_assertions: false,
        bench_crate_optimized: Some(true),
        opt_probe_ns: None,
        cpu_model: "browser test CPU".into(),
        logical_cores: 2,
        os: "linux".into(),
        hostname: "views".into(),
    };
    let report = SuiteReport::new("browser views test", Some(env), rows);
    let history = (0..12u128)
        .map(|i| {
            let wobble = 1.0 + ((i * 7 % 5) as f64 - 2.0) / 200.0;
            let mut run = report.summary();
            run.timestamp_unix_ms = 1_790_000_000_000 + i * 86_400_000;
            run.id = format!("{:015}-c{i:02}", run.timestamp_unix_ms);
            run.git_commit = Some(format!("c{i:02}beef0000"));
            run.timestamp = format!("2026-09-{:02}T00:00:00.000Z", 21 + i % 10);
            for (name, m) in run.sample_medians.iter_mut() {
                let level = match name.as_str() {
                    // 30 % faster until run 7 (the current 30.1 ns is the slower level).
                    "jit::bench_dispatch" if i < 7 => 30.112 / 1.3,
                    "jit::bench_dispatch" => 30.112,
                    "gc::bench_gc_pause" => 1.6e7,
                    "tlb::bench_tlb_lookup" => 440.0,
                    _ => *m,
                };
                *m = level * wobble;
            }
            run
        })
        .collect();
    (report, history)
}

/// Text of every `<td class="num measured" ...>TEXT</td>` of the DOM, in order.
fn measured_cells(dom: &str) -> Vec<String> {
    dom.match_indices("<td class=\"num measured\"")
        .map(|(i, _)| {
            let rest = &dom[i..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest.find("</td>").unwrap();
            rest[start..end].to_string()
        })
        .collect()
}

#[test]
fn report_views_render_and_sort_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("report_views_render_and_sort_in_headless_chromium") else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-views");
    let _ = std::fs::remove_dir_all(&dir);
    let (mut r, history) = views_input();
    r.analyze_history(&history, &ChangePointConfig::default())
        .unwrap();
    let runs = r.history_with_this_run(&history);
    assert_eq!(runs.len(), 13);
    let out = dir.join("report");
    vm_bench_runtime::suite::output::write_report(&r, &runs, &out, Vec::new()).unwrap();
    let page = out.join("report.html");
    let o = chromium(&bin, &["--dump-dom"], &format!("file://{}", page.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();

    // Small multiples: one trend chart per benchmark with a history, each with a time
    // axis and its bound; the stepped benchmark has its change point marked with the
    // run's commit.
    let trend_open = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\"";
    assert_eq!(dom.matches(trend_open).count(), 4, "{dom}");
    let figure = |id: &str| {
        let i = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let end = dom[i..].find("</figure>").unwrap();
        dom[i..i + end].to_string()
    };
    for stem in [
        "jit.bench_dispatch",
        "gc.bench_gc_pause",
        "tlb.bench_tlb_lookup",
    ] {
        let f = figure(&format!("trend-{stem}"));
        assert!(f.contains("class=\"bound\""), "{stem}: no bound line");
        assert!(
            f.contains("class=\"axis-x\"") && f.contains(">2026-09-"),
            "{stem}: no time axis"
        );
        assert_eq!(f.matches("class=\"point\"").count(), 13, "{stem}");
    }
    let dispatch = figure("trend-jit.bench_dispatch");
    assert!(dispatch.contains("class=\"change-point\""), "{dispatch}");
    assert!(
        dispatch.contains(">c07beef<"),
        "commit label of the change: {dispatch}"
    );
    assert!(!figure("trend-gc.bench_gc_pause").contains("class=\"change-point\""));
    // The change-point table names run, commit, size and p-value, linked to the trend.
    assert!(dom.contains("<a href=\"#trend-jit.bench_dispatch\">jit::bench_dispatch</a>"));
    assert!(dom.contains("c07beef0000"));

    // Histograms: axes and the bound, for every benchmark with samples.
    for stem in [
        "jit.bench_dispatch",
        "gc.bench_gc_pause",
        "tlb.bench_tlb_lookup",
    ] {
        let f = figure(&format!("hist-{stem}"));
        for class in ["axis-x", "axis-y", "bound", "median"] {
            assert!(
                f.contains(&format!("class=\"{class}\"")),
                "{stem}: no {class}"
            );
        }
    }
    let pause = figure("hist-gc.bench_gc_pause");
    assert!(pause.contains(">ms/iter (60 samples)<"), "{pause}");
    assert!(pause.contains("bound &lt;= 15.00 ms"), "{pause}");

    // Units scaled to the value, one format everywhere.
    let measured = measured_cells(&dom);
    assert_eq!(
        measured,
        ["17.02 ms", "450.0 ns", "30.11 ns"],
        "failures first, then inconclusive, then passes; units scaled"
    );
    for bad in ["17017832", "0.03011", "e6", "e-"] {
        assert!(!dom.contains(&format!(">{bad}")), "unscaled value {bad:?}");
    }

    // Failures first and linked: the attention list links to rows that exist.
    let attention = &dom[dom
        .find("<ul class=\"attention\">")
        .expect("attention list")..];
    let attention = &attention[..attention.find("</ul>").unwrap()];
    let links: Vec<&str> = attention
        .match_indices("href=\"#")
        .map(|(i, _)| {
            let rest = &attention[i + 7..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        links,
        [
            "row-gc.bench_gc_pause-max_ms",
            "row-tlb.bench_tlb_lookup-max_us"
        ]
    );
    for id in &links {
        assert!(dom.contains(&format!("<tr id=\"{id}\"")), "no row #{id}");
    }
    let rows: Vec<usize> = ["FAIL</td>", "INCONCLUSIVE</td>", "PASS</td>"]
        .iter()
        .map(|v| dom.find(&format!("\">{v}")).unwrap())
        .collect();
    assert!(rows[0] < rows[1] && rows[1] < rows[2], "row order");

    // The change against the previous run without a baseline.
    let previous: Vec<&str> = dom
        .match_indices("class=\"num previous")
        .map(|(i, _)| &dom[i..i + dom[i..].find("</td>").unwrap()])
        .collect();
    assert_eq!(previous.len(), 4, "{previous:?}");
    assert!(previous.iter().all(|c| c.contains('%')), "{previous:?}");

    // GC metrics: a list laid out in columns, not one cell.
    let metrics = figure_like(&dom, "metrics-gc.bench_gc_metrics", "</dl>");
    assert!(metrics.contains("<dl class=\"metric-list\">"));
    assert_eq!(metrics.matches("<dt>").count(), 12);

    // Sorting: a page that frames the report clicks headers and records the orders.
    let harness = out.join("sort-harness.html");
    std::fs::write(&harness, SORT_HARNESS).unwrap();
    let o = chromium(
        &bin,
        &["--allow-file-access-from-files", "--dump-dom"],
        &format!("file://{}", harness.display()),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dom2 = String::from_utf8_lossy(&o.stdout);
    let result = figure_like(&dom2, "result", "</pre>");
    for want in [
        // Median time ascending and descending, numerically (30 ns < 450 ns < 250 us < 17 ms).
        "median-asc:30.11 ns/iter|450.0 ns/iter|250.0 us/iter|17.02 ms/iter",
        "median-desc:17.02 ms/iter|250.0 us/iter|450.0 ns/iter|30.11 ns/iter",
        "aria:descending",
        "bench-asc:bench_dispatch|bench_gc_metrics|bench_gc_pause|bench_tlb_lookup",
    ] {
        assert!(result.contains(want), "{want:?} not in {result}");
    }

    // A screenshot, kept in the test output directory.
    let png = dir.join("report.png");
    let arg = format!("--screenshot={}", png.display());
    let o = chromium(
        &bin,
        &[&arg, "--window-size=1400,2400"],
        &format!("file://{}", page.display()),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 50_000,
        "screenshot {} is {size} bytes",
        png.display()
    );
    let _ = std::io::stderr()
        .write_all(format!("\nreport and screenshot: {}\n", dir.display()).as_bytes());
}

/// The text from `id="<id>"` to the next `end`.
fn figure_like(dom: &str, id: &str, end: &str) -> String {
    let i = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let e = dom[i..].find(end).unwrap_or(dom.len() - i);
    dom[i..i + e].to_string()
}

/// Frames report.html, clicks the "Median time" header twice and "Benchmark" once, and
/// writes each resulting column order into `<pre id="result">`.
const SORT_HARNESS: &str = r#"<!DOCTYPE html><html><body><iframe id="f" src="report.html" width="1200" height="800"></iframe><pre id="result">pending</pre>
<script>
window.addEventListener('load', function () {
  var out = [];
  try {
    var d = document.getElementById('f').contentDocument;
    var table = d.getElementById('results-table');
    var heads = table.tHead.rows[0].cells;
    function header(text) { for (var i = 0; i < heads.length; i++) { if (heads[i].textContent === text) { return i; } } return -1; }
    function column(i) { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[i].textContent; }).join('|'); }
    var median = header('Median time'), bench = header('Benchmark');
    heads[median].click();
    out.push('median-asc:' + column(median));
    heads[median].click();
    out.push('median-desc:' + column(median));
    out.push('aria:' + heads[median].getAttribute('aria-sort'));
    heads[bench].click();
    out.push('bench-asc:' + column(bench));
  } catch (e) { out.push('error:' + e); }
  document.getElementById('result').textContent = out.join('\n');
});
</script></body></html>
"#;
