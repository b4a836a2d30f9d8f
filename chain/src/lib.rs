//! Kindred's on-chain boundary: the `Chain` trait, the subtensor client, Bittensor wallets and the
//! devnet.
//!
//! Nothing lives here yet: the client and wallets arrive with issue #4 and the devnet with issue
//! #5. The crate exists now so the workspace has its final shape and the dependency direction
//! (`scoring` and `chain` depend on no other Kindred crate) is fixed from the start.
