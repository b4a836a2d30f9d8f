//! A model package on disk: which files it may hold and what its safetensors headers say.
//!
//! Everything here reads metadata only (directory entries, sizes, JSON headers); no weight is
//! loaded, so a hostile package costs at most a bounded header read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::rejection::Rejection;

pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
pub const GENERATION_CONFIG: &str = "generation_config.json";
pub const SINGLE_WEIGHTS: &str = "model.safetensors";
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// Files that may sit in a repository but are never read (documentation, git attributes).
const IGNORED: [&str; 3] = ["README.md", ".gitattributes", "LICENSE"];
/// Small JSON files are parsed whole, so their size is capped well below the weight limits.
const MAX_JSON_BYTES: u64 = 1024 * 1024;
/// tokenizer.json of large-vocabulary models reaches ~11 MB.
const MAX_TOKENIZER_BYTES: u64 = 64 * 1024 * 1024;
const MAX_HEADER_BYTES: u64 = 64 * 1024 * 1024;

/// Errors that are not the miner's fault (our disk, our cache): retried, never scored.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {source}")]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Either the package is at fault (a rejection) or our side is (retry later).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Io(#[from] IoError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError {
        path: path.to_path_buf(),
        source,
    }
}

/// Allowed tensor element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum Dtype {
    F32,
    BF16,
    F16,
}

impl Dtype {
    pub fn size(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::BF16 | Self::F16 => 2,
        }
    }
}

/// One tensor as described by a safetensors header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub file: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorEntry {
    pub fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// The files of a package that passed the file-level rules.
#[derive(Debug, Clone)]
pub struct PackageFiles {
    pub dir: PathBuf,
    /// File name → size in bytes, for every regular file present (ignored ones included).
    pub sizes: BTreeMap<String, u64>,
    /// The safetensors files holding the weights, in load order.
    pub weight_files: Vec<String>,
}

impl PackageFiles {
    pub fn total_bytes(&self) -> u64 {
        self.sizes.values().sum()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn weight_paths(&self) -> Vec<PathBuf> {
        self.weight_files.iter().map(|f| self.dir.join(f)).collect()
    }

    /// Reads a small JSON file whole, refusing oversize ones.
    pub fn read_json_bytes(&self, name: &str, limit: u64) -> Result<Vec<u8>, PackageError> {
        let size = *self
            .sizes
            .get(name)
            .ok_or_else(|| Rejection::MissingFile { file: name.into() })?;
        if size > limit {
            return Err(Rejection::FileTooLarge {
                file: name.into(),
                size,
                limit,
            }
            .into());
        }
        let path = self.path(name);
        Ok(fs::read(&path).map_err(io_err(&path))?)
    }
}

/// `model-00001-of-00003.safetensors`: the only shard names accepted (no paths, no tricks).
pub fn is_shard_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("model-")
        .and_then(|r| r.strip_suffix(".safetensors"))
    else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() == 14 && &rest[5..9] == "-of-" && bytes[..5].iter().chain(&bytes[9..]).all(u8::is_ascii_digit)
}

/// True for the files a package consists of: what validators download, hash and evaluate.
/// Documentation and git files a repository may also hold ([`IGNORED`] here) are not part of it.
pub fn is_package_file(name: &str) -> bool {
    [
        CONFIG,
        TOKENIZER,
        TOKENIZER_CONFIG,
        GENERATION_CONFIG,
        SINGLE_WEIGHTS,
        SHARD_INDEX,
    ]
    .contains(&name)
        || is_shard_name(name)
}

