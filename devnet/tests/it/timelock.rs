//! Timelocked weight commits end to end on the devnet: the client reads the beacon and the epoch
//! scheduler from storage, seals weights to a round, commits them; the devnet's own drand beacon
//! publishes that round and the chain opens the commit in its reveal epoch and applies the
//! weights, as subtensor does. Commits that cannot be opened in their reveal epoch are dropped.

use std::time::{Duration, Instant};

use kindred_chain::subnet::{Netuid, Uid};
use kindred_chain::subtensor::{Subtensor, calls};
use kindred_chain::timelock::{self, Round};
use kindred_chain::timelocked::{payload, seal_commitment, unix_now};
use kindred_chain::wallet::Signer;
use kindred_chain::weights::EmitWeights;
use kindred_chain::{Chain, ChainError, Network};
use kindred_devnet::state::{COMMIT_REVEAL_VERSION, State};
use kindred_devnet::{Devnet, DevnetConfig, Spawned};
use tokio_util::sync::CancellationToken;

const NET: Netuid = Netuid(1);

fn dev(name: &str) -> Signer {
    Signer::dev(name).expect("dev key")
}

fn weights_of(state: &State, uid: usize) -> Vec<(u16, u16)> {
    state.subnets[&NET.0].neurons[uid].weights.clone()
}

fn pending_commits(state: &State) -> usize {
    state.subnets[&NET.0].timelocked.values().map(|q| q.len()).sum()
}

