//! `cargo xtask`: bundle, install and test Stemcheck.
//!
//! - `cargo xtask bundle stemcheck-plugin --release`: nice-plug's bundler (target/bundled/).
//! - `cargo xtask install`: release bundles into the user's CLAP and VST3 folders, and the
//!   `stemcheck` command into cargo's bin folder.
//! - `cargo xtask test`: the whole test suite (builds the plugin the host tests load, with
//!   allocation checks in `process()`, then runs every test of the workspace).

mod install;
mod screenshot;
mod system;
mod test;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("install") => install::run(args.collect()),
        Some("test") => test::run(args.collect()),
        Some("screenshot") => screenshot::run(),
        Some(command) => nice_plug_xtask::main_with_args(
            "cargo xtask",
            std::iter::once(command.to_string()).chain(args),
        ),
        None => {
            eprintln!(
                "Usage:\n  cargo xtask install            build and install Stemcheck.clap, \
                 Stemcheck.vst3 and the stemcheck command\n  cargo xtask test [ARGS]        \
                 run the whole test suite (ARGS go to cargo test)\n  cargo xtask screenshot         docs/dashboard.png of a demo session\n  cargo xtask bundle <package> \
                 [--release]   nice-plug's bundler"
            );
            std::process::exit(2);
        }
    }
}
