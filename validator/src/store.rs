//! What the validator knows, in SQL: submissions (one per commitment seen), their evaluations,
//! rejections, the chain's view of each UID and every weight-setting attempt.
//!
//! SQLite by default (a file path), PostgreSQL by URL; the same queries run on both through
//! sqlx's `Any` driver, with the few differences (identity columns, row locking) kept to the
//! schema and to [`Store::claim`]. Migrations are applied at open, each once, in a transaction.
//! sqlx's `Migrator` is not used: building one from migrations in code relies on fields sqlx
//! marks semver-exempt, and the runner here is a dozen lines.
//!
//! Crash safety: a submission is claimed with a lease (owner, expiry); an evaluation and the
//! submission's new status are written in one transaction, and an evaluation is unique per
//! (submission, seed, spec version). A worker killed mid-evaluation leaves a lease that expires,
//! and the submission is claimed again: nothing is lost and nothing is written twice.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration {version} ({name}): {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("unsupported database URL `{0}` (sqlite:// path or postgres://)")]
    Url(String),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored {what} `{value}` is not one this build knows")]
    Unknown { what: &'static str, value: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A closed set stored as its lowercase name: written with `as_str`, read back with `FromStr`, so
/// a row holding anything else is a typed error rather than a silently wrong comparison.
macro_rules! stored_names {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Unknown { what: $what, value: other.chars().take(64).collect() }),
                }
            }
        }
    };
}

stored_names! {
    /// Where a submission stands. `Queued` waits for (or is in) fetch and evaluation; the others
    /// are final.
    SubmissionStatus, "submission status" {
        Queued = "queued",
        Scored = "scored",
        Rejected = "rejected",
        /// Identical content (the same files, or the same canonical content digest) committed
        /// earlier by another hotkey.
        Duplicate = "duplicate",
        /// Behaves like a submission committed earlier by another hotkey (fingerprint
        /// similarity at or above the near-duplicate threshold); earns no weight.
        NearDuplicate = "near_duplicate",
    }
}

stored_names! {
    /// How a weight attempt ended (or that it has not yet).
    WeightOutcome, "weight outcome" {
        Pending = "pending",
        /// `set_weights` is in a block.
        Included = "included",
        /// A commit is in a block; the weights await their reveal.
        Committed = "committed",
        /// The chain applied the committed weights.
        Revealed = "revealed",
        Failed = "failed",
    }
}

impl WeightOutcome {
    /// The weights are on chain.
    pub fn is_applied(self) -> bool {
        matches!(self, WeightOutcome::Included | WeightOutcome::Revealed)
    }
}

/// A schema change, written once: `{ID}` stands for each backend's identity column.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "submissions, evaluations, neurons, weight sets",
        sql: "
        CREATE TABLE submissions (
            id {ID},
            hotkey TEXT NOT NULL,
            uid BIGINT NOT NULL,
            registered_at BIGINT NOT NULL,
            commit_block BIGINT NOT NULL,
            commitment TEXT NOT NULL,
            competition TEXT,
            hub TEXT,
            repo TEXT,
            revision TEXT,
            hash TEXT,
            digest TEXT,
            status TEXT NOT NULL,
            reason_code TEXT,
            reason TEXT,
            duplicate_of BIGINT,
            attempts BIGINT NOT NULL DEFAULT 0,
            retry_after_ms BIGINT NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until_ms BIGINT NOT NULL DEFAULT 0,
            seen_block BIGINT NOT NULL,
            UNIQUE (hotkey, commit_block, commitment)
        );
        CREATE INDEX submissions_status ON submissions (status, commit_block);
        CREATE TABLE evaluations (
            id {ID},
            submission_id BIGINT NOT NULL REFERENCES submissions (id),
            seed TEXT NOT NULL,
            spec_version BIGINT NOT NULL,
            total DOUBLE PRECISION NOT NULL,
            detail TEXT NOT NULL,
            block BIGINT NOT NULL,
            worker TEXT NOT NULL,
            UNIQUE (submission_id, seed, spec_version)
        );
        CREATE TABLE neurons (
            uid BIGINT PRIMARY KEY,
            hotkey TEXT NOT NULL,
            incentive DOUBLE PRECISION NOT NULL,
            stake BIGINT NOT NULL,
            block BIGINT NOT NULL
        );
        CREATE TABLE weight_sets (
            id {ID},
            block BIGINT NOT NULL,
            mode TEXT NOT NULL,
            weights TEXT NOT NULL,
            version_key BIGINT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT,
            salt TEXT,
            done_block BIGINT
        );
    ",
    },
    Migration {
        version: 2,
        name: "canonical content digest, fingerprint and near-duplicate similarity",
        sql: "
        ALTER TABLE submissions ADD COLUMN content_digest TEXT;
        ALTER TABLE submissions ADD COLUMN fingerprint TEXT;
        ALTER TABLE submissions ADD COLUMN similarity DOUBLE PRECISION;
        CREATE INDEX submissions_content_digest ON submissions (content_digest);
    ",
    },
];

