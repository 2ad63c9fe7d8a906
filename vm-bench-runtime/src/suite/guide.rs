//! The benchmark guide's KPI table, generated from the registry, and the consistency
//! checks of a suite's registry: every benchmark found in the sources is linked, short
//! names are unique, every benchmark names its category, and the guide's table equals
//! the generated one. A suite bench (`suite::Suite`) runs these checks under plain
//! `cargo test` (its check mode), so neither the registry nor the guide can drift silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::registry::BenchEntry;
use crate::spec::KpiSpec;

/// Marker line before the generated table in the guide.
pub const TABLE_BEGIN: &str = "<!-- kpi-table:begin -->\n";
/// Marker after the generated table.
pub const TABLE_END: &str = "<!-- kpi-table:end -->";
/// The command that regenerates a guide's KPI table (`<suite>` is the suite's bench name;
/// the test profile reuses the build `cargo test` already made).
pub const UPDATE_COMMAND: &str = "cargo test --bench <suite> -- --update-guide";

/// A declared bound as the guide writes it (`max_us = 500 (median)`, `hit_rate >= 0.9`).
pub(crate) fn kpi_text(k: &KpiSpec, stat: &str) -> String {
    match k {
        KpiSpec::MaxTime { key, written, .. } => format!("`{key} = {written}` ({stat})"),
        KpiSpec::MinThroughput { ops_per_sec } => {
            format!("`min_ops_per_sec = {ops_per_sec}` ({stat})")
        }
        KpiSpec::Metric { name, op, bound } => format!("`{name} {} {bound}`", op.as_str()),
        KpiSpec::Relative { kind, bound } => format!("`{} = {bound}`", kind.key()),
    }
}

/// The guide's KPI table: one row per benchmark, in the order of `categories` (others
/// after them, alphabetically) then by name, with its bounds and source file.
pub fn kpi_table(entries: &[BenchEntry], categories: &[&str]) -> String {
    let mut entries: Vec<&BenchEntry> = entries.iter().collect();
    let cat = |e: &BenchEntry| e.category().unwrap_or("-");
    let rank = |c: &str| {
        categories
            .iter()
            .position(|o| *o == c)
            .unwrap_or(categories.len())
    };
    entries.sort_by_key(|e| (rank(cat(e)), cat(e), e.name(), e.module_path()));
    let mut s = String::from("| Category | Benchmark | KPI | Source |\n|---|---|---|---|\n");
    for e in entries {
        let kpis: Vec<String> = e
            .kpis()
            .iter()
            .map(|k| kpi_text(k, e.spec.stat().as_str()))
            .collect();
        let kpis = if kpis.is_empty() {
            "(measured, no bound)".to_string()
        } else {
            kpis.join(", ")
        };
        // The file without a line number: an edit above a benchmark must not make the
        // guide drift.
        let _ = writeln!(
            s,
            "| {} | `{}` | {kpis} | `{}` |",
            cat(e),
            e.name(),
            e.file()
        );
    }
    s
}

/// Problems with a suite's registry, each a sentence naming the benchmark and its file.
///
/// `expected` lists `(module path, function name)` of every `#[perf_target]` the build
/// script found in the sources; an expected benchmark not in `entries` was not linked
/// (the linker dropped it, or the file is not compiled in), an entry not expected means
/// the source scan missed it. When `categories` is not empty, every benchmark's category
/// must be one of them, spelled exactly so, and each of them must have a benchmark.
pub fn registry_problems(
    entries: &[BenchEntry],
    expected: &[(&str, &str)],
    categories: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    let listed = if categories.is_empty() {
        "any non-empty name, e.g. category = \"parser\"".to_string()
    } else {
        categories
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join("|")
    };
    for want in categories {
        if !entries.iter().any(|e| e.category() == Some(*want)) {
            problems.push(format!(
                "category {want:?} has no benchmark (the suite expects: {listed})"
            ));
        }
    }
    for (module, name) in expected {
        if !entries
            .iter()
            .any(|e| in_module(e, module) && e.name() == *name)
        {
            problems.push(format!(
                "{module}::{name} is declared in the sources but not in the registry (not linked)"
            ));
        }
    }
    for e in entries {
        if !expected
            .iter()
            .any(|(m, n)| in_module(e, m) && e.name() == *n)
        {
            problems.push(format!(
                "{} ({}) is registered but the source scan did not find it",
                e.full_name(),
                e.file()
            ));
        }
        match e.category() {
            None => problems.push(format!(
                "{} ({}:{}) declares no category (add category = {listed})",
                e.full_name(),
                e.file(),
                e.line()
            )),
            Some(c) if !categories.is_empty() && !categories.contains(&c) => {
                let hint = categories
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(c))
                    .map(|k| format!("; the suite spells it \"{k}\""))
                    .unwrap_or_default();
                problems.push(format!(
                    "{} ({}:{}) has category {c:?}, which this suite does not list ({listed}){hint}",
                    e.full_name(),
                    e.file(),
                    e.line()
                ));
            }
            Some(_) => {}
        }
    }
    let mut by_name: BTreeMap<&str, Vec<&BenchEntry>> = BTreeMap::new();
    for e in entries {
        by_name.entry(e.name()).or_default().push(e);
    }
    for (name, es) in by_name {
        if es.len() > 1 {
            let places: Vec<String> = es
                .iter()
                .map(|e| format!("{} ({}:{})", e.full_name(), e.file(), e.line()))
                .collect();
            problems.push(format!(
                "benchmark name {name} is not unique: {}; reports and the KPI table identify benchmarks by name",
                places.join(", ")
            ));
        }
    }
    problems
}

