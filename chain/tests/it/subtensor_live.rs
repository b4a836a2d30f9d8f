//! Opt-in: the client against a real subtensor node (for example
//! `ghcr.io/opentensor/subtensor-localnet:devnet-ready`, see `docker-compose.yml` and the README).
//! These tests need a node this repository cannot start by itself, so they are `#[ignore]`d and
//! run only when asked:
//!
//! ```sh
//! SUBTENSOR_WS=ws://127.0.0.1:9944 SUBTENSOR_NETUID=1 \
//!   cargo test -p kindred-chain --test it subtensor_live -- --ignored
//! ```
//!
//! With `SUBTENSOR_HOTKEY_URI=//Alice` (a dev key registered on that subnet) they also set and
//! read back a commitment.

use kindred_chain::subnet::Netuid;
use kindred_chain::subtensor::Subtensor;
use kindred_chain::wallet::Signer;
use kindred_chain::{Chain, Network};

fn node() -> (Network, Netuid) {
    let url = std::env::var("SUBTENSOR_WS").expect("set SUBTENSOR_WS to a subtensor node's ws:// URL");
    let netuid = std::env::var("SUBTENSOR_NETUID")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    (url.parse().expect("SUBTENSOR_WS is a URL"), Netuid(netuid))
}

#[tokio::test]
#[ignore = "needs a real subtensor node: set SUBTENSOR_WS and run with --ignored"]
async fn reads_a_real_subtensor() {
    let (network, netuid) = node();
    let chain = Subtensor::connect(&network).await.expect("connects");
    let best = chain.best_block().await.expect("best block");
    let finalized = chain.finalized_block().await.expect("finalized block");
    assert!(finalized <= best);
    let m = chain.metagraph(netuid).await.expect("metagraph");
    assert_eq!(m.netuid, netuid);
    for (i, n) in m.neurons.iter().enumerate() {
        assert_eq!(usize::from(n.uid.0), i, "UIDs are dense");
    }
    let h = chain.hyperparameters(netuid).await.expect("hyperparameters");
    assert!(h.tempo > 0);
    chain.commitments(netuid).await.expect("commitments");
}

#[tokio::test]
#[ignore = "needs a real subtensor node and a registered dev hotkey: set SUBTENSOR_WS, SUBTENSOR_HOTKEY_URI"]
async fn commits_on_a_real_subtensor() {
    let (network, netuid) = node();
    let uri = std::env::var("SUBTENSOR_HOTKEY_URI").expect("set SUBTENSOR_HOTKEY_URI, e.g. //Alice");
    let signer = Signer::dev(uri.trim_start_matches("//")).expect("a dev key name: //Alice … //Ferdie");
    let chain = Subtensor::connect(&network).await.expect("connects");
    let text = format!("kindred-live-test@{}", chain.best_block().await.expect("best").0);
    let included = chain
        .set_commitment(&signer, netuid, &text)
        .await
        .expect("commitment accepted");
    let c = chain.commitments(netuid).await.expect("commitments");
    let mine = c
        .iter()
        .find(|c| c.hotkey == signer.hotkey())
        .expect("our commitment");
    assert_eq!((mine.data.as_str(), mine.block), (text.as_str(), included.block));
}
