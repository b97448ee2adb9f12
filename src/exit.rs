//! Named exit codes, shared by `main.rs` and the batch run (its report and its second-signal exit).

pub const SUCCESS: u8 = 0;
/// The input itself is unusable (missing, empty, not text, ...); in a batch run, some
/// articles failed.
pub const BAD_INPUT: u8 = 1;
/// Usage, configuration or model errors; a batch run that could not start.
pub const SETUP: u8 = 2;
/// Stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
pub const SIGNAL_BASE: u8 = 128;