/// A devnet on subnet `NET` with 100 ms blocks, stopped by `cancel`, and a client on it.
async fn start(cancel: &CancellationToken) -> (Subtensor, std::sync::Arc<kindred_devnet::node::Node>) {
    let Spawned { url, node, .. } = Devnet::bind(DevnetConfig {
        netuid: NET.0,
        ..DevnetConfig::on_any_port(Duration::from_millis(100))
    })
    .await
    .expect("devnet binds")
    .spawn(cancel.clone());
    let chain = Subtensor::connect(&Network::Url(url))
        .await
        .expect("client connects");
    (chain, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timelocked_weights_are_revealed_at_their_round_and_unopenable_ones_dropped() {
    let cancel = CancellationToken::new();
    let (chain, node) = start(&cancel).await;
    let _stop = cancel.drop_guard();
    let (alice, bob) = (dev("alice"), dev("bob"));
    for who in [&alice, &bob] {
        chain
            .submit(who, &calls::burned_register(NET, who.public()))
            .await
            .expect("registration");
    }
    chain
        .submit(&alice, &calls::add_stake(alice.public(), NET, 1_000_000_000_000))
        .await
        .expect("stake");

    // Subnets start with commit-reveal on, like subtensor's.
    assert!(
        chain
            .hyperparameters(NET)
            .await
            .expect("hyper")
            .commit_reveal_weights_enabled
    );
    let ctx = chain
        .timelock_context(NET)
        .await
        .expect("context")
        .expect("the devnet has a beacon");
    assert_eq!(ctx.block_time, Duration::from_millis(100));
    assert_eq!(ctx.commit_reveal_version, COMMIT_REVEAL_VERSION);
    let (genesis, period) = node.with_state(|s| {
        let b = s.beacon.as_ref().expect("beacon started");
        (b.genesis_time, b.period)
    });
    assert_eq!((ctx.beacon.genesis_time, ctx.beacon.period), (genesis, period));

    // Wait for the epoch that hands Alice her validator permit.
    let started = Instant::now();
    while !chain.metagraph(NET).await.expect("metagraph").neurons[0].validator_permit {
        assert!(started.elapsed() < Duration::from_secs(20), "no permit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A commit carrying another version is refused.
    let weights = EmitWeights {
        uids: vec![Uid(1)],
        values: vec![65535],
    };
    let ctx = chain
        .timelock_context(NET)
        .await
        .expect("context")
        .expect("beacon");
    let (sealed, round) = ctx.seal(&alice.hotkey(), &weights, 0, unix_now()).expect("seals");
    let refused = chain
        .commit_timelocked_weights(&alice, NET, &sealed, round, COMMIT_REVEAL_VERSION + 1)
        .await
        .expect_err("wrong version");
    assert!(
        matches!(&refused, ChainError::Failed { name, .. } if name == "IncorrectCommitRevealVersion"),
        "{refused}"
    );

    // Three commits in one epoch: Alice's real weights; a payload naming Bob's hotkey (the chain
    // must not apply it for Alice); one sealed to a round far in the future.
    let first_reveal = ctx
        .schedule
        .first_reveal_block(ctx.reveal_period_epochs)
        .expect("schedule");
    let committed = chain
        .commit_timelocked_weights(&alice, NET, &sealed, round, ctx.commit_reveal_version)
        .await
        .expect("commit");
    let foreign = timelock::encrypt(
        &ctx.beacon.key,
        round,
        &payload(
            &bob.hotkey(),
            &EmitWeights {
                uids: vec![Uid(0)],
                values: vec![65535],
            },
            0,
        ),
    )
    .expect("seals");
    chain
        .commit_timelocked_weights(&alice, NET, &foreign, round, ctx.commit_reveal_version)
        .await
        .expect("commit");
    let never = Round(round.0 + 100_000);
    let unopenable =
        timelock::encrypt(&ctx.beacon.key, never, &payload(&alice.hotkey(), &weights, 0)).expect("seals");
    chain
        .commit_timelocked_weights(&alice, NET, &unopenable, never, ctx.commit_reveal_version)
        .await
        .expect("commit");
    assert!(
        weights_of(&node.with_state(State::clone), 0).is_empty(),
        "nothing public yet"
    );

    // The reveal: the weights appear once the chain reaches the reveal epoch and holds the round.
    let started = Instant::now();
    let seen_at = loop {
        let (w, block, stored) = node.with_state(|s| {
            (
                weights_of(s, 0),
                s.block,
                s.beacon.as_ref().map(|b| b.last_stored_round).unwrap_or(0),
            )
        });
        if !w.is_empty() {
            assert_eq!(w, vec![(1, 65535)], "Alice's own payload, not the one naming Bob");
            assert!(
                stored >= round.0,
                "revealed before the beacon published round {round}"
            );
            break block;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never revealed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The reveal sets `LastUpdate` to its block, as `set_weights` would: after the commit, in
    // the reveal epoch, no later than when the weights were seen.
    let reveal = chain.metagraph(NET).await.expect("metagraph").neurons[0]
        .last_update
        .0;
    assert!(
        reveal > committed.block.0 && reveal <= seen_at,
        "revealed at {reveal}"
    );
    assert!(
        reveal >= first_reveal.0,
        "revealed at {reveal}, before the reveal epoch starting at {}",
        first_reveal.0
    );

    // The commit whose round never comes is kept through its reveal epoch, then dropped.
    let started = Instant::now();
    while node.with_state(pending_commits) > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "expired commit kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(weights_of(&node.with_state(State::clone), 0), vec![(1, 65535)]);
}

/// A miner's model id sealed to a round: invisible until the chain holds the round's pulse, then
/// reported by `commitments` with the block it was revealed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timelocked_commitment_is_revealed_with_its_reveal_block() {
    let cancel = CancellationToken::new();
    let (chain, node) = start(&cancel).await;
    let _stop = cancel.drop_guard();
    let bob = dev("bob");
    chain
        .submit(&bob, &calls::burned_register(NET, bob.public()))
        .await
        .expect("registration");
    let ctx = chain
        .timelock_context(NET)
        .await
        .expect("context")
        .expect("beacon");
    let text = "kindred:1:dev:local:bob/wren@0123456789abcdef0123456789abcdef01234567:00ff";
    // 30 blocks of 100 ms: the round lies about three seconds ahead.
    let now = unix_now() as u64;
    let (sealed, round) = seal_commitment(&ctx.beacon, text, 30, ctx.block_time, now).expect("seals");
    assert!(round > Round(node.with_state(|s| s.beacon.as_ref().map(|b| b.last_stored_round).unwrap_or(0))));
    let included = chain
        .set_timelocked_commitment(&bob, NET, &sealed, round)
        .await
        .expect("commitment");
    let pending = chain.commitments(NET).await.expect("commitments");
    assert!(
        pending.iter().all(|c| c.hotkey != bob.hotkey()),
        "a sealed model id is not readable before its round: {pending:?}"
    );

    let started = Instant::now();
    let revealed = loop {
        let all = chain.commitments(NET).await.expect("commitments");
        if let Some(c) = all.into_iter().find(|c| c.hotkey == bob.hotkey()) {
            break c;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never revealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(revealed.data, text);
    assert!(
        revealed.block.0 > included.block.0,
        "{revealed:?} vs {included:?}"
    );
    node.with_state(|s| {
        let subnet = &s.subnets[&NET.0];
        assert!(
            subnet.sealed_commitments.is_empty(),
            "the sealed field is consumed"
        );
        assert_eq!(subnet.revealed_commitments[&bob.public()].len(), 1);
        assert!(
            !subnet.commitments.contains_key(&bob.public()),
            "nothing raw was left"
        );
    });
}
