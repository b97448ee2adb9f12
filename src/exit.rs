//! Named exit codes, shared by `main.rs` and the batch run (its report and its second-signal exit).

use crate::batch::Outcome;

pub const SUCCESS: u8 = 0;
/// The input itself is unusable (missing, empty, not text, ...); in a batch run, some
/// articles failed.
pub const BAD_INPUT: u8 = 1;
/// Usage, configuration or model errors; a batch run that could not start.
pub const SETUP: u8 = 2;
/// Stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
pub const SIGNAL_BASE: u8 = 128;

/// The exit code of a command that ended with `outcome`.
pub fn for_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Success => SUCCESS,
        // Each failed article was reported (stderr and report.json); the run went on.
        Outcome::SomeFailed(_) => BAD_INPUT,
        Outcome::Interrupted(signal) => SIGNAL_BASE + signal as u8,
    }
}

/// The exit code of a run that ended with `error`.
pub fn for_error(error: &crate::Error) -> u8 {
    if error.is_input_error() {
        BAD_INPUT
    } else {
        SETUP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn input_errors_exit_1_and_the_others_2() {
        let input = Error::InvalidInput { doc: "article.txt".into(), reason: "empty".into() };
        assert_eq!(for_error(&input), BAD_INPUT);
        assert_eq!(for_error(&Error::Config("--threads must be at least 1".into())), SETUP);
    }

    #[test]
    fn outcomes_exit_0_1_or_128_and_the_signal() {
        assert_eq!(for_outcome(Outcome::Success), SUCCESS);
        assert_eq!(for_outcome(Outcome::SomeFailed(3)), BAD_INPUT);
        assert_eq!(for_outcome(Outcome::Interrupted(15)), 143);
    }
}
