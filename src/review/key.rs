//! The reviewer's own signing key: an ed25519 key made on first use and kept in the user's
//! config folder (`$HOUNSFIELD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/hounsfield`, else
//! `~/.config/hounsfield`), readable by its owner only. Like ssh, a key file others can
//! read is refused: a key anyone can copy proves nothing about who signed.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

/// File name of the key inside the config folder.
pub const KEY_FILE: &str = "reviewer-ed25519.key";
const HEADER: &str = "hounsfield-reviewer-key 1";

/// A reviewer's signing key and where it lives.
pub struct ReviewerKey {
    signing: SigningKey,
    /// The key file.
    pub path: PathBuf,
    /// Whether this call made it (first use).
    pub created: bool,
}

impl std::fmt::Debug for ReviewerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("ReviewerKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// The user's config folder for Hounsfield.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HOUNSFIELD_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("hounsfield"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".config").join("hounsfield"))
}

/// The public key as hex.
pub fn public_hex(key: &VerifyingKey) -> String {
    to_hex(key.as_bytes())
}

/// A short, stable name of a public key for people to compare: `ed25519:` and the first
/// 16 bytes of its blake3, in groups of four hex digits.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let h = blake3::hash(key.as_bytes()).to_hex();
    let groups: Vec<&str> = (0..8).map(|i| &h[i * 4..i * 4 + 4]).collect();
    format!("ed25519:{}", groups.join(":"))
}

/// Parses a public key written by [`public_hex`].
pub fn parse_public(hex: &str) -> Result<VerifyingKey, String> {
    let bytes = from_hex::<32>(hex).ok_or("the public key is not 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an ed25519 public key: {e}"))
}

/// Bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes exactly `N` bytes of hex.
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ReviewerKey {
    /// The key at `path`, made there (with its folder) when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path)?;
                let seed = text
                    .lines()
                    .nth(1)
                    .filter(|_| text.lines().next() == Some(HEADER))
                    .and_then(from_hex::<32>)
                    .ok_or_else(|| {
                        format!(
                            "{} is not a Hounsfield reviewer key (move it away to make a new one; approvals signed with the old key stay verifiable)",
                            path.display()
                        )
                    })?;
                Ok(Self {
                    signing: SigningKey::from_bytes(&seed),
                    path: path.to_path_buf(),
                    created: false,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(format!(
                "cannot read the reviewer key {}: {e}",
                path.display()
            )),
        }
    }

    /// The key in the user's config folder ([`config_dir`]).
    pub fn default_key() -> Result<Self, String> {
        let dir = config_dir().ok_or(
            "no config folder for the reviewer key: set HOME, XDG_CONFIG_HOME or HOUNSFIELD_CONFIG_DIR, or pass --key FILE",
        )?;
        Self::load_or_create(&dir.join(KEY_FILE))
    }

    fn create(path: &Path) -> Result<Self, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| format!("no random numbers for a new reviewer key: {e}"))?;
        let signing = SigningKey::from_bytes(&seed);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let text = format!("{HEADER}\n{}\n", to_hex(&seed));
        write_private(path, text.as_bytes())
            .map_err(|e| format!("cannot write the reviewer key {}: {e}", path.display()))?;
        Ok(Self {
            signing,
            path: path.to_path_buf(),
            created: true,
        })
    }

    /// The public half.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key's fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public())
    }

    /// Signs `message`; the signature as hex.
    pub fn sign(&self, message: &[u8]) -> String {
        to_hex(&self.signing.sign(message).to_bytes())
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the reviewer key {} can be read by other users (mode {:o}); make it private with `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| format!("cannot make the config folder {}: {e}", dir.display()))
}

/// Writes a new file only its owner can read, atomically (temporary file, fsync, rename).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("key.tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let _ = std::fs::remove_file(&tmp);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    // Never replace a key made meanwhile by another process.
    std::fs::hard_link(&tmp, path)?;
    let _ = std::fs::remove_file(&tmp);
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::case::journal::sync_dir(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("cfg").join(KEY_FILE);
        let a = ReviewerKey::load_or_create(&p).expect("made");
        assert!(a.created);
        let b = ReviewerKey::load_or_create(&p).expect("read");
        assert!(!b.created);
        assert_eq!(a.public(), b.public());
        assert_eq!(parse_public(&public_hex(&a.public())), Ok(a.public()));
        assert!(a.fingerprint().starts_with("ed25519:"));
        assert!(!format!("{a:?}").contains(&std::fs::read_to_string(&p).expect("text")[26..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = ReviewerKey::load_or_create(&p).expect_err("refused");
            assert!(e.contains("chmod 600"), "{e}");
        }
    }

    #[test]
    fn a_damaged_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join(KEY_FILE);
        write_private(&p, b"garbage\n").expect("written");
        let e = ReviewerKey::load_or_create(&p).expect_err("refused");
        assert!(e.contains("not a Hounsfield reviewer key"), "{e}");
        assert_eq!(std::fs::read(&p).expect("kept"), b"garbage\n");
    }
}
