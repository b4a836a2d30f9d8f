//! A package's content identity as validators compute it: each allow-listed file's sha256 and
//! the chain's `content_digest` over them, which the hotkey-salted hash in a commitment binds to.
//! Files that are not package files (a README, a stray script) never count, so a miner hashes
//! exactly what validators will download.

use std::io::Read;
use std::path::{Path, PathBuf};

use kindred_chain::submission::content_digest;
use kindred_scoring::package::is_package_file;
use sha2::{Digest, Sha256};

/// A package directory read from our own disk failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct HashError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The content identity of a package directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageHashes {
    /// `content_digest` over `files`.
    pub digest: [u8; 32],
    /// Each package file's name and sha256, sorted by name.
    pub files: Vec<(String, [u8; 32])>,
}

/// One file's sha256, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<[u8; 32], HashError> {
    let err = |source| HashError {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// Hashes the package files in `dir` (other files are skipped) the way a validator will, so a
/// miner can compute the hash to commit before publishing.
pub fn hash_package(dir: &Path) -> Result<PackageHashes, HashError> {
    let err = |source| HashError {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_package_file(&name) || !entry.path().is_file() {
            continue;
        }
        files.push((name, sha256_file(&entry.path())?));
    }
    files.sort();
    Ok(PackageHashes {
        digest: content_digest(&files),
        files,
    })
}
