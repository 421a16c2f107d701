//! The key that signs bearer tokens: 32 random bytes from the operating system's generator.
//!
//! It comes from `ADUANA_SIGNING_KEY` (base64) when that is set, otherwise from
//! `<data-dir>/signing.key` (base64 text), which the first command that needs it creates with
//! mode 0600. Creation is atomic: the key is written to a private temporary file that is then
//! linked into place only if no key is there yet, so two processes starting together end up
//! with the same key. A key file that others may read is refused. The key is never logged;
//! `Debug` shows none of it.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Environment variable holding the key in base64; it wins over the key file.
pub const ENV_VAR: &str = "ADUANA_SIGNING_KEY";
/// Name of the key file in the data directory.
pub const FILE_NAME: &str = "signing.key";
/// Length of a generated key, and the least accepted (HS256 wants at least the hash length).
pub const KEY_BYTES: usize = 32;

/// Secret key material. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Where a key came from (for the start-up log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File { path: PathBuf, created: bool },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "{ENV_VAR}"),
            Self::File { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{origin} is not base64")]
    NotBase64 { origin: String },
    #[error("{origin} holds {len} bytes; a signing key has at least {KEY_BYTES}")]
    TooShort { origin: String, len: usize },
    #[error("the signing key file {} may be read by others (mode {mode:o}): run chmod 600 on it", path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("cannot use the signing key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system's random generator failed: {0}")]
    Random(getrandom::Error),
}

impl SigningKey {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, KeyError> {
        Self::checked(bytes, "the key")
    }

    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = vec![0; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(KeyError::Random)?;
        Ok(Self(bytes))
    }

    /// The key for the data directory: from `env_value` (the value of `ADUANA_SIGNING_KEY`)
    /// when given, else from the key file, created on first use.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<(Self, KeySource), KeyError> {
        if let Some(value) = env_value {
            return Ok((Self::from_base64(value, ENV_VAR)?, KeySource::Environment));
        }
        let path = data_dir.join(FILE_NAME);
        let (key, created) = Self::load_or_create_file(&path)?;
        Ok((key, KeySource::File { path, created }))
    }

    /// The bytes, for the token library only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn from_base64(text: &str, origin: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64 {
                origin: origin.to_owned(),
            })?;
        Self::checked(bytes, origin)
    }

    fn checked(bytes: Vec<u8>, origin: &str) -> Result<Self, KeyError> {
        if bytes.len() < KEY_BYTES {
            return Err(KeyError::TooShort {
                origin: origin.to_owned(),
                len: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// Reads the key file, or creates it when there is none; `true` when created.
    fn load_or_create_file(path: &Path) -> Result<(Self, bool), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_if_exposed(path)?;
                return Ok((
                    Self::from_base64(&text, &path.display().to_string())?,
                    false,
                ));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = Self::generate()?;
        // tempfile creates the file with mode 0600.
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        writeln!(file, "{}", STANDARD.encode(&key.0)).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        match file.persist_noclobber(path) {
            Ok(_) => Ok((key, true)),
            // Another process created it first: use that one.
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create_file(path)
            }
            Err(error) => Err(io(error.error)),
        }
    }
}

#[cfg(unix)]
fn refuse_if_exposed(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_exposed(_path: &Path) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let (first, source) = SigningKey::load(None, &data_dir).unwrap();
        let path = data_dir.join(FILE_NAME);
        assert_eq!(
            source,
            KeySource::File {
                path: path.clone(),
                created: true
            }
        );
        assert_eq!(first.expose().len(), KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, source) = SigningKey::load(None, &data_dir).unwrap();
        assert_eq!(second, first);
        assert!(matches!(source, KeySource::File { created: false, .. }));
        // Only the key file is left behind.
        assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 1);
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap()
        );
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let value = STANDARD.encode([9u8; 32]);
        let (key, source) = SigningKey::load(Some(&value), dir.path()).unwrap();
        assert_eq!(key.expose(), &[9u8; 32]);
        assert_eq!(source, KeySource::Environment);
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn short_or_garbled_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = STANDARD.encode([1u8; 16]);
        assert!(matches!(
            SigningKey::load(Some(&short), dir.path()),
            Err(KeyError::TooShort { len: 16, .. })
        ));
        assert!(matches!(
            SigningKey::load(Some("not base64!"), dir.path()),
            Err(KeyError::NotBase64 { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        SigningKey::load(None, dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = SigningKey::load(None, dir.path()).unwrap_err();
        assert!(matches!(error, KeyError::Exposed { mode: 0o644, .. }));
        assert!(error.to_string().contains("chmod 600"));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SigningKey::from_bytes(vec![0xAB; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
    }
}
