// Package serdecheck holds no code: its test compares metactl's line codec
// (package catalog) with serde_json itself.
//
// The checker is a small Rust program in this directory (Cargo.toml,
// src/main.rs) that declares the Aptos Metadata enum of docs/aptos-format.md
// §2.2 and parses and re-serializes lines with serde_json.
// scripts/serdecheck.sh builds it offline from Debian's packaged crate sources
// (librust-serde-json-dev, librust-serde-derive-dev) into target/, which git
// ignores. Where cargo is missing the test skips with a message; set
// METACTL_SERDECHECK=require to make that a failure instead.
package serdecheck
