//! vm-core: the virtual machine measured by the KPI suite.
//!
//! The subsystems arrive module by module; see the repository README.

pub mod backend;
pub mod cache;
pub mod engine;
pub mod exec;
pub mod frontend;
pub mod gc;
pub mod guest;
pub mod interp;
pub mod ir;
pub mod memory;
pub mod opt;
pub mod sched;
pub mod state;
