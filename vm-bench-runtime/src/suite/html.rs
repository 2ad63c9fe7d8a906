//! `report.html`: one static page that links everything a report directory holds (tables,
//! charts, the JSON/CSV/Markdown reports and the exports). It uses relative links only, no
//! external resources and no server, so it opens from the file system (`file://`) or from
//! a CI artifact download. A small inline script marks charts that fail to load, and
//! records `data-charts-loaded="loaded/total"` on `<body>` so a headless browser test can
//! check that every chart rendered.

use std::fmt::Write as _;

use crate::suite::baseline::Change;
use crate::suite::chart::Chart;
use crate::suite::format::{chart_file_stem, num, sig, target_text, xml_escape as esc};
use crate::suite::report::{metrics_text, SuiteReport};

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#202020;max-width:1200px}\
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #c8c8c8;padding:4px 8px;text-align:left}\
th{background:#f0f0f0}.PASS{background:#d7efd9}.FAIL{background:#f6d0d0}.INCONCLUSIVE{background:#fbecc5}\
.MISSING{background:#e0e0e0}.regressed{background:#f6d0d0}.improved{background:#d7efd9}\
.verdict{font-size:20px;font-weight:bold;padding:8px 12px;display:inline-block}\
figure{margin:12px 0 24px}img{max-width:100%;border:1px solid #e0e0e0}\
img.broken{outline:3px solid #c03030}#chart-warning{color:#c03030;font-weight:bold}";

const SCRIPT: &str = "window.addEventListener('load',function(){var imgs=document.images,ok=0;\
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){ok++;}else{imgs[i].className+=' broken';}}\
document.body.setAttribute('data-charts-loaded',ok+'/'+imgs.length);\
if(ok<imgs.length){document.getElementById('chart-warning').textContent=(imgs.length-ok)+' chart(s) failed to load';}});";

/// Renders `report.html`; `charts` are the suite-wide charts written beside it.
pub fn render(r: &SuiteReport, charts: &[Chart]) -> String {
    let mut s = String::new();
    let passed = r.passed();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Performance report</title>\n<style>{STYLE}</style>\n</head>\n<body data-charts-loaded=\"pending\">\n<h1>Performance report</h1>\n<p class=\"verdict {}\" id=\"verdict\">{}</p>\n<p id=\"chart-warning\"></p>\n",
        if passed { "PASS" } else { "FAIL" },
        esc(&r.headline())
    );
    let failures = r.failures();
    if !failures.is_empty() {
        s.push_str("<h2>Failures</h2>\n<ul>\n");
        for f in failures {
            let _ = writeln!(s, "<li>{}</li>", esc(&f));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("<h2>Environment</h2>\n<table>\n");
    for (k, v) in r.environment_lines() {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    let _ = writeln!(
        s,
        "<tr><th>targets</th><td>{}</td></tr>\n<tr><th>built by</th><td>{}</td></tr>\n</table>",
        esc(&r.targets.describe()),
        esc(&r.runner)
    );
    s.push_str("<p>Files: <a href=\"report.json\">report.json</a> · <a href=\"report.csv\">report.csv</a> · <a href=\"report.md\">report.md</a> · <a href=\"bencher.json\">bencher.json</a> (Bencher Metric Format) · <a href=\"github-action-benchmark.json\">github-action-benchmark.json</a> (customSmallerIsBetter) · <a href=\"github-action-benchmark-bigger.json\">github-action-benchmark-bigger.json</a> (customBiggerIsBetter)</p>\n");
    for c in charts {
        let _ = writeln!(
            s,
            "<figure><img src=\"{}\" alt=\"{}\"><figcaption><a href=\"{}\">{}</a></figcaption></figure>",
            esc(&c.file),
            esc(&c.title),
            esc(&c.file),
            esc(&c.title)
        );
    }
    for cat in r.categories() {
        let _ = writeln!(s, "<h2>{}</h2>\n<table>\n<tr><th>Benchmark</th><th>KPI</th><th>Target</th><th>Measured</th><th>95% interval</th><th>Verdict</th><th>Margin</th><th>Median time</th><th>Samples</th></tr>", esc(cat));
        for row in r.results.iter().filter(|x| x.category == cat) {
            let short = row.name.rsplit("::").next().unwrap_or(&row.name);
            // The flame graph sits beside the artifact; both runners' default report
            // directory is a subdirectory of the artifact directory.
            let flame = row
                .flamegraph
                .as_deref()
                .map(|f| {
                    format!(
                        " <a class=\"flamegraph\" href=\"../{}\">flame graph</a>",
                        esc(f)
                    )
                })
                .unwrap_or_default();
            let samples = if row.samples.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "<a href=\"charts/{}.svg\">histogram</a>",
                    esc(&chart_file_stem(&row.name))
                )
            };
            let median = if row.median_ns > 0.0 {
                format!("{} ns", num(row.median_ns))
            } else {
                "-".into()
            };
            let checks: Vec<_> = r
                .target_checks
                .iter()
                .filter(|c| c.target.name == row.name)
                .collect();
            if checks.is_empty() {
                let _ = writeln!(
                    s,
                    "<tr><td title=\"{}\">{}{flame}</td><td>{}</td><td>-</td><td>-</td><td>-</td><td>{}</td><td>-</td><td>{median}</td><td>{samples}</td></tr>",
                    esc(&row.name),
                    esc(short),
                    esc(&metrics_text(row)),
                    esc(&row.outcome)
                );
            }
            for c in checks {
                let unit = if c.target.unit.is_empty() {
                    String::new()
                } else {
                    format!(" {}", c.target.unit)
                };
                let _ = writeln!(
                    s,
                    "<tr><td title=\"{}\">{}{flame}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{median}</td><td>{samples}</td></tr>",
                    esc(&row.name),
                    esc(short),
                    esc(&c.target.metric),
                    esc(&target_text(c)),
                    c.measured.map(|v| format!("{}{}", sig(v), esc(&unit))).unwrap_or("-".into()),
                    c.interval.map(|(lo, hi)| format!("[{}, {}]", sig(lo), sig(hi))).unwrap_or("-".into()),
                    c.verdict,
                    c.verdict,
                    c.margin_pct.map(|m| format!("{m:+.1}%")).unwrap_or("-".into()),
                );
            }
        }
        s.push_str("</table>\n");
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(s, "<h2>Baseline comparison: {}</h2>\n<p>Mann-Whitney U, alpha {}, noise threshold {}% (raised per benchmark to its run-to-run noise in the history), a regression above {}% fails. Samples are ns per iteration, or candidate/baseline ratios for relative benchmarks.</p>\n<table>\n<tr><th>Benchmark</th><th>Baseline median</th><th>Current median</th><th>Unit</th><th>Change</th><th>Noise threshold</th><th>p-value</th><th>Result</th></tr>", esc(&b.baseline), b.alpha, b.noise_pct, b.fail_pct);
        for c in &b.comparisons {
            let class = match c.change {
                Change::Regressed => "regressed",
                Change::Improved => "improved",
                _ => "",
            };
            let _ = writeln!(
                s,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>±{}%</td><td>{}</td><td>{}{}</td></tr>",
                esc(&c.name),
                c.baseline_median.map(sig).unwrap_or("-".into()),
                c.current_median.map(sig).unwrap_or("-".into()),
                esc(r.samples_unit_of(&c.name)),
                c.change_pct.map(|p| format!("{p:+.1}%")).unwrap_or("-".into()),
                sig(c.noise_pct),
                c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into()),
                c.change,
                if c.fails { " (fails the run)" } else { "" }
            );
        }
        s.push_str("</table>\n");
    }
    let _ = write!(s, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    s
}
