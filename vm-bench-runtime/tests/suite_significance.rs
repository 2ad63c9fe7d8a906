//! Mann-Whitney U against values computed independently with scipy
//! (`tests/data/mannwhitney_golden.py` -> `tests/data/mannwhitney_golden.json`).

use vm_bench_runtime::suite::significance::mann_whitney_u;

#[test]
fn mann_whitney_matches_scipy() {
    let text = include_str!("data/mannwhitney_golden.json");
    let golden: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for (i, c) in cases.iter().enumerate() {
        let v = |k: &str| -> Vec<f64> {
            c[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let (x, y) = (v("x"), v("y"));
        let got = mann_whitney_u(&x, &y).unwrap();
        let want_u = c["u"].as_f64().unwrap();
        let want_p = c["p_value"].as_f64().unwrap();
        assert_eq!(got.u, want_u, "case {i}: U");
        let rel = ((got.p_value - want_p) / want_p).abs();
        assert!(
            rel < 1e-9,
            "case {i}: p {} vs scipy {}",
            got.p_value,
            want_p
        );
    }
}
