//! `precis`: parse flags, set up logging, run, map the outcome to an exit code.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::process::ExitCode;

use clap::Parser;
use precis::cli::{Cli, CliCommand};
use precis::commands::Outcome;
use precis::{exit, Error};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    match run(cli) {
        Ok(outcome) => ExitCode::from(exit::for_outcome(outcome)),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(exit::for_error(&err))
        }
    }
}

fn run(cli: Cli) -> precis::Result<Outcome> {
    if let CliCommand::Generate { what } = cli.command {
        what.write(&mut std::io::stdout().lock()).map_err(|e| Error::io("<stdout>", e))?;
        return Ok(Outcome::Success);
    }
    let config = cli.into_config()?;
    // candle's CPU kernels size their thread pools from this variable; set it before any runs.
    std::env::set_var("RAYON_NUM_THREADS", config.threads.to_string());
    precis::engine::cpu::install(config.cpu).map_err(Error::Config)?;
    tracing::debug!("kernels: {} (this CPU supports up to {})", config.cpu, precis::engine::cpu::detected());
    keep_freed_memory();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    precis::commands::run(&config, &mut out)
}

/// glibc hands large freed blocks back to the system (blocks above its mmap threshold, and heap
/// tops above 128 KB), so the buffers of every forward pass (up to 27 MB of logits per step)
/// were page-faulted and zeroed again at each step: 5% of a batch translation of the seed
/// article (A/B, two runs each). Blocks up to 32 MB (glibc's maximum threshold) now come from
/// the heap, which keeps up to 1 GB of freed memory for reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("PRECIS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn is_broken_pipe(err: &Error) -> bool {
    matches!(err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
