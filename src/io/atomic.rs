//! Atomic file writes: data goes to a temporary file in the destination folder, is flushed
//! to disk, and only then renamed over the target; the folder is then flushed too, so the
//! rename itself survives a power cut. A crash or a full disk never leaves a half-written
//! file under the final name, and an existing file survives a failed write.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `path` atomically with the bytes produced by `fill`.
pub fn write_atomic<F>(path: &Path, fill: F) -> std::io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    // Unique per write, not only per process: two threads may write the same file (the
    // window's export and a report, say); `create_new` refuses to reuse a leftover.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let f = File::options().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let p = dir.path().join("out.bin");
        assert!(write_atomic(&p, |w| w.write_all(b"first")).is_ok());
        let r = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).ok().as_deref(), Some(b"first".as_slice()));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        assert_eq!(left.len(), 1);
    }

    /// Before: both threads wrote `.out.bin.PID.tmp`, so one renamed the other's half-written
    /// file or failed to find its own.
    #[test]
    fn two_threads_writing_one_file_both_succeed_with_whole_contents() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let p = dir.path().join("out.bin");
        let payload = |t: u8| vec![t; 256 << 10];
        std::thread::scope(|s| {
            for t in [1u8, 2] {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..50 {
                        let r = write_atomic(p, |w| w.write_all(&payload(t)));
                        assert!(r.is_ok(), "thread {t}: {r:?}");
                    }
                });
            }
        });
        let got = std::fs::read(&p).unwrap_or_default();
        assert!(
            got == payload(1) || got == payload(2),
            "{} bytes",
            got.len()
        );
        let left = std::fs::read_dir(dir.path()).into_iter().flatten().count();
        assert_eq!(left, 1, "temporaries left behind");
    }
}
