//! The store against real databases: SQLite in a temporary file, and PostgreSQL at
//! `$KINDRED_TEST_POSTGRES_URL` (`.ci/run` installs and starts one; without it the PostgreSQL
//! test fails and says so).

use kindred_validator::store::{
    NeuronRow, NewSubmission, ParsedCommitment, Store, SubmissionStatus, WeightOutcome,
};

fn submission(hotkey: &str, uid: u16, block: u64, text: &str) -> NewSubmission {
    NewSubmission {
        hotkey: hotkey.into(),
        uid,
        registered_at: 1,
        commit_block: block,
        commitment: text.into(),
        parsed: Some(ParsedCommitment {
            competition: "small".into(),
            hub: "local".into(),
            repo: "org/model".into(),
            revision: "00".repeat(20),
            hash: "11".repeat(16),
        }),
        seen_block: block + 1,
    }
}

async fn exercise(store: &Store) {
    // New commitments are stored once.
    let a = store
        .add_submission(&submission("hk-a", 0, 10, "k1:a"), None)
        .await
        .expect("insert");
    let a = a.expect("new");
    assert_eq!(
        store
            .add_submission(&submission("hk-a", 0, 10, "k1:a"), None)
            .await
            .expect("again"),
        None
    );
    let b = store
        .add_submission(&submission("hk-b", 1, 12, "k1:b"), None)
        .await
        .expect("b")
        .expect("new");
    let c = store
        .add_submission(&submission("hk-c", 2, 14, "k1:c"), None)
        .await
        .expect("c")
        .expect("new");
    let bad = store
        .add_submission(
            &submission("hk-d", 3, 15, "garbage"),
            Some(("commitment_not_kindred", "not ours")),
        )
        .await
        .expect("bad")
        .expect("new");

    // Claims come oldest first, each once while its lease holds.
    let first = store.claim("w1", 60_000).await.expect("claim").expect("one");
    assert_eq!(first.id, a);
    let second = store.claim("w2", 60_000).await.expect("claim").expect("two");
    assert_eq!(second.id, b);
    // Our failure: back in the queue, not blamed, not claimable until its retry time.
    store.defer(b, 60_000, "hub unreachable").await.expect("defer");
    let third = store.claim("w2", 60_000).await.expect("claim").expect("three");
    assert_eq!(third.id, c);
    assert!(
        store.claim("w3", 60_000).await.expect("claim").is_none(),
        "nothing else is free"
    );

    // A worker that dies leaves a lease that expires; the submission is claimed again.
    store.defer(c, 0, "worker restarted").await.expect("release");
    let again = store.claim("w4", 1).await.expect("claim").expect("c again");
    assert_eq!((again.id, again.attempts), (c, 2));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let after_expiry = store
        .claim("w5", 60_000)
        .await
        .expect("claim")
        .expect("expired lease");
    assert_eq!((after_expiry.id, after_expiry.attempts), (c, 3));

    // Identical content: the later hotkey's submission is a duplicate of the earlier one.
    assert_eq!(store.set_digest(a, "d1").await.expect("digest"), None);
    assert_eq!(store.set_digest(c, "d1").await.expect("digest"), Some(a));
    let dup = store.submission(c).await.expect("read").expect("c");
    assert_eq!(
        (dup.status, dup.duplicate_of),
        (SubmissionStatus::Duplicate, Some(a))
    );

    // The same model in other files (same canonical content digest): a duplicate as well.
    assert_eq!(store.set_content_digest(a, "c1").await.expect("cd"), None);
    assert_eq!(store.set_content_digest(b, "c1").await.expect("cd"), Some(a));
    let dup = store.submission(b).await.expect("read").expect("b");
    assert_eq!(
        (dup.status, dup.duplicate_of, dup.content_digest.as_deref()),
        (SubmissionStatus::Duplicate, Some(a), Some("c1"))
    );

    // Fingerprints of earlier submissions by other hotkeys are the near-copy candidates.
    let e = store
        .add_submission(&submission("hk-e", 4, 16, "k1:e"), None)
        .await
        .expect("e")
        .expect("new");
    store
        .set_fingerprint(a, "{\"probes\":[]}")
        .await
        .expect("fingerprint");
    assert!(
        store
            .earlier_fingerprints(a)
            .await
            .expect("none earlier")
            .is_empty()
    );
    assert_eq!(
        store.earlier_fingerprints(e).await.expect("earlier"),
        vec![(a, "{\"probes\":[]}".to_string())]
    );
    store.near_duplicate(e, a, 0.97).await.expect("near");
    let near = store.submission(e).await.expect("read").expect("e");
    assert_eq!(
        (near.status, near.duplicate_of, near.similarity),
        (SubmissionStatus::NearDuplicate, Some(a), Some(0.97))
    );
    assert!(
        near.reason
            .as_deref()
            .is_some_and(|r| r.contains(&format!("submission {a}")))
    );

    // An evaluation is written once, with the status.
    let detail = serde_json::json!({"total": 0.5, "samples": [0.5]});
    for _ in 0..2 {
        store
            .record_evaluation(a, "abcd", 1, 0.5, &detail, 20, "w1")
            .await
            .expect("evaluation");
    }
    let scored = store.submission(a).await.expect("read").expect("a");
    assert_eq!(scored.status, SubmissionStatus::Scored);
    assert_eq!(scored.total, Some(0.5));
    assert_eq!(scored.evaluation, Some(detail.clone()));

    // Weighing sees hotkeys that still hold their UID.
    store
        .set_neurons(
            &[
                NeuronRow {
                    uid: 0,
                    hotkey: "hk-a".into(),
                    incentive: 0.0,
                    stake: 0,
                },
                NeuronRow {
                    uid: 1,
                    hotkey: "hk-b".into(),
                    incentive: 0.0,
                    stake: 0,
                },
            ],
            21,
        )
        .await
        .expect("neurons");
    let s = store.scored().await.expect("scored");
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].submission_id, s[0].uid, s[0].total), (a, 0, 0.5));
    store
        .set_neurons(
            &[NeuronRow {
                uid: 0,
                hotkey: "hk-new-owner".into(),
                incentive: 0.0,
                stake: 0,
            }],
            22,
        )
        .await
        .expect("neurons");
    assert!(
        store.scored().await.expect("scored").is_empty(),
        "UID 0 changed hands"
    );

    let rejected = store.submission(bad).await.expect("read").expect("bad");
    assert_eq!(rejected.reason_code.as_deref(), Some("commitment_not_kindred"));
    assert_eq!(store.history("hk-a").await.expect("history").len(), 1);

    let w = store
        .begin_weights(30, "set", &[(0, 65535)], 1, None)
        .await
        .expect("weights");
    store
        .finish_weights(w, WeightOutcome::Included, "in block 31", Some(31))
        .await
        .expect("finish");
    let sets = store.weight_sets(10).await.expect("sets");
    assert_eq!(sets[0].weights, vec![(0, 65535)]);
    assert_eq!(sets[0].status, WeightOutcome::Included);
}

