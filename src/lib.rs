//! The KPI suite of the VM lives in `tests/`; this library is intentionally empty.
