//! Compile-error tests of `#[perf_target]`: every misuse is a compile error spanned on the
//! offending tokens. Regenerate the expected output with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // What must compile: a free-form category (the suite, not the macro, checks its set).
    t.pass("tests/ui/pass/*.rs");
}
