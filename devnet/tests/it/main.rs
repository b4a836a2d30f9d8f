//! The devnet's integration tests, one binary: its metadata against Finney's, Kindred's client
//! and the Python SDK against a running devnet, timelocked commits revealed by its beacon.

mod client;
mod metadata;
mod python_sdk;
mod timelock;
