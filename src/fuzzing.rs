//! Shared machinery of the property tests (`proptests` modules beside the parsers they
//! fuzz) for the parsers that read untrusted input: image references
//! (command line, payloads, disk trees), the payload's `image-references`, and manifests.
//!
//! Each property runs `PROPTEST_CASES` cases: proptest's default of 256 in the normal suite,
//! many more from `scripts/fuzz`. Inputs come from four sources: arbitrary bytes or text,
//! text from the grammar's alphabet, the seed corpus in `tests/data/corpus/` mutated (bit flips,
//! JSON tokens inserted, cuts, splices), and structured JSON trees built from the keys the
//! parsers look for. Failing cases are shrunk and their seeds kept in
//! `proptest-regressions/<module path>/proptests.txt`, replayed first on every later run.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// The runner configuration: `PROPTEST_CASES` cases, failures persisted to `regressions`.
pub(crate) fn config(regressions: &'static str) -> Config {
    Config { failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))), ..Config::default() }
}

/// Every file of `tests/data/corpus/<dir>`, sorted by name.
pub(crate) fn corpus_files(dir: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus").join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("read corpus file")).collect()
}

/// One mutation of a byte string; positions wrap around its length.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Flip(usize, u8),
    Insert(usize, &'static [u8]),
    Delete(usize, usize),
    Truncate(usize),
    /// Copy `len` bytes from one position to another.
    Splice(usize, usize, usize),
}

/// Tokens that break or bend JSON and references.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"0.5",
    b"sha256:",
    b"@",
    b"/",
    b"../",
    b":",
    b"\xff\xfe",
    b"\"mediaType\":",
    b"\"manifests\":[",
    b"\"layers\":[",
    b"\"config\":{",
    b"\"schemaVersion\":1",
    b"\"tags\":[",
    b"\"from\":{",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, bits)| Edit::Flip(at, bits)),
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), 1usize..256).prop_map(|(from, to, n)| Edit::Splice(from, to, n)),
    ]
}

/// Apply `edits` to `input`.
pub(crate) fn apply(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = input.to_vec();
    for e in edits {
        let at = |i: usize| if out.is_empty() { 0 } else { i % (out.len() + 1) };
        match *e {
            Edit::Flip(i, bits) if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= bits;
            }
            Edit::Flip(..) => {}
            Edit::Insert(i, token) => {
                let i = at(i);
                out.splice(i..i, token.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(i);
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
            Edit::Truncate(i) => {
                let i = at(i);
                out.truncate(i);
            }
            Edit::Splice(from, to, n) => {
                let from = at(from);
                let piece: Vec<u8> = out[from..(from + n).min(out.len())].to_vec();
                let to = at(to);
                out.splice(to..to, piece);
            }
        }
    }
    out
}

/// A corpus entry with up to 8 mutations.
pub(crate) fn mutated(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!corpus.is_empty(), "an empty corpus");
    (0..corpus.len(), prop::collection::vec(edit(), 0..8)).prop_map(move |(i, edits)| apply(&corpus[i], &edits))
}

/// JSON trees whose keys are those the parsers look for, and whose leaves are anything.
pub(crate) fn json_tree(keys: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::String),
        "sha256:[0-9a-f]{64}".prop_map(Value::String),
        prop::sample::select(crate::manifest::ACCEPTED.to_vec()).prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(keys), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

#[test]
fn edits_wrap_around_and_never_index_out_of_bounds() {
    let edits = [Edit::Delete(1, 2), Edit::Insert(usize::MAX, b"xy"), Edit::Splice(0, 6, 2), Edit::Flip(99, 1)];
    assert_eq!(apply(b"abcdef", &edits), b"xyaeefxy".to_vec());
    assert_eq!(apply(b"abc", &[Edit::Delete(2, 100), Edit::Truncate(1)]), b"a".to_vec());
    assert_eq!(apply(b"", &[Edit::Flip(3, 1), Edit::Truncate(5), Edit::Splice(1, 2, 3)]), b"".to_vec());
}
