//! The `stemcheck` command: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match stemcheck_cli::Cli::try_parse() {
        Ok(cli) => stemcheck_cli::run(cli),
        Err(e) => {
            let code = if e.use_stderr() {
                stemcheck_cli::EXIT_BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            ExitCode::from(code)
        }
    }
}
