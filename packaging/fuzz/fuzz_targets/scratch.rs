//! A scratch file per fuzz process: the front doors under test read paths, as the product does.

use std::path::PathBuf;

/// Writes `data` to this process's scratch file named `name` and returns its path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hounsfield-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let p = dir.join(name);
    std::fs::write(&p, data).expect("scratch file");
    p
}
