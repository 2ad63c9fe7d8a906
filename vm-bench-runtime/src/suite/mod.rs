//! The suite and reporting layer: whole-suite reports (console, JSON, CSV, Markdown, HTML,
//! charts, exports), target tables, baselines, run history, the guide's KPI table, the
//! `vm-bench` CLI's building blocks, and [`main`], the runner of a crate's
//! `cargo bench --bench <suite>`.
//!
//! It reads what the measurement core writes (artifacts, registry entries) and nothing in
//! the core imports it. Inside, dependencies point one way:
//!
//! ```text
//! runner (Suite, main)   bin/vm-bench      each line uses only lines below it
//! pipeline   guide
//! output   inputs   options
//! html   export
//! report
//! chart   trend
//! history
//! baseline   format
//! significance   changepoint
//! ---------------------------------------- measurement core (artifact, registry, row, targets, ...)
//! ```

pub mod baseline;
pub mod changepoint;
pub mod chart;
pub mod export;
pub(crate) mod format;
pub(crate) mod guide;
pub mod history;
pub mod html;
pub mod inputs;
pub mod options;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod runner;
pub mod significance;
pub mod trend;

pub use crate::row::{BenchRow, KpiRow, MetricRow};
pub use options::ReportOptions;
pub use report::SuiteReport;
pub use runner::{main, Suite, SuiteFiles};
pub use vm_bench_macros::include_tests;
