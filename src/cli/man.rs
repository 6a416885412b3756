//! `man`: the manual pages, generated from the clap definitions so they cannot drift from
//! the CLI — `hounsfield.1` and one `hounsfield-<command>.1` per subcommand (the Debian
//! package installs them).

use crate::error::Error;
use std::path::PathBuf;

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The folder to write the pages into (made if absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes every page.
pub fn run(a: &ManArgs) -> Result<(), Error> {
    use clap::CommandFactory;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Error::BadInput(format!("cannot make {}: {e}", a.out.display())))?;
    let cmd = super::Cli::command();
    let mut written = 0;
    write_page(&a.out, "hounsfield", cmd.clone())?;
    written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("hounsfield-{}", sub.get_name());
        // clap names are &'static without its `string` feature; a page run is one short process.
        let static_name: &'static str = name.clone().leak();
        write_page(&a.out, &name, sub.clone().name(static_name))?;
        written += 1;
    }
    println!("wrote {written} manual pages into {}", a.out.display());
    Ok(())
}

fn write_page(dir: &std::path::Path, name: &str, cmd: clap::Command) -> Result<(), Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::Failed(format!("cannot render the page {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    crate::io::atomic::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(&buf)
    })
    .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
}
