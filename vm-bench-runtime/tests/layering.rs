//! The layering of `vm-bench-runtime`, checked on its sources: nothing in the measurement
//! core imports the suite layer, and the suite's modules import each other without a cycle
//! (the reporting modules used to form one: report, baseline, chart, export, history, html
//! and targets all imported each other).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn src() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
}

/// `crate::suite::<module>` edges of every `src/suite/*.rs` (comments skipped).
fn suite_edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for e in std::fs::read_dir(src().join("suite")).unwrap().flatten() {
        let path = e.path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut deps = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::suite::") {
                let rest = &line[i + "crate::suite::".len()..];
                let dep: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !dep.is_empty() && dep != module {
                    deps.insert(dep);
                }
            }
        }
        edges.insert(module, deps);
    }
    edges
}

#[test]
fn the_core_never_imports_the_suite() {
    for e in std::fs::read_dir(src()).unwrap().flatten() {
        let path = e.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // lib.rs declares the layers (and re-exports a suite type for the macro).
        if path.is_dir() || name == "lib.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("crate::suite"),
            "core module {name} imports the suite layer"
        );
    }
}

#[test]
fn suite_modules_have_no_import_cycle() {
    let edges = suite_edges();
    assert!(edges.len() >= 10, "{edges:?}");
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(pos) = stack.iter().position(|s| s == m) {
            panic!("import cycle: {} -> {m}", stack[pos..].join(" -> "));
        }
        stack.push(m.to_string());
        for d in edges.get(m).into_iter().flatten() {
            visit(d, edges, stack, done);
        }
        stack.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    // The renderers sit above the model, never below it.
    assert!(edges["report"].contains("chart"));
    assert!(!edges["chart"].contains("report"));
    assert!(!edges["history"].contains("report"));
    assert!(edges["format"].is_empty() && edges["significance"].is_empty());
}
