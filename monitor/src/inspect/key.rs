//! The per-install key of credential fingerprints. Fingerprints are HMACs with this key, so they
//! correlate the same secret across alerts on this install while revealing nothing to anyone
//! without the key (a plain hash of a short or known-format secret could be brute-forced).
use std::{
    fs,
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use thiserror::Error;

const KEY_LEN: usize = 32;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read the fingerprint key {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the fingerprint key {path}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the fingerprint key {path} is {len} bytes; it must be at least {KEY_LEN}")]
    TooShort { path: String, len: usize },
}

/// Reads the key, or creates it (random, mode 0600) if the file does not exist.
pub fn load_or_create_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    let shown = path.display().to_string();
    match fs::read(path) {
        Ok(key) if key.len() >= KEY_LEN => return Ok(key),
        Ok(key) => {
            return Err(KeyError::TooShort {
                path: shown,
                len: key.len(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KeyError::Read {
                path: shown,
                source,
            });
        }
    }
    let create = |source| KeyError::Create {
        path: shown.clone(),
        source,
    };
    let mut key = vec![0u8; KEY_LEN];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .map_err(create)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(create)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(create)?;
    file.write_all(&key).map_err(create)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(create)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_once_and_reads_it_back() {
        let dir = std::env::temp_dir().join(format!("monitor-key-{}", std::process::id()));
        let path = dir.join("sub/fingerprint.key");
        let _ = fs::remove_dir_all(&dir);
        let first = load_or_create_key(&path).unwrap();
        assert_eq!(first.len(), KEY_LEN);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create_key(&path).unwrap(), first);
        fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(KeyError::TooShort { len: 5, .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
