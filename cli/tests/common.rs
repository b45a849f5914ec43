//! Shared helpers for the integration tests (kept here for test files to `mod common;`).