/// A commitment seen on chain, before anything is fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSubmission {
    pub hotkey: String,
    pub uid: u16,
    pub registered_at: u64,
    pub commit_block: u64,
    pub commitment: String,
    /// Parsed parts, when the commitment parses.
    pub parsed: Option<ParsedCommitment>,
    pub seen_block: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParsedCommitment {
    pub competition: String,
    pub hub: String,
    pub repo: String,
    pub revision: String,
    pub hash: String,
}

/// A submission taken for work by one worker until `lease_until_ms`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claimed {
    pub id: i64,
    pub hotkey: String,
    pub uid: u16,
    pub commit_block: u64,
    pub commitment: String,
    pub attempts: i64,
}

/// One row of the submissions table, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubmissionRow {
    pub id: i64,
    pub hotkey: String,
    pub uid: u16,
    pub commit_block: u64,
    pub commitment: String,
    pub competition: Option<String>,
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub digest: Option<String>,
    pub status: SubmissionStatus,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub duplicate_of: Option<i64>,
    /// For a `near_duplicate`: its fingerprint similarity to `duplicate_of` (0..1).
    pub similarity: Option<f64>,
    /// Canonical content digest (tensors in one dtype, canonical tokenizer, scoring config).
    pub content_digest: Option<String>,
    pub attempts: i64,
    pub total: Option<f64>,
    /// The full evaluation (every part, gate, seed and spec version), when scored.
    pub evaluation: Option<serde_json::Value>,
}

