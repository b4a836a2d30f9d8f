//! Kindred's subtensor client end to end against the devnet, serving its own metadata and, for the
//! subnet round, the real Finney runtime description (`$KINDRED_SHARED/chain/bittensor.scale`,
//! spec 424) as well: every call, storage read and runtime-API answer goes through the served
//! metadata on both sides. This proves the client and the devnet agree with Finney's encoding,
//! not that subtensor itself accepts them; the opt-in `SUBTENSOR_WS` suite is for that.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kindred_chain::error::{PoolRejection, Refusal};
use kindred_chain::subnet::{Netuid, Uid};
use kindred_chain::subtensor::{SubmitOptions, Subtensor, calls};
use kindred_chain::wallet::Signer;
use kindred_chain::weights::{EmitWeights, Zeros, commit_hash, normalise};
use kindred_chain::{Chain, ChainError, Network};
use kindred_devnet::{Devnet, DevnetConfig, MetadataSet, Spawned};
use tokio_util::sync::CancellationToken;

const NET: Netuid = Netuid(1);

fn finney_metadata() -> Vec<u8> {
    let dir = std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = dir.join("chain/bittensor.scale");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "Finney metadata missing at {} (set KINDRED_SHARED): {e}",
            path.display()
        )
    })
}

struct Running {
    url: String,
    cancel: CancellationToken,
    node: Arc<kindred_devnet::node::Node>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn devnet() -> Running {
    devnet_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
}

async fn devnet_on(addr: SocketAddr) -> Running {
    devnet_with(addr, MetadataSet::kindred()).await
}

async fn devnet_with(addr: SocketAddr, metadata: MetadataSet) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let config = DevnetConfig {
        addr,
        block_time: Duration::from_millis(40),
        metadata,
        netuid: NET.0,
        ..DevnetConfig::default()
    };
    let cancel = CancellationToken::new();
    let Spawned { url, node, .. } = Devnet::bind(config)
        .await
        .expect("devnet binds")
        .spawn(cancel.clone());
    Running { url, cancel, node }
}

/// A client that skips Kindred's weight pre-check, so the chain's own refusals show.
async fn unchecked_client(url: &str) -> Subtensor {
    let options = SubmitOptions {
        precheck: false,
        ..SubmitOptions::default()
    };
    Subtensor::connect_with(&Network::Url(url.to_owned()), options)
        .await
        .expect("client connects")
}

fn dev(name: &str) -> Signer {
    Signer::dev(name).expect("dev key")
}

async fn register(chain: &Subtensor, who: &Signer) {
    chain
        .submit(who, &calls::burned_register(NET, who.public()))
        .await
        .expect("registration");
}

/// Turn commit-reveal off (subnets start with it on, as on subtensor) so plain `set_weights` works.
async fn direct_weights(chain: &Subtensor, owner: &Signer) {
    chain
        .submit(
            owner,
            &calls::admin_set("sudo_set_commit_reveal_weights_enabled", NET, 0),
        )
        .await
        .expect("commit-reveal off");
}

