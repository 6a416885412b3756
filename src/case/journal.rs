//! The journal: an append-only file of records, one per line, `CRC32 JSON\n` (the CRC32 of
//! the JSON bytes as 8 hex digits, a space, the JSON, a newline). An append returns only
//! after the line is on disk (`fdatasync`), so whatever the caller was told is saved
//! survives a crash, a SIGKILL or a power cut.
//!
//! Reading stops at the first line that is not complete and correct. When that line is the
//! last one, it is the torn tail of an interrupted append (never acknowledged): it is dropped
//! with a message and the file is cut back to the last good record. A bad line followed by
//! good ones is not an interrupted write; the journal is refused as damaged.
//!
//! Why fsync the folder only at creation: appending changes the file's data and size, which
//! `fdatasync` of the file makes durable; the folder changes only when the file is created.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a journal cannot be read or appended to.
#[derive(Debug, Error)]
pub enum JournalError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A record in the middle is damaged: the file was altered, not interrupted.
    #[error(
        "{path}: record {record} is damaged ({reason}) and records follow it; the journal was altered after it was written and cannot be trusted"
    )]
    Damaged {
        /// The journal.
        path: PathBuf,
        /// Record number, from 0.
        record: usize,
        /// What is wrong.
        reason: String,
    },
    /// A record cannot be encoded (never expected).
    #[error("cannot encode a journal record: {0}")]
    Encode(String),
}

/// An open journal, positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    len: u64,
    records: usize,
}

