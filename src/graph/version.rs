//! Release versions: `major.minor.patch[-pre-release][+build]`, ordered by SemVer 2.0 precedence.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A release version such as `4.15.3`, `4.16.0-rc.1` or `4.15.0-0.okd-2024-03-10-010116`.
///
/// Ordering follows SemVer 2.0 precedence (a pre-release sorts before its release:
/// `4.15.0-rc.1 < 4.15.0`). Build metadata does not change precedence; it only breaks ties
/// between otherwise equal versions so that the order stays total and agrees with `==`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
    build: String,
}

/// One dot-separated pre-release identifier. The variant order is the SemVer rule:
/// numeric identifiers sort before alphanumeric ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Identifier {
    Numeric(u64),
    Alpha(String),
}

/// Why a string is not a version; the message quotes the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {text:?}: {reason}")]
pub struct VersionError {
    /// The rejected text.
    pub(crate) text: String,
    /// What is wrong with it.
    pub(crate) reason: String,
}

impl Version {
    /// Builds a plain release version `major.minor.patch`.
    pub(crate) fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version { major, minor, patch, pre: Vec::new(), build: String::new() }
    }

    /// The major number (`4` in `4.15.3`).
    pub(crate) fn major(&self) -> u64 {
        self.major
    }

    /// The minor number (`15` in `4.15.3`).
    pub(crate) fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch number (`3` in `4.15.3`).
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// True for a pre-release such as `4.16.0-rc.1`.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
            .then_with(|| self.build.cmp(&other.build))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match id {
                Identifier::Numeric(n) => write!(f, "{n}")?,
                Identifier::Alpha(s) => f.write_str(s)?,
            }
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text).map_err(|reason| VersionError { text: text.to_string(), reason })
    }
}

fn parse(text: &str) -> Result<Version, String> {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = parts[..] else {
        return Err("expected major.minor.patch, e.g. 4.15.3".to_string());
    };
    let mut version = Version::new(number(major, "major")?, number(minor, "minor")?, number(patch, "patch")?);
    if let Some(pre) = pre {
        version.pre = pre.split('.').map(pre_identifier).collect::<Result<_, _>>()?;
    }
    if let Some(build) = build {
        for id in build.split('.') {
            check_identifier(id, "build metadata")?;
        }
        version.build = build.to_string();
    }
    Ok(version)
}

/// A numeric field: ASCII digits, no leading zero, fits in a u64.
fn number(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("{what} {s:?} has a leading zero"));
    }
    s.parse().map_err(|_| format!("{what} {s} is too large"))
}

fn pre_identifier(s: &str) -> Result<Identifier, String> {
    check_identifier(s, "pre-release")?;
    if s.bytes().all(|b| b.is_ascii_digit()) {
        number(s, "pre-release number").map(Identifier::Numeric)
    } else {
        Ok(Identifier::Alpha(s.to_string()))
    }
}

/// Pre-release and build identifiers: non-empty, `[0-9A-Za-z-]` only.
fn check_identifier(s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} has an empty identifier"));
    }
    match s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        Some(c) => Err(format!("{what} contains {c:?}; only letters, digits, '-' and '.' are allowed")),
        None => Ok(()),
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn orders_by_semver_precedence() {
        // The SemVer 2.0 example chain, then OpenShift-shaped versions.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "4.9.0",
            "4.10.0",
            "4.15.0-ec.3",
            "4.15.0-rc.1",
            "4.15.0-rc.10",
            "4.15.0",
            "4.15.2",
            "4.15.10",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        let mut shuffled: Vec<Version> = chain.iter().rev().map(|s| v(s)).collect();
        shuffled.sort();
        assert_eq!(shuffled.iter().map(ToString::to_string).collect::<Vec<_>>(), chain);
    }

    #[test]
    fn build_metadata_only_breaks_ties() {
        assert!(v("4.15.0+a") < v("4.15.1"));
        assert!(v("4.15.0-rc.1+zzz") < v("4.15.0"));
        assert_ne!(v("4.15.0+a"), v("4.15.0"));
        assert_eq!(v("4.15.0+a").cmp(&v("4.15.0+a")), Ordering::Equal);
    }

    #[test]
    fn displays_what_it_parsed() {
        for s in ["4.15.3", "4.16.0-rc.1", "4.15.0-0.okd-2024-03-10-010116", "1.2.3-x.7.z+build.007", "0.0.0"] {
            assert_eq!(v(s).to_string(), s);
        }
        let okd = v("4.15.0-0.okd-2024-03-10-010116");
        assert_eq!((okd.major(), okd.minor(), okd.patch(), okd.is_prerelease()), (4, 15, 0, true));
    }

    #[test]
    fn rejects_junk_with_a_reason() {
        let cases = [
            ("", "expected major.minor.patch"),
            ("..", "major is empty"),
            ("4.15", "expected major.minor.patch"),
            ("4.15.3.1", "expected major.minor.patch"),
            ("v4.15.3", "major \"v4\" is not a number"),
            ("4.015.3", "minor \"015\" has a leading zero"),
            ("4.15.x", "patch \"x\" is not a number"),
            (" 4.15.3", "is not a number"),
            ("4.15.3-", "pre-release has an empty identifier"),
            ("4.15.3-rc..1", "pre-release has an empty identifier"),
            ("4.15.3-rc.01", "pre-release number \"01\" has a leading zero"),
            ("4.15.3-rc_1", "pre-release contains '_'"),
            ("4.15.3+", "build metadata has an empty identifier"),
            ("4.15.3+a+b", "build metadata contains '+'"),
            ("99999999999999999999.0.0", "too large"),
        ];
        for (text, want) in cases {
            let err = text.parse::<Version>().expect_err(text);
            assert_eq!(err.text, text);
            let msg = err.to_string();
            assert!(msg.starts_with("invalid version"), "{msg}");
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&v("4.16.0-rc.1")).unwrap();
        assert_eq!(json, "\"4.16.0-rc.1\"");
        assert_eq!(serde_json::from_str::<Version>(&json).unwrap(), v("4.16.0-rc.1"));
        assert!(serde_json::from_str::<Version>("\"4.16\"").is_err());
    }
}
