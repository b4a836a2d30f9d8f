#!/usr/bin/env python3
"""Drive the devnet with the PyPI `bittensor` SDK (the 11.x API), as a subnet operator would.

Run by `chain/tests/python_sdk.rs`, which starts the devnet, writes the dev wallets and then
checks the devnet's own state for what this script did. Every step asserts; the last line
printed is `SDK OK`.

usage: bittensor_sdk.py --url ws://127.0.0.1:PORT --wallet-path DIR --netuid N
"""
import argparse
import os
import sys
import tempfile
import time

# The SDK caches runtime metadata on disk by genesis hash; a fresh devnet reuses genesis hashes,
# so keep the cache per run.
os.environ.setdefault("BITTENSOR_RUNTIME_CACHE_DIR", tempfile.mkdtemp(prefix="kindred-bt-cache-"))
import bittensor as bt  # noqa: E402


def included(result, what):
    assert result is not None and getattr(result, "success", False), f"{what}: {result!r}"
    print(f"[ok] {what} in {result.block_hash}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--wallet-path", required=True)
    ap.add_argument("--netuid", type=int, required=True)
    ap.add_argument("--commitment", default="kindred:1:eq:hf:org/model@abc123")
    a = ap.parse_args()
    wait = dict(wait_for_inclusion=True, wait_for_finalization=True)

    sub = bt.Subtensor(a.url)
    print(f"bittensor {bt.__version__}, block {sub.block}, spec {sub.spec_version}", flush=True)

    alice = bt.Wallet("alice", "default", path=a.wallet_path)
    bob = bt.Wallet("bob", "default", path=a.wallet_path)
    uids = {}
    for w in (alice, bob):
        hotkey = w.hotkey.ss58_address
        call = bt.calls.SubtensorModule.burned_register(netuid=a.netuid, hotkey=hotkey)
        included(sub.submit_call(call, w, signer="coldkey", **wait), f"register {w.name}")
        uids[w.name] = sub.neurons.uid(hotkey, a.netuid)
        assert uids[w.name] is not None, f"{w.name} has no uid after registering"
    assert sorted(uids.values()) == [0, 1], uids

    # A miner's commitment, read back one by one and for the whole subnet.
    info = {"fields": [{f"Raw{len(a.commitment)}": a.commitment.encode()}]}
    call = bt.calls.Commitments.set_commitment(netuid=a.netuid, info=info)
    included(sub.submit_call(call, bob, signer="hotkey", **wait), "set_commitment")
    one = sub.identity.commitment(a.netuid, bob.hotkey.ss58_address)
    assert one is not None and one.data == a.commitment, one
    everyone = sub.subnets.commitments(a.netuid)
    assert everyone[bob.hotkey.ss58_address].uid == uids["bob"], everyone

    # Stake makes Alice a validator at the next epoch.
    call = bt.calls.SubtensorModule.add_stake(
        hotkey=alice.hotkey.ss58_address, netuid=a.netuid, amount_staked=10_000_000_000
    )
    included(sub.submit_call(call, alice, signer="coldkey", **wait), "add_stake")
    deadline = time.monotonic() + 60
    while not sub.subnets.metagraph(a.netuid).neuron(uids["alice"]).validator_permit:
        assert time.monotonic() < deadline, "no validator permit after a minute"
        time.sleep(0.2)

    # A validator's weights. The SDK's `SetWeights` intent reads storage that spec 424 (the
    # runtime the devnet follows) does not have, so the call goes in as the runtime defines it.
    # Subnets start with commit-reveal on, as on subtensor; the owner turns it off for this run.
    assert sub.subnets.commit_reveal_enabled(a.netuid) is True
    call = bt.calls.AdminUtils.sudo_set_commit_reveal_weights_enabled(
        netuid=a.netuid, enabled=False
    )
    included(sub.submit_call(call, alice, signer="coldkey", **wait), "commit-reveal off")
    assert sub.subnets.commit_reveal_enabled(a.netuid) is False
    call = bt.calls.SubtensorModule.set_weights(
        netuid=a.netuid, dests=[uids["bob"]], weights=[65535], version_key=0
    )
    included(sub.submit_call(call, alice, signer="hotkey", **wait), "set_weights")

    # A bad transaction is refused with subtensor's error and the chain goes on.
    call = bt.calls.SubtensorModule.set_weights(
        netuid=a.netuid, dests=[0, 0], weights=[1, 1], version_key=0
    )
    refused = sub.submit_call(call, alice, signer="hotkey", **wait)
    assert not refused.success, refused
    print(f"[ok] duplicate uids refused: {refused.message}", flush=True)

    # The metagraph as the SDK builds it.
    mg = sub.subnets.metagraph(a.netuid)
    assert mg is not None
    assert mg.hotkeys[uids["alice"]] == alice.hotkey.ss58_address, mg.hotkeys
    assert mg.hotkeys[uids["bob"]] == bob.hotkey.ss58_address, mg.hotkeys
    assert mg.neuron(uids["bob"]).commitment.data == a.commitment
    print(f"[ok] metagraph: {mg}", flush=True)
    neurons = sub.neurons.neurons(a.netuid)
    assert [n.hotkey for n in neurons] == mg.hotkeys, neurons
    print("SDK OK", flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        bt.close_shared_clients()
    sys.exit(0)