/// What reading a journal found.
#[derive(Debug)]
pub struct Opened<T> {
    /// The journal, ready to append after the last good record.
    pub journal: Journal,
    /// Every good record, in order.
    pub records: Vec<T>,
    /// When the last line was torn (an interrupted append): what was dropped.
    pub dropped_tail: Option<String>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a folder's entries durable (a created or renamed file in it).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Creates an empty journal; fails if the file exists.
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        let e = io_err(path);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(&e)?;
        file.sync_all().map_err(&e)?;
        if let Some(dir) = path.parent() {
            sync_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
            .map_err(&e)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len: 0,
            records: 0,
        })
    }

    /// Reads every record and opens the journal for appending. A torn last line is cut off
    /// (see the module docs); `read_only` leaves the file untouched even then.
    pub fn open<T: DeserializeOwned>(
        path: &Path,
        read_only: bool,
    ) -> Result<Opened<T>, JournalError> {
        let e = io_err(path);
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(&e)?;
        let mut records = Vec::new();
        let mut good_len = 0usize;
        let mut dropped_tail = None;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let end = bytes[pos..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|n| pos + n);
            let (line, next) = match end {
                Some(n) => (&bytes[pos..n], n + 1),
                None => (&bytes[pos..], bytes.len()),
            };
            let parsed = match end {
                None => Err("the line is incomplete (no newline)".to_string()),
                Some(_) => parse_line::<T>(line),
            };
            match parsed {
                Ok(r) => {
                    records.push(r);
                    good_len = next;
                }
                Err(reason) => {
                    if next < bytes.len() {
                        return Err(JournalError::Damaged {
                            path: path.to_path_buf(),
                            record: records.len(),
                            reason,
                        });
                    }
                    dropped_tail = Some(format!(
                        "the last record ({} bytes) was incomplete: an interrupted save, never acknowledged; it was dropped ({reason})",
                        bytes.len() - pos
                    ));
                }
            }
            pos = next;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(!read_only)
            .open(path)
            .map_err(&e)?;
        if dropped_tail.is_some() && !read_only {
            file.set_len(good_len as u64).map_err(&e)?;
            file.sync_all().map_err(&e)?;
        }
        Ok(Opened {
            journal: Self {
                path: path.to_path_buf(),
                file,
                len: good_len as u64,
                records: records.len(),
            },
            records,
            dropped_tail,
        })
    }

    /// Appends one record and waits until it is on disk. On failure the file is cut back,
    /// so a failed append leaves no partial record behind.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), JournalError> {
        let json = serde_json::to_vec(record).map_err(|e| JournalError::Encode(e.to_string()))?;
        let mut line = Vec::with_capacity(json.len() + 10);
        line.extend_from_slice(format!("{:08x} ", crc32fast::hash(&json)).as_bytes());
        line.extend_from_slice(&json);
        line.push(b'\n');
        let e = io_err(&self.path);
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(err) = written {
            let _ = self.file.set_len(self.len);
            let _ = self.file.sync_data();
            return Err(e(err));
        }
        self.len += line.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Records in the journal.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True when the journal holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    if line.len() < 10 || line[8] != b' ' {
        return Err("the line does not start with a checksum".into());
    }
    let crc = std::str::from_utf8(&line[..8])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("the checksum is not hexadecimal")?;
    let json = &line[9..];
    if crc32fast::hash(json) != crc {
        return Err("checksum mismatch".into());
    }
    serde_json::from_slice(json).map_err(|e| format!("not a valid record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct R {
        n: u32,
    }

    fn dir() -> Option<tempfile::TempDir> {
        tempfile::tempdir().ok()
    }

    #[test]
    fn records_survive_reopening_and_a_torn_tail_is_dropped() {
        let Some(d) = dir() else { return };
        let p = d.path().join("journal");
        let mut j = Journal::create(&p).expect("created");
        for n in 0..3 {
            j.append(&R { n }).expect("appended");
        }
        drop(j);
        // A torn append: half a line at the end.
        let mut f = OpenOptions::new().append(true).open(&p).expect("open");
        f.write_all(b"0badf00d {\"n\": 9").expect("write");
        drop(f);
        let o = Journal::open::<R>(&p, false).expect("opened");
        assert_eq!(o.records, vec![R { n: 0 }, R { n: 1 }, R { n: 2 }]);
        assert!(o.dropped_tail.is_some());
        let mut j = o.journal;
        j.append(&R { n: 3 }).expect("appended after the cut");
        let o = Journal::open::<R>(&p, false).expect("reopened");
        assert_eq!(o.records.len(), 4);
        assert!(o.dropped_tail.is_none());
    }

    #[test]
    fn a_damaged_middle_record_is_refused() {
        let Some(d) = dir() else { return };
        let p = d.path().join("journal");
        let mut j = Journal::create(&p).expect("created");
        for n in 0..3 {
            j.append(&R { n }).expect("appended");
        }
        drop(j);
        let mut bytes = std::fs::read(&p).expect("read");
        let second = bytes.iter().position(|b| *b == b'\n').expect("a line") + 1;
        // Change the record's number without fixing its checksum.
        let digit = bytes[second..]
            .iter()
            .position(|b| *b == b'1')
            .expect("digit")
            + second;
        bytes[digit] = b'7';
        std::fs::write(&p, &bytes).expect("write");
        let e = Journal::open::<R>(&p, false).expect_err("refused");
        assert!(matches!(e, JournalError::Damaged { record: 1, .. }), "{e}");
        // A torn tail with a bad checksum on the last line only is dropped, not refused.
        let last = bytes.len() - 3;
        let mut b2 = std::fs::read(&p).expect("read");
        b2[digit] = b'1';
        b2[last] = b'x';
        std::fs::write(&p, &b2).expect("write");
        let o = Journal::open::<R>(&p, true).expect("opened");
        assert_eq!(o.records.len(), 2);
        assert!(o.dropped_tail.is_some());
        assert_eq!(std::fs::read(&p).expect("read"), b2, "read-only leaves it");
    }

    #[test]
    fn creating_over_an_existing_journal_fails() {
        let Some(d) = dir() else { return };
        let p = d.path().join("journal");
        assert!(Journal::create(&p).is_ok());
        assert!(Journal::create(&p).is_err());
    }
}
