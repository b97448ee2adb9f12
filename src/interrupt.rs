//! A process-wide "stop soon" flag. Signal handlers set it; long computations check it at safe
//! points (between generated tokens, between articles) and return [`crate::Error::Interrupted`],
//! so a run stops promptly but never in the middle of writing a file.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked to stop (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Asks every computation to stop at its next safe point.
pub fn request(signal: i32) {
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The signal that asked to stop, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// `Err(Interrupted)` once a stop was requested.
pub fn check() -> crate::Result<()> {
    match requested() {
        Some(signal) => Err(crate::Error::Interrupted { signal }),
        None => Ok(()),
    }
}