/// True when `e` is in module `m` of the suite or a module nested in it.
fn in_module(e: &BenchEntry, m: &str) -> bool {
    e.module_path() == m
        || e.module_path()
            .strip_prefix(m)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// Why the guide could not be checked or updated.
#[derive(Debug, thiserror::Error)]
pub enum GuideError {
    /// The guide could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The guide.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The begin/end markers around the table are missing or out of order.
    #[error("{path}: the KPI table markers `{}` and `{TABLE_END}` are missing or out of order", TABLE_BEGIN.trim_end())]
    Markers {
        /// The guide.
        path: PathBuf,
    },
    /// The guide's table differs from the registry's.
    #[error("{path}: the KPI table differs from the registry; regenerate it with\n    {UPDATE_COMMAND}\n{diff}")]
    Drift {
        /// The guide.
        path: PathBuf,
        /// Lines only in the guide (`-`) and only in the registry (`+`).
        diff: String,
    },
}

/// The guide's text split around its table: (before incl. begin marker, table, end marker on).
fn split(path: &Path, text: &str) -> Result<(usize, usize), GuideError> {
    let markers = || GuideError::Markers {
        path: path.to_path_buf(),
    };
    let b = text.find(TABLE_BEGIN).ok_or_else(markers)? + TABLE_BEGIN.len();
    let e = text[b..].find(TABLE_END).ok_or_else(markers)? + b;
    Ok((b, e))
}

/// A line diff of two tables: lines only in `have` prefixed `-`, only in `want` `+`.
fn line_diff(have: &str, want: &str) -> String {
    let mut s = String::new();
    for l in have.lines().filter(|l| !want.lines().any(|w| w == *l)) {
        let _ = writeln!(s, "  - {l}");
    }
    for l in want.lines().filter(|l| !have.lines().any(|h| h == *l)) {
        let _ = writeln!(s, "  + {l}");
    }
    s
}

/// Checks that the guide at `path` holds exactly `table` between its markers.
pub fn check_guide(path: &Path, table: &str) -> Result<(), GuideError> {
    let text = std::fs::read_to_string(path).map_err(|source| GuideError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (b, e) = split(path, &text)?;
    if &text[b..e] == table {
        return Ok(());
    }
    Err(GuideError::Drift {
        path: path.to_path_buf(),
        diff: line_diff(&text[b..e], table),
    })
}

/// Replaces the guide's table with `table` (atomically); true when the file changed.
pub fn update_guide(path: &Path, table: &str) -> Result<bool, GuideError> {
    let io = |source| GuideError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let (b, e) = split(path, &text)?;
    if &text[b..e] == table {
        return Ok(false);
    }
    let new = format!("{}{table}{}", &text[..b], &text[e..]);
    crate::atomic::write_atomic(path, new.as_bytes()).map_err(io)?;
    Ok(true)
}

/// `(function name)` of every `#[perf_target]` in a Rust source text, in order: the first
/// `fn NAME` after each attribute line. Lines that are comments are skipped, so a
/// commented-out benchmark is not expected in the registry.
pub fn scan_benchmarks(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = false;
    for line in source.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if t.starts_with("#[perf_target") || t.starts_with("#[vm_bench_runtime::perf_target") {
            pending = true;
            continue;
        }
        if pending {
            if let Some(name) = fn_name(t) {
                out.push(name);
                pending = false;
            }
        }
    }
    out
}

/// The name in `[pub] [async] fn NAME(` if the line declares a function.
fn fn_name(line: &str) -> Option<String> {
    let idx = line.find("fn ")?;
    let head = &line[..idx];
    if !head
        .split_whitespace()
        .all(|w| matches!(w, "pub" | "async" | "pub(crate)" | "unsafe" | "const"))
    {
        return None;
    }
    let rest = &line[idx + 3..];
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BenchSpec, BodyForm, CmpOp, ConfigSpec, RelativeKind};

    const CONFIG: ConfigSpec = ConfigSpec {
        stat: None,
        warmup_ms: None,
        measure_ms: None,
        samples: None,
        iterations: None,
        flavor: crate::spec::Flavor::CurrentThread,
        flamegraph: false,
    };

    const fn spec(
        module_path: &'static str,
        name: &'static str,
        category: Option<&'static str>,
        kpis: &'static [KpiSpec],
    ) -> BenchSpec {
        BenchSpec {
            name,
            module_path,
            file: "tests/x.rs",
            line: 3,
            category,
            kpis,
            config: CONFIG,
            form: BodyForm::Bench,
            debug_assertions: false,
            manifest_dir: "/w",
            opt_probe: None,
        }
    }

    static JIT: BenchSpec = spec(
        "jit",
        "bench_compile",
        Some("JIT"),
        &[KpiSpec::MaxTime {
            bound_ns: 500_000.0,
            key: "max_us",
            written: 500.0,
        }],
    );
    static GC: BenchSpec = spec(
        "gc",
        "bench_pause",
        Some("GC"),
        &[
            KpiSpec::Metric {
                name: "max_pause_ms",
                op: CmpOp::Lt,
                bound: 100.0,
            },
            KpiSpec::Relative {
                kind: RelativeKind::MaxOverheadPct,
                bound: 5.0,
            },
        ],
    );
    static DUP: BenchSpec = spec("tlb", "bench_pause", None, &[]);

    fn body(_: &mut crate::Bench) {}

    fn entry(s: &'static BenchSpec) -> BenchEntry {
        BenchEntry { spec: s, body }
    }

    #[test]
    fn table_is_in_category_order_with_bounds() {
        let t = kpi_table(&[entry(&GC), entry(&JIT)], &["JIT", "GC"]);
        assert_eq!(
            t,
            "| Category | Benchmark | KPI | Source |\n|---|---|---|---|\n\
             | JIT | `bench_compile` | `max_us = 500` (median) | `tests/x.rs` |\n\
             | GC | `bench_pause` | `max_pause_ms < 100`, `max_overhead_pct = 5` | `tests/x.rs` |\n"
        );
    }

    #[test]
    fn problems_name_unlinked_unscanned_uncategorized_and_duplicate_benchmarks() {
        let p = registry_problems(
            &[entry(&JIT), entry(&GC), entry(&DUP)],
            &[
                ("jit", "bench_compile"),
                ("gc", "bench_pause"),
                ("aot", "bench_gone"),
            ],
            &[],
        );
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].contains("aot::bench_gone") && p[0].contains("not linked"));
        assert!(p[1].contains("tlb::bench_pause") && p[1].contains("did not find"));
        assert!(p[2].contains("declares no category"));
        assert!(p[3].contains("bench_pause is not unique"));
        assert!(registry_problems(&[entry(&JIT)], &[("jit", "bench_compile")], &[]).is_empty());
    }

    static PARSER: BenchSpec = spec("parse", "bench_parse", Some("parser"), &[]);
    static MISSPELLED: BenchSpec = spec("jit2", "bench_jit2", Some("jit"), &[]);

    #[test]
    fn categories_are_free_form_unless_the_suite_lists_them() {
        let scanned = [("jit", "bench_compile"), ("parse", "bench_parse")];
        // No list: any category is accepted.
        assert!(registry_problems(&[entry(&JIT), entry(&PARSER)], &scanned, &[]).is_empty());
        // A list: a category outside it, a misspelling, and a listed category without a
        // benchmark are each reported.
        let scanned = [
            ("jit", "bench_compile"),
            ("parse", "bench_parse"),
            ("jit2", "bench_jit2"),
        ];
        let p = registry_problems(
            &[entry(&JIT), entry(&PARSER), entry(&MISSPELLED)],
            &scanned,
            &["JIT", "GC"],
        );
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p[0].contains("category \"GC\" has no benchmark"),
            "{}",
            p[0]
        );
        assert!(
            p[1].contains("parse::bench_parse") && p[1].contains("\"parser\""),
            "{}",
            p[1]
        );
        assert!(p[2].contains("the suite spells it \"JIT\""), "{}", p[2]);
    }

    #[test]
    fn scan_finds_attributed_functions_only() {
        let src = "#[perf_target(max_us = 5)]\n#[test]\nfn bench_a(b: &mut Bench) {}\n\
                   fn helper() {}\n// #[perf_target]\n// fn bench_commented() {}\n\
                   #[perf_target(category = \"GC\",\n    metrics(x < 1))]\n#[test]\n\
                   #[ignore]\npub async fn bench_b() {}\n";
        assert_eq!(scan_benchmarks(src), vec!["bench_a", "bench_b"]);
    }

    #[test]
    fn check_and_update_round_trip_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("vmb-guide-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("guide.md");
        std::fs::write(
            &path,
            format!("intro\n{TABLE_BEGIN}| old |\n{TABLE_END}\nend\n"),
        )
        .unwrap();
        let err = check_guide(&path, "| new |\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("guide.md") && msg.contains(UPDATE_COMMAND),
            "{msg}"
        );
        assert!(
            msg.contains("  - | old |") && msg.contains("  + | new |"),
            "{msg}"
        );
        assert!(update_guide(&path, "| new |\n").unwrap());
        assert!(!update_guide(&path, "| new |\n").unwrap());
        check_guide(&path, "| new |\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("intro\n{TABLE_BEGIN}| new |\n{TABLE_END}\nend\n")
        );
        std::fs::write(&path, "no markers").unwrap();
        assert!(matches!(
            check_guide(&path, "x"),
            Err(GuideError::Markers { .. })
        ));
        let missing = dir.join("absent.md");
        let err = check_guide(&missing, "x").unwrap_err();
        assert!(err.to_string().contains("absent.md"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