async fn wait_blocks(chain: &Subtensor, n: u64) {
    let start = chain.best_block().await.expect("best").0;
    while chain.best_block().await.expect("best").0 < start + n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runs_a_subnet_round_on_the_devnet() {
    subnet_round(MetadataSet::kindred()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runs_a_subnet_round_on_the_devnet_serving_finney_metadata() {
    subnet_round(MetadataSet::single(finney_metadata())).await;
}

async fn subnet_round(metadata: MetadataSet) {
    let net = devnet_with(SocketAddr::from(([127, 0, 0, 1], 0)), metadata).await;
    let chain = Subtensor::connect(&Network::Url(net.url.clone()))
        .await
        .expect("client connects");
    let (alice, bob, charlie) = (dev("alice"), dev("bob"), dev("charlie"));

    // The finalized-block stream yields consecutive blocks as they come.
    {
        use futures::StreamExt;
        let mut blocks = chain.blocks().await.expect("block stream");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(blocks.next().await.expect("stream open").expect("block").0);
        }
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "blocks {seen:?}");
    }
    let b0 = chain.best_block().await.expect("best block");
    wait_blocks(&chain, 2).await;
    assert!(chain.finalized_block().await.expect("finalized").0 >= b0.0 + 2);

    for who in [&alice, &bob, &charlie] {
        register(&chain, who).await;
    }
    chain
        .submit(&alice, &calls::add_stake(alice.public(), NET, 1_000_000_000_000))
        .await
        .expect("stake");
    direct_weights(&chain, &alice).await;
    // Validator permits are handed out at the next epoch (tempo 10).
    wait_blocks(&chain, 12).await;

    let m = chain.metagraph(NET).await.expect("metagraph");
    assert_eq!(m.neurons.len(), 3);
    assert_eq!(m.uid_of(&bob.hotkey()), Some(Uid(1)));
    let a = m.neuron(Uid(0)).expect("alice");
    assert!(a.validator_permit);
    assert_eq!(a.stake, 1_000_000_000_000);
    assert_eq!(a.coldkey, alice.coldkey());
    assert!(a.registered_at.0 > 0);
    assert!(!m.neuron(Uid(1)).expect("bob").validator_permit);

    // A miner commits its model id; the commitment comes back with its block.
    let text = "hf:bob/kindred-eq-135m@0123456789abcdef";
    let included = chain.set_commitment(&bob, NET, text).await.expect("commitment");
    let commitments = chain.commitments(NET).await.expect("commitments");
    let c = commitments
        .iter()
        .find(|c| c.hotkey == bob.hotkey())
        .expect("bob's commitment");
    assert_eq!((c.data.as_str(), c.block), (text, included.block));

    // The validator sets weights; a miner without a permit is refused with subtensor's error.
    let weights = normalise(&[(Uid(1), 0.75), (Uid(2), 0.25)], Zeros::Drop).expect("weights");
    let set = chain
        .set_weights(&alice, NET, &weights, 0)
        .await
        .expect("weights set");
    let m = chain.metagraph(NET).await.expect("metagraph");
    assert_eq!(m.neuron(Uid(0)).expect("alice").last_update, set.block);
    let refused = chain
        .set_weights(&bob, NET, &weights, 0)
        .await
        .expect_err("bob has no permit");
    assert_eq!(refused.refusal(), Some(Refusal::NoValidatorPermit), "{refused}");

    // Incentive follows the weights at the next epoch.
    wait_blocks(&chain, 12).await;
    let m = chain.metagraph(NET).await.expect("metagraph");
    let (bob_inc, charlie_inc) = (
        m.neuron(Uid(1)).expect("b").incentive,
        m.neuron(Uid(2)).expect("c").incentive,
    );
    assert!(
        bob_inc > charlie_inc && charlie_inc > 0.0,
        "incentives {bob_inc} {charlie_inc}"
    );

    // Hyperparameters: the owner raises the rate limit and the version key.
    chain
        .submit(
            &alice,
            &calls::admin_set("sudo_set_weights_set_rate_limit", NET, 1000),
        )
        .await
        .expect("admin");
    chain
        .submit(&alice, &calls::admin_set("sudo_set_weights_version_key", NET, 7))
        .await
        .expect("admin");
    let h = chain.hyperparameters(NET).await.expect("hyperparameters");
    assert_eq!(
        (h.weights_set_rate_limit, h.weights_version_key, h.tempo),
        (1000, 7, 10)
    );
    let stale = chain
        .set_weights(&alice, NET, &weights, 6)
        .await
        .expect_err("old version key");
    assert_eq!(stale.refusal(), Some(Refusal::StaleVersionKey), "{stale}");
    let fast = chain
        .set_weights(&alice, NET, &weights, 7)
        .await
        .expect_err("rate limited");
    assert_eq!(fast.refusal(), Some(Refusal::RateLimited), "{fast}");
    let not_owner = chain
        .submit(&bob, &calls::admin_set("sudo_set_tempo", NET, 3))
        .await
        .expect_err("not owner");
    assert!(matches!(not_owner, ChainError::Failed { .. }), "{not_owner}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reveal_round_trip() {
    let net = devnet().await;
    let chain = Subtensor::connect(&Network::Url(net.url.clone()))
        .await
        .expect("client connects");
    let (alice, bob) = (dev("alice"), dev("bob"));
    register(&chain, &alice).await;
    register(&chain, &bob).await;
    chain
        .submit(&alice, &calls::add_stake(alice.public(), NET, 10_000_000_000))
        .await
        .expect("stake");
    chain
        .submit(
            &alice,
            &calls::admin_set("sudo_set_commit_reveal_weights_enabled", NET, 1),
        )
        .await
        .expect("cr");
    // Long epochs, so "too early" and "in the window" do not depend on how fast this machine is.
    const TEMPO: u64 = 50;
    chain
        .submit(
            &alice,
            &calls::admin_set("sudo_set_tempo", NET, u128::from(TEMPO)),
        )
        .await
        .expect("tempo");
    // Just past an epoch boundary: permits are handed out and a whole epoch lies ahead.
    wait_for_epoch_start(&chain, TEMPO).await;

    let weights = EmitWeights {
        uids: vec![Uid(1)],
        values: vec![65535],
    };
    let direct = chain
        .set_weights(&alice, NET, &weights, 0)
        .await
        .expect_err("commit-reveal only");
    assert_eq!(direct.refusal(), Some(Refusal::CommitRevealEnabled), "{direct}");
    let raw = unchecked_client(&net.url).await;
    let direct = raw
        .set_weights(&alice, NET, &weights, 0)
        .await
        .expect_err("commit-reveal only");
    assert!(
        matches!(&direct, ChainError::Failed { name, .. } if name == "CommitRevealEnabled"),
        "{direct}"
    );

    let salt = [3u16, 1, 4, 1, 5, 9, 2, 6];
    let hash = commit_hash(&alice.hotkey(), NET, &weights, &salt, 0);
    let committed = chain.commit_weights(&alice, NET, hash).await.expect("commit");
    let early = chain
        .reveal_weights(&alice, NET, &weights, &salt, 0)
        .await
        .expect_err("too early");
    assert!(
        matches!(&early, ChainError::Failed { name, .. } if name == "RevealTooEarly"),
        "{early}"
    );
    assert_eq!(early.refusal(), Some(Refusal::RevealMismatch), "{early}");
    // The reveal window is the next epoch.
    wait_for_epoch_start(&chain, TEMPO).await;
    assert!(chain.best_block().await.expect("best").0 > committed.block.0);
    let wrong = chain
        .reveal_weights(&alice, NET, &weights, &[0; 8], 0)
        .await
        .expect_err("wrong salt");
    assert!(
        matches!(&wrong, ChainError::Failed { name, .. } if name == "InvalidRevealCommitHashNotMatch"),
        "{wrong}"
    );
    let revealed = chain
        .reveal_weights(&alice, NET, &weights, &salt, 0)
        .await
        .expect("reveal");
    let m = chain.metagraph(NET).await.expect("metagraph");
    assert_eq!(m.neuron(Uid(0)).expect("alice").last_update, revealed.block);
}

/// Wait until the block after the next epoch of subnet `NET` (subtensor runs it when
/// `(block + netuid + 1) % (tempo + 1) == 0`).
async fn wait_for_epoch_start(chain: &Subtensor, tempo: u64) {
    let start = chain.best_block().await.expect("best").0;
    loop {
        let b = chain.best_block().await.expect("best").0;
        if b > start && (b + u64::from(NET.0) + 1) % (tempo + 1) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transactions_are_refused_and_the_devnet_keeps_going() {
    let net = devnet().await;
    let chain = Subtensor::connect(&Network::Url(net.url.clone()))
        .await
        .expect("client connects");
    let alice = dev("alice");

    let garbage = net
        .node
        .submit(&[0x84, 0x00, 0x01, 0x02], None)
        .expect_err("garbage");
    assert!(
        matches!(garbage, kindred_devnet::runtime::Invalid::Undecodable(_)),
        "{garbage:?}"
    );

    // A transaction signed by Alice with Bob's address fails its signature check.
    let call = calls::set_commitment(NET, "x").expect("call");
    let client = subxt::OnlineClient::<subxt::SubstrateConfig>::from_insecure_url(&net.url)
        .await
        .expect("subxt");
    let at = client.at_current_block().await.expect("at");
    let params = subxt::config::DefaultExtrinsicParamsBuilder::<subxt::SubstrateConfig>::new()
        .nonce(0)
        .build();
    let mut signable = at
        .transactions()
        .create_signable_offline(&call, params)
        .expect("signable");
    let signature =
        subxt::utils::MultiSignature::Sr25519(alice.sign(&signable.signer_payload().expect("payload")));
    let forged = signable
        .sign_with_account_and_signature(&dev("bob").keypair().public_key().to_account_id(), &signature)
        .expect("forged");
    let refused = net
        .node
        .submit(forged.encoded(), None)
        .expect_err("bad signature");
    assert_eq!(refused, kindred_devnet::runtime::Invalid::BadProof);

    // Through the client: a call the runtime describes but the devnet does not implement is
    // refused by the pool with a typed error. The devnet's own metadata lists only what it
    // implements, so this needs Finney's, where `Balances::force_set_balance` exists.
    let finney = devnet_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        MetadataSet::single(finney_metadata()),
    )
    .await;
    let finney_chain = Subtensor::connect(&Network::Url(finney.url.clone()))
        .await
        .expect("client connects");
    let unknown = subxt::dynamic::transaction(
        "Balances",
        "force_set_balance",
        vec![
            subxt::dynamic::Value::unnamed_variant("Id", [subxt::dynamic::Value::from_bytes(alice.public())]),
            subxt::dynamic::Value::u128(1),
        ],
    );
    let err = finney_chain
        .submit(&alice, &unknown)
        .await
        .expect_err("unsupported");
    assert!(
        matches!(err, ChainError::Rejected(PoolRejection::Other(_))),
        "{err}"
    );

    // Unregistered hotkeys cannot commit.
    let not_registered = chain
        .set_commitment(&alice, NET, "hf:a/b@c")
        .await
        .expect_err("not registered");
    assert!(
        matches!(&not_registered, ChainError::Failed { name, .. } if name == "AccountNotAllowedCommit"),
        "{not_registered}"
    );

    let before = chain.best_block().await.expect("best");
    wait_blocks(&chain, 2).await;
    assert!(chain.best_block().await.expect("best").0 >= before.0 + 2);
    let m = chain.metagraph(Netuid(9)).await.expect_err("no such subnet");
    assert!(matches!(m, ChainError::NoSuchSubnet(Netuid(9))), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_a_node_restart() {
    let first = devnet().await;
    let addr: SocketAddr = first.url.trim_start_matches("ws://").parse().expect("addr");
    let chain = Subtensor::connect(&Network::Url(first.url.clone()))
        .await
        .expect("client connects");
    chain.hyperparameters(NET).await.expect("read before the restart");

    // The node goes away and comes back on the same address; the client reconnects on its own.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = devnet_on(addr).await;
    let h = chain.hyperparameters(NET).await.expect("read after the restart");
    assert_eq!(h.tempo, 10);
    assert!(chain.best_block().await.expect("best block").0 < 1000);
    drop(second);
}

/// Finney's metadata without `SubnetInfoRuntimeApi`, as an older node would describe itself.
fn finney_without_selective_metagraph() -> Vec<u8> {
    use codec::{Decode, Encode};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &finney_metadata()[..]).expect("decodes");
    match &mut prefixed.1 {
        RuntimeMetadata::V16(m) => m.apis.retain(|api| api.name != "SubnetInfoRuntimeApi"),
        other => panic!("expected V16 metadata, got version {}", other.version()),
    }
    prefixed.encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metagraph_falls_back_to_storage_without_the_runtime_api() {
    let full = devnet().await;
    let bare = devnet_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        MetadataSet::single(finney_without_selective_metagraph()),
    )
    .await;
    let mut graphs = Vec::new();
    for net in [&full, &bare] {
        let chain = Subtensor::connect(&Network::Url(net.url.clone()))
            .await
            .expect("client connects");
        let (alice, bob) = (dev("alice"), dev("bob"));
        register(&chain, &alice).await;
        register(&chain, &bob).await;
        chain
            .submit(&alice, &calls::add_stake(alice.public(), NET, 5_000_000_000))
            .await
            .expect("stake");
        direct_weights(&chain, &alice).await;
        wait_blocks(&chain, 12).await;
        let weights = normalise(&[(Uid(1), 1.0)], Zeros::Drop).expect("weights");
        chain
            .set_weights(&alice, NET, &weights, 0)
            .await
            .expect("weights");
        wait_blocks(&chain, 12).await;
        graphs.push(chain.metagraph(NET).await.expect("metagraph"));
        let missing = chain.metagraph(Netuid(7)).await.expect_err("no such subnet");
        assert!(
            matches!(missing, ChainError::NoSuchSubnet(Netuid(7))),
            "{missing}"
        );
    }
    let (selective, storage) = (&graphs[0], &graphs[1]);
    assert_eq!(storage.neurons.len(), 2);
    let bob = storage.neuron(Uid(1)).expect("bob");
    assert!(bob.incentive > 0.99, "incentive {}", bob.incentive);
    assert!(storage.neuron(Uid(0)).expect("alice").validator_permit);
    // Both readings describe the same subnet, neuron by neuron (blocks differ between the two
    // chains, so compare the block-independent fields).
    for (a, b) in selective.neurons.iter().zip(&storage.neurons) {
        assert_eq!(
            (a.uid, a.hotkey, a.coldkey, a.stake),
            (b.uid, b.hotkey, b.coldkey, b.stake)
        );
        assert_eq!(
            (a.validator_permit, a.incentive, a.axon.clone()),
            (b.validator_permit, b.incentive, b.axon.clone())
        );
    }
}

/// A devnet on `store` that runs until the returned token fires; the handle ends when it has
/// stopped (and saved its last block).
async fn devnet_stored(
    store: &std::path::Path,
    reset: bool,
) -> (
    Running,
    tokio::task::JoinHandle<Result<(), kindred_devnet::DevnetError>>,
) {
    let config = DevnetConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        block_time: Duration::from_millis(40),
        netuid: NET.0,
        store: Some(store.to_owned()),
        reset,
        ..DevnetConfig::default()
    };
    let cancel = CancellationToken::new();
    let Spawned { url, node, task } = Devnet::bind(config)
        .await
        .expect("devnet binds")
        .spawn(cancel.clone());
    (Running { url, cancel, node }, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_devnet_continues_its_saved_chain_and_reset_starts_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("devnet.sqlite");
    let alice = dev("alice");

    let (net, handle) = devnet_stored(&store, false).await;
    let chain = Subtensor::connect(&Network::Url(net.url.clone()))
        .await
        .expect("client connects");
    register(&chain, &alice).await;
    chain
        .set_commitment(&alice, NET, "hf:org/model@rev")
        .await
        .expect("commitment");
    let genesis = net.node.genesis_hash();
    net.cancel.cancel();
    handle.await.expect("joins").expect("stops cleanly");
    let stopped_at = net.node.best();

    let (again, handle) = devnet_stored(&store, false).await;
    assert_eq!(again.node.genesis_hash(), genesis, "same chain");
    let resumed = again.node.best();
    assert_eq!(
        (resumed.number, resumed.hash),
        (stopped_at.number, stopped_at.hash)
    );
    let chain = Subtensor::connect(&Network::Url(again.url.clone()))
        .await
        .expect("client reconnects");
    wait_blocks(&chain, 2).await;
    let metagraph = chain.metagraph(NET).await.expect("metagraph");
    assert_eq!(
        metagraph.uid_of(&alice.hotkey()),
        Some(Uid(0)),
        "alice still registered"
    );
    let commitments = chain.commitments(NET).await.expect("commitments");
    assert!(
        commitments.iter().any(|c| c.data == "hf:org/model@rev"),
        "{commitments:?}"
    );
    // Alice's nonce carried over: a new transaction is accepted.
    chain
        .set_commitment(&alice, NET, "hf:org/model@rev2")
        .await
        .expect("a transaction after the restart");
    again.cancel.cancel();
    handle.await.expect("joins").expect("stops cleanly");

    let (fresh, handle) = devnet_stored(&store, true).await;
    assert!(
        fresh.node.best().number < stopped_at.number,
        "reset starts from genesis"
    );
    assert!(fresh.node.with_state(|s| s.subnets[&NET.0].neurons.is_empty()));
    fresh.cancel.cancel();
    handle.await.expect("joins").expect("stops cleanly");
}
