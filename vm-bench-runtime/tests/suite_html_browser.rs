//! `report.html` rendered by a real browser: headless Chromium loads the page from the file
//! system (no server), its inline script records how many charts decoded
//! (`data-charts-loaded="k/n"` on `<body>`), and `--dump-dom` returns the DOM after the load
//! event, so the test sees whether every chart rendered and the tables are there. A
//! screenshot of the report is also compared with one of an empty page of the same size:
//! a page that renders nothing compresses to the same few kilobytes.
//!
//! Chromium: `$VM_BENCH_CHROMIUM`, else `chromium`, `chromium-browser`, `google-chrome` on
//! `PATH` (Debian package `chromium`). Where none is installed the test passes with a
//! message printed straight to stderr, so it shows even though libtest captures output.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use vm_bench_runtime::artifact::Verdict;
use vm_bench_runtime::suite::baseline::{Baseline, CompareConfig, BASELINE_SCHEMA};
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
    let Some(bin) = find_chromium() else {
        let _ = std::io::stderr().write_all(
            b"\nSKIPPED report_html_renders_in_headless_chromium: no Chromium found \
              (install the Debian package `chromium` or set VM_BENCH_CHROMIUM)\n",
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("vmb-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // All three suite-wide charts: KPI budget, baseline vs current, trend over two runs.
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
    vm_bench_runtime::suite::output::write_report(&r, &history, &dir).unwrap();
    let page = dir.join("report.html");
    let url = format!("file://{}", page.display());

    let out = chromium(&bin, &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The three suite-wide charts are embedded, and the browser decoded all of them.
    let images = dom.matches("<img ").count();
    assert_eq!(images, 3, "suite-wide charts embedded in the page:\n{dom}");
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