/// The latest scored submission of one hotkey: what weighing uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub submission_id: i64,
    pub hotkey: String,
    /// `repo@revision` (revision shortened to 12 hex digits).
    pub model: String,
    pub uid: u16,
    pub competition: String,
    pub commit_block: u64,
    pub seed: String,
    pub spec_version: u64,
    pub total: f64,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NeuronRow {
    pub uid: u16,
    pub hotkey: String,
    pub incentive: f64,
    pub stake: u64,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn opt_u16(v: i64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl Store {
    /// Open `url` (`sqlite://path` or a bare path, `postgres://…`) and apply pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (url, backend) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_owned(), Backend::Postgres)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            (format!("sqlite://{path}?mode=rwc"), Backend::Sqlite)
        } else if url.contains("://") {
            return Err(StoreError::Url(url.to_owned()));
        } else {
            (format!("sqlite://{url}?mode=rwc"), Backend::Sqlite)
        };
        let options = AnyPoolOptions::new().max_connections(match backend {
            // SQLite has one writer; more connections only queue on its lock.
            Backend::Sqlite => 1,
            Backend::Postgres => 8,
        });
        let pool = options.connect(&url).await?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS kindred_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for m in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            if self.backend == Backend::Postgres {
                // Two validators starting together must not both apply a migration.
                sqlx::raw_sql("LOCK TABLE kindred_migrations IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query("SELECT version FROM kindred_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if done {
                continue;
            }
            let sql = m.sql.replace(
                "{ID}",
                match self.backend {
                    Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
                    Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                },
            );
            let fail = |source| StoreError::Migration {
                version: m.version,
                name: m.name,
                source,
            };
            sqlx::raw_sql(&sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO kindred_migrations (version, name) VALUES ($1, $2)")
                .bind(m.version)
                .bind(m.name)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Record a commitment seen on chain; `Some(id)` when it is new. A commitment that does not
    /// parse is stored at once as rejected with `reason`.
    pub async fn add_submission(
        &self,
        s: &NewSubmission,
        rejection: Option<(&str, &str)>,
    ) -> Result<Option<i64>, StoreError> {
        let status = if rejection.is_some() {
            SubmissionStatus::Rejected
        } else {
            SubmissionStatus::Queued
        }
        .as_str();
        let p = s.parsed.as_ref();
        let row = sqlx::query(
            "INSERT INTO submissions (hotkey, uid, registered_at, commit_block, commitment, competition, hub, repo, \
             revision, hash, status, reason_code, reason, seen_block) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (hotkey, commit_block, commitment) DO NOTHING RETURNING id",
        )
        .bind(&s.hotkey)
        .bind(i64::from(s.uid))
        .bind(s.registered_at as i64)
        .bind(s.commit_block as i64)
        .bind(&s.commitment)
        .bind(p.map(|p| p.competition.clone()))
        .bind(p.map(|p| p.hub.clone()))
        .bind(p.map(|p| p.repo.clone()))
        .bind(p.map(|p| p.revision.clone()))
        .bind(p.map(|p| p.hash.clone()))
        .bind(status)
        .bind(rejection.map(|r| r.0.to_owned()))
        .bind(rejection.map(|r| r.1.to_owned()))
        .bind(s.seen_block as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    /// Take the oldest queued submission whose lease is free and whose retry time has come.
    pub async fn claim(&self, worker: &str, lease_ms: i64) -> Result<Option<Claimed>, StoreError> {
        let now = now_ms();
        let pick = match self.backend {
            Backend::Postgres => {
                "SELECT id FROM submissions WHERE status = 'queued' AND lease_until_ms < $3 AND retry_after_ms <= $3 \
                 ORDER BY commit_block, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            }
            // SQLite serialises writers, so the sub-select and update are already atomic.
            Backend::Sqlite => {
                "SELECT id FROM submissions WHERE status = 'queued' AND lease_until_ms < $3 AND retry_after_ms <= $3 \
                 ORDER BY commit_block, id LIMIT 1"
            }
        };
        let sql = format!(
            "UPDATE submissions SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1 \
             WHERE id = ({pick}) RETURNING id, hotkey, uid, commit_block, commitment, attempts"
        );
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Claimed {
            id: r.get(0),
            hotkey: r.get(1),
            uid: opt_u16(r.get(2)),
            commit_block: r.get::<i64, _>(3) as u64,
            commitment: r.get(4),
            attempts: r.get(5),
        }))
    }

    /// Free every lease. Only for a SQLite store, which one process uses at a time: whatever a
    /// previous run held (killed mid-evaluation, say) is that run's and may be taken at once.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE submissions SET lease_owner = NULL, lease_until_ms = 0 WHERE status = 'queued' AND lease_owner IS NOT NULL",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Extend a lease while work goes on.
    pub async fn renew(&self, id: i64, worker: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE submissions SET lease_until_ms = $1 WHERE id = $2 AND lease_owner = $3")
                .bind(now_ms() + lease_ms)
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Our failure (hub down, disk full, out of memory): release the lease and try again later.
    /// The miner is not blamed; the reason is kept for operators.
    pub async fn defer(&self, id: i64, retry_in_ms: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE submissions SET lease_owner = NULL, lease_until_ms = 0, retry_after_ms = $1, reason = $2 \
             WHERE id = $3 AND status = 'queued'",
        )
        .bind(now_ms() + retry_in_ms)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The miner's fault: a final rejection with a stable code and a sentence.
    pub async fn reject(&self, id: i64, code: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE submissions SET status = 'rejected', reason_code = $1, reason = $2, lease_owner = NULL \
             WHERE id = $3",
        )
        .bind(code)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record the fetched content's digest. When the same content was committed earlier (by
    /// block, then id) under another hotkey, the submission becomes a duplicate of that one and
    /// `Some(original)` is returned.
    pub async fn set_digest(&self, id: i64, digest: &str) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE submissions SET digest = $1 WHERE id = $2")
            .bind(digest)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let me = sqlx::query("SELECT hotkey, commit_block FROM submissions WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let (hotkey, block): (String, i64) = (me.get(0), me.get(1));
        let original = sqlx::query(
            "SELECT id FROM submissions WHERE digest = $1 AND hotkey <> $2 AND status <> 'rejected' \
             AND (commit_block < $3 OR (commit_block = $3 AND id < $4)) ORDER BY commit_block, id LIMIT 1",
        )
        .bind(digest)
        .bind(&hotkey)
        .bind(block)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get::<i64, _>(0));
        if let Some(original) = original {
            sqlx::query(
                "UPDATE submissions SET status = 'duplicate', duplicate_of = $1, reason_code = 'duplicate', \
                 reason = $2, lease_owner = NULL WHERE id = $3",
            )
            .bind(original)
            .bind(format!(
                "identical content was committed earlier by another hotkey (submission {original})"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(original)
    }

    /// Record the canonical content digest (what scoring reads, whatever the file format). When
    /// an earlier submission (by block, then id) of another hotkey has the same one, this one
    /// becomes its duplicate and `Some(original)` is returned.
    pub async fn set_content_digest(&self, id: i64, digest: &str) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE submissions SET content_digest = $1 WHERE id = $2")
            .bind(digest)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let me = sqlx::query("SELECT hotkey, commit_block FROM submissions WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let (hotkey, block): (String, i64) = (me.get(0), me.get(1));
        let original = sqlx::query(
            "SELECT id FROM submissions WHERE content_digest = $1 AND hotkey <> $2 AND status <> 'rejected' \
             AND (commit_block < $3 OR (commit_block = $3 AND id < $4)) ORDER BY commit_block, id LIMIT 1",
        )
        .bind(digest)
        .bind(&hotkey)
        .bind(block)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get::<i64, _>(0));
        if let Some(original) = original {
            sqlx::query(
                "UPDATE submissions SET status = 'duplicate', duplicate_of = $1, reason_code = 'duplicate', \
                 reason = $2, lease_owner = NULL WHERE id = $3",
            )
            .bind(original)
            .bind(format!(
                "the same model (canonical content digest) was committed earlier by another hotkey (submission {original})"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(original)
    }

    /// Fingerprints (JSON) of the submissions committed before `id` (by block, then id) by other
    /// hotkeys in the same competition, oldest first: the candidates `id` may be a near copy of.
    pub async fn earlier_fingerprints(&self, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.fingerprint FROM submissions o JOIN submissions s ON s.id = $1 \
             WHERE o.fingerprint IS NOT NULL AND o.hotkey <> s.hotkey AND o.competition = s.competition \
             AND o.status <> 'rejected' \
             AND (o.commit_block < s.commit_block OR (o.commit_block = s.commit_block AND o.id < s.id)) \
             ORDER BY o.commit_block, o.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Keep a submission's fingerprint (JSON) for later comparisons.
    pub async fn set_fingerprint(&self, id: i64, fingerprint: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE submissions SET fingerprint = $1 WHERE id = $2")
            .bind(fingerprint)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The submission behaves like `original` (fingerprint `similarity`): final, no weight.
    pub async fn near_duplicate(&self, id: i64, original: i64, similarity: f64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE submissions SET status = 'near_duplicate', duplicate_of = $1, similarity = $2, \
             reason_code = 'near_duplicate', reason = $3, lease_owner = NULL WHERE id = $4",
        )
        .bind(original)
        .bind(similarity)
        .bind(format!(
            "behaves like submission {original}, committed earlier by another hotkey: {:.0}% of fingerprint probes agree",
            similarity * 100.0
        ))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Store an evaluation and mark the submission scored, together. A second write of the same
    /// (submission, seed, spec version) is ignored.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_evaluation(
        &self,
        id: i64,
        seed: &str,
        spec_version: u64,
        total: f64,
        detail: &serde_json::Value,
        block: u64,
        worker: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO evaluations (submission_id, seed, spec_version, total, detail, block, worker) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (submission_id, seed, spec_version) DO NOTHING",
        )
        .bind(id)
        .bind(seed)
        .bind(spec_version as i64)
        .bind(total)
        .bind(serde_json::to_string(detail)?)
        .bind(block as i64)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE submissions SET status = 'scored', reason_code = NULL, reason = NULL, lease_owner = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest scored submission of each hotkey still holding the UID it submitted under
    /// (a UID that changed hands starts from nothing).
    pub async fn scored(&self) -> Result<Vec<Scored>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.hotkey, s.uid, s.competition, s.commit_block, e.seed, e.spec_version, e.total, e.detail, \
             s.repo, s.revision \
             FROM submissions s JOIN evaluations e ON e.submission_id = s.id \
             JOIN neurons n ON n.uid = s.uid AND n.hotkey = s.hotkey \
             WHERE s.status = 'scored' AND e.id = (SELECT MAX(e2.id) FROM evaluations e2 \
                 JOIN submissions s2 ON e2.submission_id = s2.id WHERE s2.hotkey = s.hotkey AND s2.status = 'scored') \
             ORDER BY s.uid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Scored {
                    submission_id: r.get(0),
                    hotkey: r.get(1),
                    uid: opt_u16(r.get(2)),
                    competition: r.get::<Option<String>, _>(3).unwrap_or_default(),
                    commit_block: r.get::<i64, _>(4) as u64,
                    seed: r.get(5),
                    spec_version: r.get::<i64, _>(6) as u64,
                    total: r.get(7),
                    detail: serde_json::from_str(r.get::<&str, _>(8))?,
                    model: format!(
                        "{}@{}",
                        r.get::<Option<String>, _>(9).unwrap_or_default(),
                        r.get::<Option<String>, _>(10)
                            .unwrap_or_default()
                            .chars()
                            .take(12)
                            .collect::<String>()
                    ),
                })
            })
            .collect()
    }

    /// Replace the chain's view of the subnet (one row per UID).
    pub async fn set_neurons(&self, neurons: &[NeuronRow], block: u64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM neurons").execute(&mut *tx).await?;
        for n in neurons {
            sqlx::query(
                "INSERT INTO neurons (uid, hotkey, incentive, stake, block) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(i64::from(n.uid))
            .bind(&n.hotkey)
            .bind(n.incentive)
            .bind(n.stake as i64)
            .bind(block as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn neurons(&self) -> Result<Vec<NeuronRow>, StoreError> {
        let rows = sqlx::query("SELECT uid, hotkey, incentive, stake FROM neurons ORDER BY uid")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| NeuronRow {
                uid: opt_u16(r.get(0)),
                hotkey: r.get(1),
                incentive: r.get(2),
                stake: r.get::<i64, _>(3) as u64,
            })
            .collect())
    }

    const SUBMISSION_COLUMNS: &'static str = "s.id, s.hotkey, s.uid, s.commit_block, s.commitment, s.competition, s.repo, \
         s.revision, s.digest, s.status, s.reason_code, s.reason, s.duplicate_of, s.attempts, \
         (SELECT e.total FROM evaluations e WHERE e.submission_id = s.id ORDER BY e.id DESC LIMIT 1), \
         (SELECT e.detail FROM evaluations e WHERE e.submission_id = s.id ORDER BY e.id DESC LIMIT 1), \
         s.similarity, s.content_digest";

    fn submission_row(r: &sqlx::any::AnyRow) -> Result<SubmissionRow, StoreError> {
        let detail: Option<String> = r.get(15);
        Ok(SubmissionRow {
            id: r.get(0),
            hotkey: r.get(1),
            uid: opt_u16(r.get(2)),
            commit_block: r.get::<i64, _>(3) as u64,
            commitment: r.get(4),
            competition: r.get(5),
            repo: r.get(6),
            revision: r.get(7),
            digest: r.get(8),
            status: r.get::<String, _>(9).parse()?,
            reason_code: r.get(10),
            reason: r.get(11),
            duplicate_of: r.get(12),
            similarity: r.get(16),
            content_digest: r.get(17),
            attempts: r.get(13),
            total: r.get(14),
            evaluation: detail.map(|d| serde_json::from_str(&d)).transpose()?,
        })
    }

    pub async fn submission(&self, id: i64) -> Result<Option<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM submissions s WHERE s.id = $1",
            Self::SUBMISSION_COLUMNS
        );
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::submission_row).transpose()
    }

    /// Every submission of a hotkey, newest first.
    pub async fn history(&self, hotkey: &str) -> Result<Vec<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM submissions s WHERE s.hotkey = $1 ORDER BY s.commit_block DESC, s.id DESC",
            Self::SUBMISSION_COLUMNS
        );
        let rows = sqlx::query(&sql).bind(hotkey).fetch_all(&self.pool).await?;
        rows.iter().map(Self::submission_row).collect()
    }

    /// The newest submission of each hotkey registered now, and its latest scored one.
    pub async fn latest_per_hotkey(&self) -> Result<Vec<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM submissions s JOIN neurons n ON n.hotkey = s.hotkey \
             WHERE s.id = (SELECT MAX(s2.id) FROM submissions s2 WHERE s2.hotkey = s.hotkey) ORDER BY s.uid",
            Self::SUBMISSION_COLUMNS
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(Self::submission_row).collect()
    }

    /// Open a weight-setting attempt before sending it, so a crash between sending and
    /// recording cannot cause a second send of the same weights unnoticed.
    pub async fn begin_weights(
        &self,
        block: u64,
        mode: &str,
        weights: &[(u16, u16)],
        version_key: u64,
        salt: Option<&str>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO weight_sets (block, mode, weights, version_key, status, salt) \
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .bind(block as i64)
        .bind(mode)
        .bind(serde_json::to_string(weights)?)
        .bind(version_key as i64)
        .bind(salt)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    pub async fn finish_weights(
        &self,
        id: i64,
        status: WeightOutcome,
        detail: &str,
        block: Option<u64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE weight_sets SET status = $1, detail = $2, done_block = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(detail)
            .bind(block.map(|b| b as i64))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Weight attempts, newest first.
    pub async fn weight_sets(&self, limit: i64) -> Result<Vec<WeightSetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, block, mode, weights, version_key, status, detail, salt, done_block FROM weight_sets \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WeightSetRow {
                    id: r.get(0),
                    block: r.get::<i64, _>(1) as u64,
                    mode: r.get(2),
                    weights: serde_json::from_str(r.get::<&str, _>(3))?,
                    version_key: r.get::<i64, _>(4) as u64,
                    status: r.get::<String, _>(5).parse()?,
                    detail: r.get(6),
                    salt: r.get(7),
                    done_block: r.get::<Option<i64>, _>(8).map(|b| b as u64),
                })
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeightSetRow {
    pub id: i64,
    pub block: u64,
    pub mode: String,
    pub weights: Vec<(u16, u16)>,
    pub version_key: u64,
    pub status: WeightOutcome,
    pub detail: Option<String>,
    pub salt: Option<String>,
    pub done_block: Option<u64>,
}
