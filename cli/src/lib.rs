//! The `stemcheck` command as a library: parse, check, render, and map the outcome to an exit
//! code (0 deliverable, 1 findings at or above `--fail-on`, 2 bad usage or unreadable input).

mod align;
mod beside;
pub mod bwf;
pub mod check;
mod coherence;
pub mod decode;
pub mod delivery;
pub mod each;
mod groups;
pub mod inputs;
pub mod layout;
mod offsets;
pub mod output;
pub mod plot;
mod pool;
pub mod profile;
mod raw_pcm;
mod read_ahead;
pub mod residual_out;
pub mod riff;
mod stream;
mod surround;
pub mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use stemcheck_analysis::Severity;

use crate::inputs::{InputsError, discover};
use crate::profile::Profile;

#[derive(Debug, Parser)]
#[command(
    name = "stemcheck",
    version,
    about = "Checks exported stems against the mixdown: do they rebuild it, and if not, why.",
    after_help = "Examples:\n  stemcheck check ~/Delivery/Song/\n  stemcheck check Song_*.wav --mix Song_Mix.wav --json report.json\n  stemcheck check Stems/ --profile sync --fail-on warning --markdown report.md\n\nExit codes: 0 deliverable, 1 findings at or above --fail-on, 2 bad usage or unreadable input."
)]
/// The parsed command line.
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a folder (or list) of stems and the mix.
    Check(CheckArgs),
}

/// The arguments of `stemcheck check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Folders and/or files. The mix is the file whose name contains mix, master or full,
    /// unless --mix names it. Several folders and no file (`Album/*/`): one delivery (cue) per
    /// folder, checked in parallel.
    #[arg(required_unless_present = "each")]
    pub inputs: Vec<PathBuf>,
    /// Check every subfolder of DIR as its own delivery (cue), in parallel: one line per cue,
    /// a summary table, JSON lines (one report per cue) with --json, the worst exit code.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["mix", "markdown", "plot", "write_residual"])]
    pub each: Option<PathBuf>,
    /// The mixdown to compare with.
    #[arg(long)]
    pub mix: Option<PathBuf>,
    /// Write the report as JSON to PATH ("-" for standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the report as Markdown to PATH.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Draw the spectra (mix, sum, residual), the transfer function and the residual over time
    /// (with the findings' time ranges) into a PNG.
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// Write the difference stem to FILE (WAV): the mix minus the stems' sum, the stems lined
    /// up by the offsets found, at the delivery's format (dithered where that lowers the bit
    /// depth), so that the lined-up stems plus this file rebuild the mix.
    #[arg(long, value_name = "FILE")]
    pub write_residual: Option<PathBuf>,
    /// Delivery spec to check against.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Exit with 1 if any finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// No progress bar, no report on the terminal (errors still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
}

/// The severity that fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Fail on errors.
    Error,
    /// Fail on warnings or errors.
    Warning,
    /// Fail on any finding.
    Info,
    /// Never fail on findings (only on bad input).
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            Self::Error => Some(Severity::Error),
            Self::Warning => Some(Severity::Warning),
            Self::Info => Some(Severity::Info),
            Self::Never => None,
        }
    }
}

/// Exit code for bad usage or unreadable input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => run_check(args),
    }
}

fn run_check(args: CheckArgs) -> ExitCode {
    if let Some(cues) = each::cues_of(&args) {
        return match cues {
            Ok(cues) => each::run_each(&cues, &args),
            Err(message) => fail(&message),
        };
    }
    let inputs = match discover(&args.inputs, args.mix.as_deref()) {
        Ok(inputs) => inputs,
        Err(InputsError::File(e)) => return fail(&e.to_string()),
        Err(InputsError::Usage(m)) => return fail(&m),
    };
    let spec = args.profile.spec();
    let names = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (mut report, timeline) = match check::check_with_timeline(&inputs, &spec, names, progress) {
        Ok(checked) => checked,
        Err(e) => return fail(&e.to_string()),
    };
    if let Some(path) = &args.write_residual {
        match residual_out::write_residual(&inputs, &report, path) {
            Ok(file) => report.residual_file = Some(file),
            Err(e) => return fail(&e.to_string()),
        }
    }
    // Outputs are written only once everything succeeded, each atomically; the JSON after the
    // Markdown, so that whoever waits for the JSON finds both.
    if let Some(path) = &args.markdown
        && let Err(e) = stemcheck_report::write_file_atomically(
            path,
            stemcheck_report::to_markdown(&report).as_bytes(),
        )
    {
        return fail(&format!(
            "{}: cannot write the Markdown report ({e})",
            path.display()
        ));
    }
    if let Some(path) = &args.json {
        if path.as_os_str() == "-" {
            println!("{}", report.to_json());
        } else if let Err(e) =
            stemcheck_report::write_file_atomically(path, report.to_json().as_bytes())
        {
            return fail(&format!(
                "{}: cannot write the JSON report ({e})",
                path.display()
            ));
        }
    }
    if let Some(path) = &args.plot
        && let Err(e) = plot::write_plot(&report, Some(&timeline), path)
    {
        return fail(&format!("{}: cannot draw the plot ({e})", path.display()));
    }
    let json_to_stdout = args.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if !args.quiet && !json_to_stdout {
        let color = output::use_color();
        print!("{}", output::render(&report, &inputs, color));
        if let Some(residual) = &report.residual_file {
            println!("{}", residual_out::describe(residual));
        }
    }
    match (args.fail_on.threshold(), report.worst()) {
        (Some(threshold), Some(worst)) if worst >= threshold => ExitCode::from(EXIT_FINDINGS),
        _ => ExitCode::SUCCESS,
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("stemcheck: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}