#[tokio::test]
async fn sqlite_store_keeps_submissions_leases_and_evaluations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("validator.sqlite");
    let store = Store::open(path.to_str().expect("utf-8")).await.expect("open");
    exercise(&store).await;
    drop(store);
    // Reopening applies no migration twice and keeps every row.
    let store = Store::open(path.to_str().expect("utf-8")).await.expect("reopen");
    assert_eq!(store.history("hk-a").await.expect("history").len(), 1);
}

#[tokio::test]
async fn postgres_store_keeps_submissions_leases_and_evaluations() {
    let url = std::env::var("KINDRED_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("KINDRED_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it")
    });
    // A fresh schema per run keeps reruns independent.
    let admin = sqlx::PgPool::connect(&url).await.expect("connect to PostgreSQL");
    let schema = format!("t{}", std::process::id());
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .execute(&admin)
    .await
    .expect("schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let store = Store::open(&scoped).await.expect("open");
    exercise(&store).await;

    // Two workers claiming at once never take the same submission.
    for i in 0..6 {
        store
            .add_submission(
                &submission(&format!("hk-p{i}"), 10 + i, 100 + u64::from(i), "k1:p"),
                None,
            )
            .await
            .expect("insert");
    }
    let (x, y) = (store.clone(), store.clone());
    let claim_all = |s: Store, w: &'static str| async move {
        let mut ids = Vec::new();
        while let Some(c) = s.claim(w, 60_000).await.expect("claim") {
            ids.push(c.id);
        }
        ids
    };
    let (ix, iy) = tokio::join!(claim_all(x, "wx"), claim_all(y, "wy"));
    let mut all: Vec<i64> = ix.iter().chain(&iy).copied().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a submission was claimed twice");
    assert_eq!(n, 6);
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .expect("cleanup");
}
