//! `report.html`: one static page that a person reads top to bottom. It uses relative
//! links only and inline SVG, CSS and script, no external resources and no server, so it
//! opens from the file system (`file://`) or from a CI artifact download.
//!
//! Order: the verdict; what needs attention (failing, missing and inconclusive KPIs,
//! panicked benchmarks), each linked to its row; change points in the history; the
//! results table (failures first, sortable, with each row's change against the previous
//! run); one small trend chart per benchmark; the sample histograms; custom metrics;
//! the baseline comparison; the suite-wide charts; the environment and files.
//!
//! Two small inline scripts: clicking a header of a `table.sortable` sorts its rows
//! (cells with `data-sort` sort as numbers), and the page records
//! `data-charts-loaded="loaded/total"` on `<body>` for its `<img>` charts, so a headless
//! browser test can check that every chart decoded.

use std::fmt::Write as _;

use crate::artifact::Verdict;
use crate::row::BenchRow;
use crate::suite::baseline::{Change, CompareConfig};
use crate::suite::chart::{Chart, ChartKind};
use crate::suite::format::{
    chart_file_stem, percent, quantity, quantity_range, sig, target_text, time_unit,
    xml_escape as esc,
};
use crate::suite::report::SuiteReport;
use crate::targets::TargetCheck;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#202020;max-width:1400px}\
h2{margin-top:32px;border-bottom:1px solid #d0d0d0}\
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #c8c8c8;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}table.sortable th{cursor:pointer;user-select:none}\
table.sortable th[aria-sort=ascending]::after{content:' \\25B2'}table.sortable th[aria-sort=descending]::after{content:' \\25BC'}\
td.num{text-align:right;white-space:nowrap}\
.PASS{background:#d7efd9}.FAIL{background:#f6d0d0}.INCONCLUSIVE{background:#fbecc5}\
.MISSING{background:#e0e0e0}.regressed,.slower{background:#f6d0d0}.improved,.faster{background:#d7efd9}\
.verdict{font-size:20px;font-weight:bold;padding:8px 12px;display:inline-block}\
:target{outline:3px solid #0072b2}\
ul.attention li{margin:4px 0;padding:2px 6px}\
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(344px,1fr));gap:8px}\
.multiples figure,.histograms figure{margin:0;border:1px solid #e0e0e0}\
.histograms{display:grid;grid-template-columns:repeat(auto-fill,minmax(644px,1fr));gap:8px}\
figure{margin:12px 0 24px}figcaption{font-size:12px;padding:2px 6px}img{max-width:100%;border:1px solid #e0e0e0}\
img.broken{outline:3px solid #c03030}#chart-warning{color:#c03030;font-weight:bold}\
dl.metric-list{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:2px 16px;margin:4px 0 16px}\
dl.metric-list div{display:flex;justify-content:space-between;border-bottom:1px dotted #d0d0d0;padding:2px 0}\
dl.metric-list dt{font-family:monospace}dl.metric-list dd{margin:0 0 0 12px;white-space:nowrap}\
nav a{margin-right:12px}";

/// Marks charts that failed to load; counts the ones that did.
const CHART_SCRIPT: &str = "window.addEventListener('load',function(){var imgs=document.images,ok=0;\
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){ok++;}else{imgs[i].className+=' broken';}}\
document.body.setAttribute('data-charts-loaded',ok+'/'+imgs.length);\
if(ok<imgs.length){document.getElementById('chart-warning').textContent=(imgs.length-ok)+' chart(s) failed to load';}});";

/// Click a header of a `table.sortable` to sort by that column; again to reverse. A cell's
/// `data-sort` is its numeric key (numbers sort numerically, before cells without one);
/// other cells sort by text. The header records the order in `aria-sort`.
const SORT_SCRIPT: &str = "function vmbKey(c){var d=c.getAttribute('data-sort');if(d!==null&&d!==''){var n=parseFloat(d);if(!isNaN(n)){return n;}}return null;}\
function vmbSort(th){var tr=th.parentNode,table=tr.closest('table'),col=Array.prototype.indexOf.call(tr.children,th);\
var asc=th.getAttribute('aria-sort')!=='ascending';var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);\
rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];var p=vmbKey(x),q=vmbKey(y);var r;\
if(p!==null&&q!==null){r=p-q;}else if(p!==null){return -1;}else if(q!==null){return 1;}else{r=x.textContent.localeCompare(y.textContent);}\
return asc?r:-r;});rows.forEach(function(r){body.appendChild(r);});\
Array.prototype.forEach.call(tr.children,function(h){h.removeAttribute('aria-sort');});th.setAttribute('aria-sort',asc?'ascending':'descending');}\
document.addEventListener('click',function(e){var th=e.target.closest('table.sortable thead th');if(th){vmbSort(th);}});";

/// Sort rank of a verdict: what needs attention first.
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Fail => 0,
        Verdict::Missing => 1,
        Verdict::Inconclusive => 2,
        Verdict::Pass => 3,
    }
}

/// The id of a KPI's row in the results table.
fn row_id(benchmark: &str, metric: &str) -> String {
    format!(
        "row-{}-{}",
        chart_file_stem(benchmark),
        chart_file_stem(metric)
    )
}

/// A value's numeric sort key: times in ns, other units as they are.
fn sort_key(v: f64, unit: &str) -> String {
    let k = time_unit(unit).map_or(v, |(ns, _)| v * ns);
    format!("{k}")
}

/// The report directory's folder of flame graph copies (written by
/// [`crate::suite::output::collect_flamegraphs`], linked from the rows).
pub const FLAMEGRAPH_DIR: &str = "flamegraphs";

/// The flame-graph link of a benchmark, when its artifact names one
/// ([`BenchRow::flamegraph`]). Kept in one place so the flame graph's rendering can
/// change without touching the table. The artifact names a plain file beside it (checked
/// when artifacts load); the report directory holds a copy in `flamegraphs/`
/// ([`crate::suite::output::collect_flamegraphs`]), so the link works wherever the
/// report directory is moved or uploaded.
fn flamegraph_link(row: &BenchRow) -> Option<String> {
    let file = row.flamegraph.as_deref()?;
    Some(format!(
        "<a class=\"flamegraph\" href=\"{}/{}\">flame graph</a>",
        FLAMEGRAPH_DIR,
        esc(file)
    ))
}

/// Renders `report.html`: `charts` are the suite-wide charts written beside it (shown as
/// images), `per_benchmark` the trends and histograms (inlined).
pub fn render(r: &SuiteReport, charts: &[Chart], per_benchmark: &[Chart]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Performance report</title>\n<style>{STYLE}</style>\n</head>\n<body data-charts-loaded=\"pending\">\n<h1>Performance report</h1>\n<p class=\"verdict {}\" id=\"verdict\">{}</p>\n<p id=\"chart-warning\"></p>\n",
        if r.passed() { "PASS" } else { "FAIL" },
        esc(&r.headline())
    );
    s.push_str("<nav><a href=\"#attention\">Needs attention</a><a href=\"#results\">Results</a><a href=\"#change-points\">Change points</a><a href=\"#trends\">Trends</a><a href=\"#histograms\">Histograms</a><a href=\"#metrics\">Metrics</a><a href=\"#environment\">Environment</a></nav>\n");
    attention(&mut s, r);
    change_points(&mut s, r);
    results(&mut s, r, per_benchmark);
    trends(&mut s, per_benchmark);
    histograms(&mut s, per_benchmark);
    metrics(&mut s, r);
    baseline(&mut s, r);
    if !charts.is_empty() {
        s.push_str("<h2 id=\"suite-charts\">Suite charts</h2>\n");
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
    }
    s.push_str("<h2 id=\"environment\">Environment</h2>\n<table>\n");
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
    let _ = write!(
        s,
        "<script>{CHART_SCRIPT}</script>\n<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n"
    );
    s
}

/// What fails or is uncertain, linked to its row.
fn attention(s: &mut String, r: &SuiteReport) {
    s.push_str("<h2 id=\"attention\">Needs attention</h2>\n");
    let mut items: Vec<(u8, String)> = Vec::new();
    for row in r.results.iter().filter(|x| x.outcome == "panicked") {
        items.push((
            0,
            format!(
                "<li class=\"FAIL\"><a href=\"#{}\">{}</a>: panicked</li>",
                row_id(&row.name, "outcome"),
                esc(&row.name)
            ),
        ));
    }
    for c in r
        .target_checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
    {
        items.push((
            severity(c.verdict),
            format!(
                "<li class=\"{v}\"><a href=\"#{}\">{}.{}</a>: {v}{}; target {}; measured {}{}</li>",
                row_id(&c.target.name, &c.target.metric),
                esc(&c.target.name),
                esc(&c.target.metric),
                if c.ok() { " (not enforced)" } else { "" },
                esc(&target_text(c)),
                c.measured
                    .map(|m| esc(&quantity(m, &c.target.unit)))
                    .unwrap_or("nothing".into()),
                c.margin_pct
                    .map(|m| if m < 0.0 {
                        format!(" ({:.1}% beyond the bound)", -m)
                    } else {
                        format!(" ({m:.1}% within the bound)")
                    })
                    .unwrap_or_default(),
                v = c.verdict,
            ),
        ));
    }
    if let Some(b) = &r.baseline {
        for c in b.comparisons.iter().filter(|c| c.fails) {
            items.push((
                0,
                format!(
                    "<li class=\"FAIL\"><a href=\"#baseline\">{}</a>: regressed {} against baseline {}</li>",
                    esc(&c.name),
                    c.change_pct.map(percent).unwrap_or("-".into()),
                    esc(&b.baseline)
                ),
            ));
        }
    }
    if items.is_empty() {
        s.push_str("<p id=\"attention-none\">Every KPI passed.</p>\n");
        return;
    }
    items.sort_by_key(|i| i.0);
    s.push_str("<ul class=\"attention\">\n");
    for (_, li) in items {
        s.push_str(&li);
        s.push('\n');
    }
    s.push_str("</ul>\n");
}

/// Change points found in the history, each linked to its benchmark's trend.
fn change_points(s: &mut String, r: &SuiteReport) {
    let Some(h) = &r.history else {
        s.push_str("<h2 id=\"change-points\">Change points</h2>\n<p>No history was read (--no-history).</p>\n");
        return;
    };
    let _ = writeln!(
        s,
        "<h2 id=\"change-points\">Change points in the last {} runs</h2>\n<p>E-divisive means over each benchmark's run medians; a change point is the first run after a step, accepted when the permutation p-value is at most {} ({} permutations) and the step moves the median by at least {}%.</p>",
        h.runs, h.alpha, h.permutations, h.min_change_pct
    );
    let rows: Vec<_> = h
        .benchmarks
        .iter()
        .flat_map(|b| b.change_points.iter().map(move |c| (b, c)))
        .collect();
    if rows.is_empty() {
        s.push_str("<p id=\"change-points-none\">None found.</p>\n");
        return;
    }
    s.push_str("<table class=\"sortable\" id=\"change-point-table\">\n<thead><tr><th>Benchmark</th><th>First run after</th><th>Commit</th><th>Median before</th><th>Median after</th><th>Change</th><th>p-value</th><th>Confidence</th></tr></thead>\n<tbody>\n");
    for (b, c) in rows {
        let class = match c.change_pct {
            Some(p) if p > 0.0 => "slower",
            Some(_) => "faster",
            None => "",
        };
        let _ = writeln!(
            s,
            "<tr class=\"{class}\"><td><a href=\"#trend-{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\" data-sort=\"{}\">{:.3}</td><td class=\"num\">{:.1}%</td></tr>",
            chart_file_stem(&b.name),
            esc(&b.name),
            esc(&c.run.timestamp),
            esc(c.run.commit.as_deref().unwrap_or("unknown")),
            sort_key(c.before_median, &b.unit),
            esc(&quantity(c.before_median, &b.unit)),
            sort_key(c.after_median, &b.unit),
            esc(&quantity(c.after_median, &b.unit)),
            c.change_pct.unwrap_or(0.0),
            c.change_pct.map(percent).unwrap_or("-".into()),
            c.p_value,
            c.p_value,
            (1.0 - c.p_value) * 100.0
        );
    }
    s.push_str("</tbody>\n</table>\n");
}

/// The change of a benchmark against the previous run, as a cell.
fn previous_run_cell(r: &SuiteReport, name: &str) -> String {
    let Some(p) = r
        .history
        .as_ref()
        .and_then(|h| h.benchmark(name))
        .and_then(|b| b.previous.as_ref().map(|p| (b, p)))
    else {
        return "<td class=\"num previous\">-</td>".into();
    };
    let (b, p) = p;
    let noise = CompareConfig::default().noise_pct;
    let class = match p.change_pct {
        Some(c) if c > noise => " slower",
        Some(c) if c < -noise => " faster",
        _ => "",
    };
    format!(
        "<td class=\"num previous{class}\" data-sort=\"{}\" title=\"previous run {} ({}): {} → {}\">{}</td>",
        p.change_pct.unwrap_or(0.0),
        esc(&p.previous.label()),
        esc(&p.previous.timestamp),
        esc(&quantity(p.previous_median, &b.unit)),
        esc(&quantity(p.current_median, &b.unit)),
        p.change_pct.map(percent).unwrap_or("-".into())
    )
}

/// The results table: one row per KPI (a benchmark without KPIs gets one row), failing,
/// missing and inconclusive first.
fn results(s: &mut String, r: &SuiteReport, per_benchmark: &[Chart]) {
    s.push_str("<h2 id=\"results\">Results</h2>\n<p>Failing, missing and inconclusive KPIs first. Click a column header to sort. <em>vs previous run</em> is the change of the benchmark's median against the previous recorded run.</p>\n");
    s.push_str("<table class=\"sortable\" id=\"results-table\">\n<thead><tr><th>Benchmark</th><th>Category</th><th>KPI</th><th>Target</th><th>Measured</th><th>95% interval</th><th>Verdict</th><th>Margin</th><th>Median time</th><th>vs previous run</th><th>Details</th></tr></thead>\n<tbody>\n");
    let mut rows: Vec<(u8, &str, String, String)> = Vec::new();
    for row in &r.results {
        let short = row.name.rsplit("::").next().unwrap_or(&row.name);
        let stem = chart_file_stem(&row.name);
        let has = |kind: fn(&ChartKind, &str) -> bool| {
            per_benchmark.iter().any(|c| kind(&c.kind, &row.name))
        };
        let mut details: Vec<String> = Vec::new();
        if has(|k, n| matches!(k, ChartKind::Trend { benchmark } if benchmark == n)) {
            details.push(format!("<a href=\"#trend-{stem}\">trend</a>"));
        }
        if has(|k, n| matches!(k, ChartKind::Histogram { benchmark } if benchmark == n)) {
            details.push(format!("<a href=\"#hist-{stem}\">histogram</a>"));
        }
        if !row.metrics.is_empty() {
            let n = row.metrics.len();
            details.push(format!(
                "<a href=\"#metrics-{stem}\">{n} metric{}</a>",
                if n == 1 { "" } else { "s" }
            ));
        }
        // The flame graph's spot.
        if let Some(link) = flamegraph_link(row) {
            details.push(link);
        }
        let details = if details.is_empty() {
            "-".to_string()
        } else {
            details.join(" · ")
        };
        let median = if row.median_ns > 0.0 {
            format!(
                "<td class=\"num\" data-sort=\"{}\">{}</td>",
                row.median_ns,
                esc(&quantity(row.median_ns, "ns/iter"))
            )
        } else {
            "<td class=\"num\">-</td>".into()
        };
        let previous = previous_run_cell(r, &row.name);
        let head = format!(
            "<td title=\"{}\">{}</td><td>{}</td>",
            esc(&row.name),
            esc(short),
            esc(&row.category)
        );
        let checks: Vec<&TargetCheck> = r
            .target_checks
            .iter()
            .filter(|c| c.target.name == row.name)
            .collect();
        if checks.is_empty() {
            let rank = if row.outcome == "panicked" { 0 } else { 4 };
            rows.push((
                rank,
                &row.name,
                String::new(),
                format!(
                    "<tr id=\"{}\">{head}<td>-</td><td>-</td><td>-</td><td>-</td><td data-sort=\"{rank}\">{}</td><td>-</td>{median}{previous}<td>{details}</td></tr>",
                    row_id(&row.name, "outcome"),
                    esc(&row.outcome)
                ),
            ));
        }
        for c in checks {
            let unit = &c.target.unit;
            rows.push((
                severity(c.verdict),
                &row.name,
                c.target.metric.clone(),
                format!(
                    "<tr id=\"{}\">{head}<td>{}</td><td>{}</td>{}{}<td class=\"{v}\" data-sort=\"{}\">{v}</td>{}{median}{previous}<td>{details}</td></tr>",
                    row_id(&row.name, &c.target.metric),
                    esc(&c.target.metric),
                    esc(&target_text(c)),
                    c.measured
                        .map(|m| format!(
                            "<td class=\"num measured\" data-sort=\"{}\">{}</td>",
                            sort_key(m, unit),
                            esc(&quantity(m, unit))
                        ))
                        .unwrap_or("<td class=\"num measured\">-</td>".into()),
                    c.interval
                        .map(|(lo, hi)| format!(
                            "<td class=\"num\">{}</td>",
                            esc(&quantity_range(lo, hi, unit))
                        ))
                        .unwrap_or("<td class=\"num\">-</td>".into()),
                    severity(c.verdict),
                    c.margin_pct
                        .map(|m| format!("<td class=\"num\" data-sort=\"{m}\">{}</td>", percent(m)))
                        .unwrap_or("<td class=\"num\">-</td>".into()),
                    v = c.verdict,
                ),
            ));
        }
    }
    rows.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    for (_, _, _, tr) in rows {
        s.push_str(&tr);
        s.push('\n');
    }
    s.push_str("</tbody>\n</table>\n");
}

/// One small trend chart per benchmark.
fn trends(s: &mut String, per_benchmark: &[Chart]) {
    s.push_str("<h2 id=\"trends\">Trends</h2>\n");
    let charts: Vec<(&String, &Chart)> = per_benchmark
        .iter()
        .filter_map(|c| match &c.kind {
            ChartKind::Trend { benchmark } => Some((benchmark, c)),
            _ => None,
        })
        .collect();
    if charts.is_empty() {
        s.push_str("<p>Fewer than two recorded runs: no trend yet.</p>\n");
        return;
    }
    s.push_str("<p>Each benchmark's median per run on a time axis (dates at the ends; hover a point for its commit), the bound dashed red, change points as orange lines labelled with the change and its p-value and commit.</p>\n<div class=\"multiples\">\n");
    for (name, c) in charts {
        let _ = writeln!(
            s,
            "<figure class=\"trend-figure\" id=\"trend-{}\">{}<figcaption><a href=\"{}\">{}</a></figcaption></figure>",
            chart_file_stem(name),
            c.svg.trim_end(),
            esc(&c.file),
            esc(&c.title)
        );
    }
    s.push_str("</div>\n");
}

/// The sample histograms.
fn histograms(s: &mut String, per_benchmark: &[Chart]) {
    s.push_str("<h2 id=\"histograms\">Sample distributions</h2>\n");
    let charts: Vec<(&String, &Chart)> = per_benchmark
        .iter()
        .filter_map(|c| match &c.kind {
            ChartKind::Histogram { benchmark } => Some((benchmark, c)),
            _ => None,
        })
        .collect();
    if charts.is_empty() {
        s.push_str("<p>No samples recorded.</p>\n");
        return;
    }
    s.push_str("<p>Per-iteration samples (or candidate/baseline ratios), the median in black, the KPI bound dashed red (or, when it lies far beyond the samples, a red arrow at the edge of the axis, so the bars keep their width).</p>\n<div class=\"histograms\">\n");
    for (name, c) in charts {
        let _ = writeln!(
            s,
            "<figure id=\"hist-{}\">{}<figcaption><a href=\"{}\">{}</a></figcaption></figure>",
            chart_file_stem(name),
            c.svg.trim_end(),
            esc(&c.file),
            esc(&c.title)
        );
    }
    s.push_str("</div>\n");
}

/// Custom metrics, one list per benchmark laid out in columns.
fn metrics(s: &mut String, r: &SuiteReport) {
    s.push_str("<h2 id=\"metrics\">Metrics</h2>\n");
    let with: Vec<&BenchRow> = r.results.iter().filter(|x| !x.metrics.is_empty()).collect();
    if with.is_empty() {
        s.push_str("<p>No custom metrics reported.</p>\n");
        return;
    }
    for row in with {
        let _ = writeln!(
            s,
            "<h3 id=\"metrics-{}\">{}</h3>\n<dl class=\"metric-list\">",
            chart_file_stem(&row.name),
            esc(&row.name)
        );
        for m in &row.metrics {
            let interval = m
                .interval
                .filter(|(lo, hi)| lo != hi)
                .map(|(lo, hi)| format!(" <small>[{}, {}]</small>", sig(lo), sig(hi)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "<div><dt>{}</dt><dd>{}{interval}</dd></div>",
                esc(&m.name),
                sig(m.value)
            );
        }
        s.push_str("</dl>\n");
    }
}

/// The baseline comparison table.
fn baseline(s: &mut String, r: &SuiteReport) {
    let Some(b) = &r.baseline else {
        return;
    };
    let _ = writeln!(s, "<h2 id=\"baseline\">Baseline comparison: {}</h2>\n<p>Mann-Whitney U, alpha {}, noise threshold {}% (raised per benchmark to its run-to-run noise in the history), a regression above {}% fails. Samples are ns per iteration, or candidate/baseline ratios for relative benchmarks.</p>\n<table class=\"sortable\" id=\"baseline-table\">\n<thead><tr><th>Benchmark</th><th>Baseline median</th><th>Current median</th><th>Change</th><th>Noise threshold</th><th>p-value</th><th>Result</th></tr></thead>\n<tbody>", esc(&b.baseline), b.alpha, b.noise_pct, b.fail_pct);
    for c in &b.comparisons {
        let class = match c.change {
            Change::Regressed => "regressed",
            Change::Improved => "improved",
            _ => "",
        };
        let unit = r.samples_unit_of(&c.name);
        let cell = |v: Option<f64>| match v {
            Some(v) => format!(
                "<td class=\"num\" data-sort=\"{}\">{}</td>",
                sort_key(v, unit),
                esc(&quantity(v, unit))
            ),
            None => "<td class=\"num\">-</td>".into(),
        };
        let _ = writeln!(
            s,
            "<tr class=\"{class}\"><td>{}</td>{}{}<td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\">±{}%</td><td class=\"num\" data-sort=\"{}\">{}</td><td>{}{}</td></tr>",
            esc(&c.name),
            cell(c.baseline_median),
            cell(c.current_median),
            c.change_pct.unwrap_or(0.0),
            c.change_pct.map(percent).unwrap_or("-".into()),
            sig(c.noise_pct),
            c.p_value.unwrap_or(1.0),
            c.p_value.map(|p| format!("{p:.2e}")).unwrap_or("-".into()),
            c.change,
            if c.fails { " (fails the run)" } else { "" }
        );
    }
    s.push_str("</tbody>\n</table>\n");
}