fn is_allowed_name(name: &str) -> bool {
    is_package_file(name) || IGNORED.contains(&name)
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// Applies the file-level rules: allow-list, regular files only, byte limits, shard index.
pub fn scan(dir: &Path, max_file_bytes: u64, max_total_bytes: u64) -> Result<PackageFiles, PackageError> {
    let mut sizes = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(entry.path()).map_err(io_err(&entry.path()))?;
        if !is_allowed_name(&name) {
            return Err(Rejection::ForbiddenFile { file: name }.into());
        }
        if !meta.file_type().is_file() {
            return Err(Rejection::NotRegularFile { file: name }.into());
        }
        if meta.len() > max_file_bytes {
            return Err(Rejection::FileTooLarge {
                file: name,
                size: meta.len(),
                limit: max_file_bytes,
            }
            .into());
        }
        sizes.insert(name, meta.len());
    }
    let total: u64 = sizes.values().sum();
    if total > max_total_bytes {
        return Err(Rejection::PackageTooLarge {
            total,
            limit: max_total_bytes,
        }
        .into());
    }
    for required in [CONFIG, TOKENIZER, TOKENIZER_CONFIG] {
        if !sizes.contains_key(required) {
            return Err(Rejection::MissingFile {
                file: required.into(),
            }
            .into());
        }
    }
    let mut files = PackageFiles {
        dir: dir.to_path_buf(),
        sizes,
        weight_files: Vec::new(),
    };
    let shards_present: BTreeSet<&String> = files.sizes.keys().filter(|n| is_shard_name(n)).collect();
    let has_index = files.sizes.contains_key(SHARD_INDEX);
    let has_single = files.sizes.contains_key(SINGLE_WEIGHTS);
    files.weight_files = match (has_single, has_index) {
        (true, false) if shards_present.is_empty() => vec![SINGLE_WEIGHTS.to_string()],
        (false, true) => {
            let bytes = files.read_json_bytes(SHARD_INDEX, MAX_JSON_BYTES)?;
            let index: ShardIndex = serde_json::from_slice(&bytes).map_err(|e| Rejection::BadShardIndex {
                detail: e.to_string(),
            })?;
            let named: BTreeSet<&String> = index.weight_map.values().collect();
            if let Some(bad) = named.iter().find(|n| !is_shard_name(n)) {
                return Err(Rejection::BadShardIndex {
                    detail: format!("shard name {bad:?} is not model-NNNNN-of-NNNNN.safetensors"),
                }
                .into());
            }
            if let Some(missing) = named.iter().find(|n| !shards_present.contains(**n)) {
                return Err(Rejection::MissingFile {
                    file: (**missing).clone(),
                }
                .into());
            }
            if let Some(extra) = shards_present.iter().find(|n| !named.contains(**n)) {
                return Err(Rejection::BadShardIndex {
                    detail: format!("{extra} is present but not in the index"),
                }
                .into());
            }
            named.into_iter().cloned().collect()
        }
        (false, false) => {
            return Err(Rejection::MissingFile {
                file: SINGLE_WEIGHTS.into(),
            }
            .into());
        }
        _ => {
            return Err(Rejection::BadShardIndex {
                detail: "both a single model.safetensors and shards are present".into(),
            }
            .into());
        }
    };
    Ok(files)
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Reads and checks one safetensors header without touching the tensor data.
pub fn read_header(path: &Path, file: &str) -> Result<BTreeMap<String, TensorEntry>, PackageError> {
    let bad = |detail: String| Rejection::BadSafetensors {
        file: file.to_string(),
        detail,
    };
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let file_len = f.metadata().map_err(io_err(path))?.len();
    let mut len_bytes = [0u8; 8];
    if file_len < 8 {
        return Err(bad("shorter than the 8-byte header length".into()).into());
    }
    f.read_exact(&mut len_bytes).map_err(io_err(path))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || header_len > file_len - 8 {
        return Err(bad(format!(
            "header length {header_len} is impossible for a {file_len}-byte file"
        ))
        .into());
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(io_err(path))?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let data_len = file_len - 8 - header_len;
    let mut spans = Vec::new();
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let entry: RawEntry = serde_json::from_value(value).map_err(|e| bad(format!("entry {name}: {e}")))?;
        let dtype = match entry.dtype.as_str() {
            "F32" => Dtype::F32,
            "BF16" => Dtype::BF16,
            "F16" => Dtype::F16,
            other => {
                return Err(Rejection::BadDtype {
                    name,
                    dtype: other.to_string(),
                }
                .into());
            }
        };
        let elements = entry
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&e| e <= 1 << 40)
            .ok_or_else(|| bad(format!("tensor {name} has an absurd shape {:?}", entry.shape)))?;
        let [begin, end] = entry.data_offsets;
        if begin > end || end > data_len || end - begin != elements * dtype.size() {
            return Err(bad(format!(
                "tensor {name} has offsets {begin}..{end} inconsistent with its shape or the file"
            ))
            .into());
        }
        spans.push((begin, end));
        let shape = entry.shape.iter().map(|&d| d as usize).collect();
        out.insert(
            name,
            TensorEntry {
                file: file.to_string(),
                dtype,
                shape,
            },
        );
    }
    spans.sort_unstable();
    let mut cursor = 0;
    for (begin, end) in spans {
        if begin != cursor {
            return Err(bad("tensor data overlaps or leaves holes".into()).into());
        }
        cursor = end;
    }
    if cursor != data_len {
        return Err(bad(format!(
            "{} trailing bytes after the last tensor",
            data_len - cursor
        ))
        .into());
    }
    Ok(out)
}

/// Reads every weight file's header and merges them, refusing duplicates across shards.
pub fn read_tensor_index(files: &PackageFiles) -> Result<BTreeMap<String, TensorEntry>, PackageError> {
    let mut all = BTreeMap::new();
    for file in &files.weight_files {
        for (name, entry) in read_header(&files.path(file), file)? {
            if all.contains_key(&name) {
                return Err(Rejection::DuplicateTensor { name }.into());
            }
            all.insert(name, entry);
        }
    }
    Ok(all)
}

pub(crate) const JSON_LIMIT: u64 = MAX_JSON_BYTES;
pub(crate) const TOKENIZER_LIMIT: u64 = MAX_TOKENIZER_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert!(is_shard_name("model-00001-of-00002.safetensors"));
        for bad in [
            "model-1-of-2.safetensors",
            "../model-00001-of-00002.safetensors",
            "model-0000a-of-00002.safetensors",
            "model-00001-of-00002.safetensors.py",
            "model.safetensors",
        ] {
            assert!(!is_shard_name(bad), "{bad}");
        }
    }
}
