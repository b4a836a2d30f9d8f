//! The Kindred validator: the long-running service that turns on-chain commitments into weights.
//!
//! Nothing lives here yet: the service (sync → fetch → verify → evaluate → store → weigh → set
//! weights) arrives with issue #6. Model validation and scoring it will call already live in
//! `kindred-scoring`.
