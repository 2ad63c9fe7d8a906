//! vm-core: the virtual machine measured by the KPI suite.
//!
//! The subsystems arrive module by module; see the repository README.

pub mod gc;
