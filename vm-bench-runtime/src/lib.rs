//! Test-integrated benchmark harness.
