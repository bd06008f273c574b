//! serdecheck: the Aptos backup `Metadata` enum (spec/aptos-metadata.md §2.2)
//! run through the real serde_json, as a reference for metactl's Go codec.
//!
//! Usage:
//!   serdecheck roundtrip   < lines   one output line per input line:
//!                                    `ok <serde_json::to_string(parsed)>` or
//!                                    `err <serde_json error message>`
//!   serdecheck pretty      < lines   for each input line, serde_json's
//!                                    to_string_pretty (or `err <message>`),
//!                                    then a line holding only `---`
//!
//! Input is split like Aptos splits a metadata file (Rust `str::lines`): on
//! `\n`, dropping one `\r` just before it, with no final empty line after a
//! final `\n`. Each line may hold any byte except `\n`. Aptos reads a file as a
//! UTF-8 `String` before parsing, so a line that is not UTF-8 is an error
//! here too. In error messages a `\` is written `\\`, and `\n` and `\r` are
//! written as those two-character escapes, so every result stays on one line.
//!
//! Differences from Aptos's own types, none visible in the JSON:
//! - `compaction_timestamps` is a `BTreeMap` instead of a `HashMap`, so its
//!   keys come out in byte order instead of a random per-process order. Both
//!   parse the same input the same way (a duplicate key: the last value wins)
//!   and write each entry the same way.
//! - `HashValue` is a local newtype with the same human-readable serde form
//!   as aptos-crypto's: a string of 64 hex digits, either case on input,
//!   lowercase on output, any other length or character an error.

use serde_derive::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter, Read, Write};

type Version = u64;
type FileHandle = String;

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub enum Metadata {
    EpochEndingBackup(EpochEndingBackupMeta),
    StateSnapshotBackup(StateSnapshotBackupMeta),
    TransactionBackup(TransactionBackupMeta),
    Identity(IdentityMeta),
    CompactionTimestamps(CompactionTimestampsMeta),
}

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub struct EpochEndingBackupMeta {
    pub first_epoch: u64,
    pub last_epoch: u64,
    pub first_version: Version,
    pub last_version: Version,
    pub manifest: FileHandle,
}

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub struct StateSnapshotBackupMeta {
    pub epoch: u64,
    pub version: Version,
    pub manifest: FileHandle,
}

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub struct TransactionBackupMeta {
    pub first_version: Version,
    pub last_version: Version,
    pub manifest: FileHandle,
}

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub struct IdentityMeta {
    pub id: HashValue,
}

#[derive(Clone, Debug, Deserialize, Serialize, Eq, PartialEq, Ord, PartialOrd)]
pub struct CompactionTimestampsMeta {
    pub file_compacted_at: u64,
    // Aptos: HashMap<FileHandle, Option<u64>>. Same JSON, sorted keys.
    pub compaction_timestamps: BTreeMap<FileHandle, Option<u64>>,
}

/// aptos_crypto::HashValue, human-readable serde form only.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct HashValue([u8; 32]);

/// Same text as aptos_crypto::HashValueParseError's Display.
struct HashValueParseError;

impl fmt::Display for HashValueParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "unable to parse HashValue")
    }
}

impl HashValue {
    /// Like `<[u8; 32] as hex::FromHex>::from_hex`: exactly 64 bytes, each a
    /// hex digit of either case.
    fn from_hex(s: &str) -> Result<Self, HashValueParseError> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(HashValueParseError);
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(HashValueParseError)?;
            let lo = hex_val(pair[1]).ok_or(HashValueParseError)?;
            out[i] = hi << 4 | lo;
        }
        Ok(HashValue(out))
    }

    fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for byte in self.0 {
            s.push(DIGITS[(byte >> 4) as usize] as char);
            s.push(DIGITS[(byte & 0xf) as usize] as char);
        }
        s
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl serde::Serialize for HashValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // aptos-crypto: human-readable formats get the hex string.
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for HashValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // aptos-crypto: `<String>::deserialize` then `HashValue::from_hex`,
        // errors mapped with `D::Error::custom`.
        let encoded = <String as serde::Deserialize>::deserialize(deserializer)?;
        HashValue::from_hex(encoded.as_str()).map_err(<D::Error as serde::de::Error>::custom)
    }
}

fn escape_message(msg: &str) -> String {
    msg.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r")
}

fn parse(line: &[u8]) -> Result<Metadata, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("invalid UTF-8: {}", e))?;
    serde_json::from_str::<Metadata>(text).map_err(|e| escape_message(&e.to_string()))
}

/// Splits like `str::lines` (Rust >= 1.77), but on bytes: a `\r` is dropped
/// only just before a `\n`; a last line without `\n` keeps it.
fn lines(input: &[u8]) -> Vec<&[u8]> {
    input
        .split_inclusive(|&b| b == b'\n')
        .map(|l| match l.strip_suffix(b"\n") {
            Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
            None => l,
        })
        .collect()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "roundtrip" && mode != "pretty" {
        eprintln!("usage: serdecheck roundtrip|pretty < lines");
        std::process::exit(2);
    }
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input).expect("read stdin");
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for line in lines(&input) {
        let res = parse(line).and_then(|m| {
            if mode == "pretty" {
                serde_json::to_string_pretty(&m)
            } else {
                serde_json::to_string(&m)
            }
            .map_err(|e| escape_message(&e.to_string()))
        });
        match res {
            Ok(s) => {
                if mode == "roundtrip" {
                    out.write_all(b"ok ").unwrap();
                }
                out.write_all(s.as_bytes()).unwrap();
            }
            Err(e) => {
                out.write_all(b"err ").unwrap();
                out.write_all(e.as_bytes()).unwrap();
            }
        }
        out.write_all(b"\n").unwrap();
        if mode == "pretty" {
            out.write_all(b"---\n").unwrap();
        }
    }
    out.flush().unwrap();
}
