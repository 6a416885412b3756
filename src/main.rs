//! The `hounsfield` command.

fn main() -> std::process::ExitCode {
    hounsfield::cli::main()
}
