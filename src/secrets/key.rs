//! Where the secrets key comes from: `STOWAGE_SECRETS_KEY` (base64 of 32
//! bytes), else `[secrets] key_file` (the same base64, one line), else a key
//! file generated in the data directory on first start (mode 0600).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::SecretBox;

/// The environment variable holding the key itself.
pub const KEY_ENV: &str = "STOWAGE_SECRETS_KEY";
/// The generated key's file name in the data directory.
pub const GENERATED_KEY_FILE: &str = "secrets.key";

/// Where the key in use came from (logged at startup; never the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{KEY_ENV} is not the base64 of 32 bytes")]
    BadEnv,
    #[error("secrets key file {path} is not the base64 of 32 bytes")]
    BadFile { path: PathBuf },
    #[error("cannot read secrets key file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "this data directory holds sealed secrets but has no key: copy the {GENERATED_KEY_FILE} of the server that wrote it to {path} (or set {KEY_ENV} / [secrets] key_file to its key)"
    )]
    Missing { path: PathBuf },
    #[error("cannot create secrets key file {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn parse(text: &str) -> Option<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// The key from `env_value` (the env variable's value, if set), else
/// `key_file`, else `data_dir/secrets.key`, created when absent unless
/// `sealed_data` (records sealed under a key that a new key would not open:
/// a data directory restored without its key).
pub fn load_or_create(
    env_value: Option<&str>,
    key_file: Option<&Path>,
    data_dir: &Path,
    sealed_data: bool,
) -> Result<(SecretBox, KeySource), KeyError> {
    if let Some(value) = env_value {
        let key = parse(value).ok_or(KeyError::BadEnv)?;
        return Ok((SecretBox::new(&key), KeySource::Env));
    }
    let (path, configured) = match key_file {
        Some(path) => (path.to_path_buf(), true),
        None => (data_dir.join(GENERATED_KEY_FILE), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = parse(&text).ok_or_else(|| KeyError::BadFile { path: path.clone() })?;
            Ok((SecretBox::new(&key), KeySource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !configured && sealed_data => {
            Err(KeyError::Missing { path })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !configured => {
            let mut key = [0u8; 32];
            getrandom::getrandom(&mut key).expect("the OS random source is available");
            let create = |path: &Path| -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                file.write_all(STANDARD.encode(key).as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()
            };
            create(&path).map_err(|source| KeyError::Create {
                path: path.clone(),
                source,
            })?;
            Ok((SecretBox::new(&key), KeySource::Generated(path)))
        }
        Err(source) => Err(KeyError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_a_private_key_file_once_then_reads_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, source) = load_or_create(None, None, dir.path(), false).expect("created");
        let path = dir.path().join(GENERATED_KEY_FILE);
        assert_eq!(source, KeySource::Generated(path.clone()));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, source) = load_or_create(None, None, dir.path(), true).expect("read");
        assert_eq!(source, KeySource::File(path));
        let sealed = first.seal("t", b"k", b"v");
        assert_eq!(second.open("t", b"k", &sealed).expect("same key"), b"v");
    }

    #[test]
    fn env_wins_and_bad_values_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = STANDARD.encode([1u8; 32]);
        let (_, source) = load_or_create(Some(&env), None, dir.path(), false).expect("env");
        assert_eq!(source, KeySource::Env);
        assert!(!dir.path().join(GENERATED_KEY_FILE).exists());
        let err = load_or_create(Some("c2VjcmV0"), None, dir.path(), false).expect_err("short");
        assert!(!err.to_string().contains("c2VjcmV0"));
        let missing = dir.path().join("nope.key");
        assert!(matches!(
            load_or_create(None, Some(&missing), dir.path(), false),
            Err(KeyError::Read { .. })
        ));
        // Sealed records and no key: refused, not replaced by a new key.
        assert!(matches!(
            load_or_create(None, None, dir.path(), true),
            Err(KeyError::Missing { .. })
        ));
        assert!(!dir.path().join(GENERATED_KEY_FILE).exists());
    }
}
