//! Names that reach URLs and paths: a repository (`org/name`), a pinned revision (a 40-hex commit
//! id) and a package file. Parsed once where they enter (a commitment, a CLI flag) so everything
//! past that point holds a name that is safe to put in a URL or join to a directory.

use std::fmt;
use std::str::FromStr;

/// A name that is not one a hub (or a validator's disk) may be asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{value}` is not a safe hub name")]
pub struct NameError {
    pub what: &'static str,
    /// The offending input, cut short so a hostile commitment cannot flood a log line.
    pub value: String,
}

impl NameError {
    fn new(what: &'static str, value: &str) -> Self {
        NameError {
            what,
            value: value.chars().take(96).collect(),
        }
    }
}

/// The hub's own limit on each half of a repository id.
const MAX_PART: usize = 96;

fn part_ok(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PART
        && !p.starts_with('.')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `org/name` on a hub. A name ending in `.git` is refused: on the Hugging Face hub that suffix
/// addresses the Git endpoint, not the repository, so uploader and downloader could disagree on
/// which repository is meant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoId {
    full: String,
    slash: usize,
}

impl RepoId {
    pub fn parse(repo: &str) -> Result<Self, NameError> {
        match repo.split_once('/') {
            Some((org, name)) if part_ok(org) && part_ok(name) && !name.ends_with(".git") => Ok(RepoId {
                full: repo.to_owned(),
                slash: org.len(),
            }),
            _ => Err(NameError::new("repository", repo)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn org(&self) -> &str {
        &self.full[..self.slash]
    }

    pub fn name(&self) -> &str {
        &self.full[self.slash + 1..]
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for RepoId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoId::parse(s)
    }
}

/// A full commit id: the only kind of revision a commitment may pin, since a branch or tag can
/// move after validators scored it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub [u8; 20]);

impl Revision {
    /// 40 lowercase hex digits, as the hub prints commit ids.
    pub fn parse(revision: &str) -> Result<Self, NameError> {
        let lower_hex =
            revision.len() == 40 && revision.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut bytes = [0u8; 20];
        match lower_hex && hex::decode_to_slice(revision, &mut bytes).is_ok() {
            true => Ok(Revision(bytes)),
            false => Err(NameError::new("revision", revision)),
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Revision {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Revision::parse(s)
    }
}

/// Only top-level package files are ever asked for, so anything with a separator or a leading
/// dot is refused outright.
pub fn check_file(file: &str) -> Result<(), NameError> {
    let ok = !file.is_empty()
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NameError::new("file", file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_reach_urls_and_paths_are_checked() {
        let repo = RepoId::parse("kindred-org/wren-135m").expect("valid");
        assert_eq!((repo.org(), repo.name()), ("kindred-org", "wren-135m"));
        for bad in [
            "noslash", "../etc", "a/../b", "a/b/c", "a/.git", "a/b?x=1", "a/b.git", "/b", "a/",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
        assert!(RepoId::parse(&format!("a/{}", "x".repeat(97))).is_err());
        let rev = Revision::parse(&"ab".repeat(20)).expect("valid");
        assert_eq!(rev.to_hex(), "ab".repeat(20));
        for bad in ["main", "AB".repeat(20).as_str(), "ab", &"g".repeat(40)] {
            assert!(Revision::parse(bad).is_err(), "{bad}");
        }
        assert!(check_file("model.safetensors").is_ok());
        for bad in ["", "../x", "a/b", ".env", "x%2f"] {
            assert!(check_file(bad).is_err(), "{bad}");
        }
    }
}
