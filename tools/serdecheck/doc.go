// Package serdecheck holds no code: its test compares metactl's line codec
// (package catalog) with serde_json itself.
//
// The checker is a small Rust program in this directory (Cargo.toml,
// src/main.rs) that declares the Aptos Metadata enum of docs/aptos-format.md
// §2.2 and parses and re-serializes lines with serde_json.
// scripts/serdecheck.sh builds it offline from Debian's packaged crate sources
// (librust-serde-json-dev, librust-serde-derive-dev) into target/, which git
// ignores. The test builds and runs it only when METACTL_SERDECHECK is
// set (.ci/run sets it; `go test ./...` skips it, so the development loop
// never waits for cargo). Where cargo is missing the test skips with a
// message; METACTL_SERDECHECK=require makes that a failure instead.
package serdecheck
