//! A plain directory as a hub: `{root}/{org}/{name}/{revision_hex}/{files}`. Publishing names
//! a revision after the content (the first 20 bytes of its digest), so the same package always
//! lands at the same revision and a validator cannot tell it from a hub that serves it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::hash::{HashError, PackageHashes, hash_package};
use crate::name::{RepoId, Revision, check_file};
use crate::{HubError, HubFile, ModelHub, io_err};

/// A repository laid out as `{root}/{org}/{name}/{revision_hex}/{files}` on a local disk.
#[derive(Clone, Debug)]
pub struct LocalHub {
    root: PathBuf,
}

/// What [`LocalHub::publish`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The revision to commit: the first 20 bytes of `digest`, so the same content always gets
    /// the same revision.
    pub revision: [u8; 20],
    /// The package's unsalted content digest.
    pub digest: [u8; 32],
}

impl Published {
    pub fn revision_id(&self) -> Revision {
        Revision(self.revision)
    }

    pub fn revision_hex(&self) -> String {
        hex::encode(self.revision)
    }
}

/// Tells concurrent publishers in one process apart.
static PUBLISHING: AtomicU64 = AtomicU64::new(0);

impl LocalHub {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalHub { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn revision_dir(&self, repo: &RepoId, revision: &Revision) -> Result<PathBuf, HubError> {
        Ok(self
            .root
            .join(repo.org())
            .join(repo.name())
            .join(revision.to_hex()))
    }

    /// Copies the package files of `package_dir` (the allow-listed ones; anything else is left
    /// behind) into the hub under `repo`, and returns the revision they got.
    pub fn publish(&self, package_dir: &Path, repo: &RepoId) -> Result<Published, HubError> {
        let PackageHashes { digest, files } =
            hash_package(package_dir).map_err(|HashError { path, source }| HubError::Io { path, source })?;
        let mut revision = [0u8; 20];
        revision.copy_from_slice(&digest[..20]);
        let dir = self
            .root
            .join(repo.org())
            .join(repo.name())
            .join(hex::encode(revision));
        if !dir.is_dir() {
            let parent = self.root.join(repo.org()).join(repo.name());
            std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            // Copied beside the final name and renamed, so readers never see half a revision.
            let staging = parent.join(format!(
                ".publishing-{}-{}",
                std::process::id(),
                PUBLISHING.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
            for (name, _) in &files {
                let to = staging.join(name);
                std::fs::copy(package_dir.join(name), &to).map_err(io_err(&to))?;
            }
            if let Err(e) = std::fs::rename(&staging, &dir) {
                let _ = std::fs::remove_dir_all(&staging);
                // Someone published the same content meanwhile: same digest, same files.
                if !dir.is_dir() {
                    return Err(io_err(&dir)(e));
                }
            }
        }
        Ok(Published { revision, digest })
    }
}

#[async_trait]
impl ModelHub for LocalHub {
    async fn resolve(&self, repo: &RepoId, revision: &Revision) -> Result<Vec<HubFile>, HubError> {
        let dir = self.revision_dir(repo, revision)?;
        let listing = tokio::task::spawn_blocking(move || -> Result<Option<Vec<HubFile>>, HubError> {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&dir)(e)),
            };
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(io_err(&dir))?;
                let meta = std::fs::symlink_metadata(entry.path()).map_err(io_err(&entry.path()))?;
                // Only regular files are part of a revision; a link could point anywhere.
                if !meta.file_type().is_file() {
                    continue;
                }
                files.push(HubFile {
                    path: entry.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                });
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(Some(files))
        })
        .await
        .map_err(|e| HubError::Io {
            path: self.root.clone(),
            source: std::io::Error::other(e),
        })??;
        listing.ok_or_else(|| HubError::NotFound {
            what: format!("{repo}@{revision}"),
            status: None,
        })
    }

    async fn download(
        &self,
        repo: &RepoId,
        revision: &Revision,
        file: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<u64, HubError> {
        check_file(file)?;
        let src = self.revision_dir(repo, revision)?.join(file);
        let dest = dest.to_path_buf();
        let what = format!("{repo}@{revision}/{file}");
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || copy_capped(&src, &dest, &what, &file, max_bytes))
            .await
            .map_err(|e| HubError::Io {
                path: self.root.clone(),
                source: std::io::Error::other(e),
            })?
    }
}

/// Copies `src` to `dest`, continuing a partial `dest`, and stops once more than `max_bytes`
/// would be written.
fn copy_capped(src: &Path, dest: &Path, what: &str, file: &str, max_bytes: u64) -> Result<u64, HubError> {
    let meta = match std::fs::symlink_metadata(src) {
        Ok(meta) if meta.file_type().is_file() => meta,
        Ok(_) => {
            return Err(HubError::NotFound {
                what: what.to_owned(),
                status: None,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(HubError::NotFound {
                what: what.to_owned(),
                status: None,
            });
        }
        Err(e) => return Err(io_err(src)(e)),
    };
    let too_large = || HubError::TooLarge {
        file: file.to_owned(),
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let have = match std::fs::metadata(dest) {
        Ok(m) if m.len() <= meta.len() => m.len(),
        Ok(_) => 0,
        Err(_) => 0,
    };
    let mut input = std::fs::File::open(src).map_err(io_err(src))?;
    input.seek(SeekFrom::Start(have)).map_err(io_err(src))?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(have == 0)
        .append(have > 0)
        .open(dest)
        .map_err(io_err(dest))?;
    let mut written = have;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        written += n as u64;
        // The file may grow after the size check; the cap holds on what is actually copied.
        if written > max_bytes {
            drop(out);
            let _ = std::fs::remove_file(dest);
            return Err(too_large());
        }
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
    }
    out.flush().map_err(io_err(dest))?;
    Ok(written)
}
