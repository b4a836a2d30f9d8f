//! The devnet's state on disk (SQLite): every block's header fields and extrinsics, and the chain
//! state after the best block, written together after each block so a restarted devnet continues
//! where it stopped. Storage of past blocks is not kept: after a restart, queries at blocks before
//! the restart answer "state discarded", as a pruned node would.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::node::{BlockRecord, Saved};
use super::state::State;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("devnet store {path}: {source}")]
    Sqlite { path: PathBuf, source: sqlx::Error },
    #[error("devnet store {path}: {what}")]
    Corrupt { path: PathBuf, what: String },
}

#[derive(Debug, Clone)]
pub struct ChainStore {
    pool: SqlitePool,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    parent BLOB NOT NULL,
    state_root BLOB NOT NULL,
    extrinsics_root BLOB NOT NULL,
    extrinsics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    block INTEGER NOT NULL,
    state TEXT NOT NULL
);
";

impl ChainStore {
    /// Open (creating if needed) the store at `path`; `reset` forgets everything in it first.
    pub async fn open(path: &Path, reset: bool) -> Result<ChainStore, StoreError> {
        let fail = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(fail)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        // One writer (the block loop); a second connection would only contend for the lock.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(fail)?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(fail)?;
        if reset {
            sqlx::raw_sql("DELETE FROM blocks; DELETE FROM chain_state;")
                .execute(&pool)
                .await
                .map_err(fail)?;
        }
        Ok(ChainStore {
            pool,
            path: path.to_owned(),
        })
    }

    fn err(&self, source: sqlx::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
        }
    }

    /// Record `block` and the state after it, atomically.
    pub async fn save(&self, block: &BlockRecord, state: &State) -> Result<(), StoreError> {
        let extrinsics: Vec<String> = block.extrinsics.iter().map(hex::encode).collect();
        let extrinsics = serde_json::to_string(&extrinsics).map_err(|e| self.corrupt(e.to_string()))?;
        let state_json = serde_json::to_string(state).map_err(|e| self.corrupt(e.to_string()))?;
        let number = i64::try_from(block.number).map_err(|_| self.corrupt("block number"))?;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query(
            "INSERT OR REPLACE INTO blocks (number, hash, parent, state_root, extrinsics_root, extrinsics) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(number)
        .bind(&block.hash[..])
        .bind(&block.parent[..])
        .bind(&block.state_root[..])
        .bind(&block.extrinsics_root[..])
        .bind(extrinsics)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        sqlx::query("INSERT OR REPLACE INTO chain_state (id, block, state) VALUES (1, ?, ?)")
            .bind(number)
            .bind(state_json)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// What a previous run saved, if anything.
    pub async fn load(&self) -> Result<Option<Saved>, StoreError> {
        let Some(row) = sqlx::query("SELECT block, state FROM chain_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let state_block: i64 = row.get(0);
        let state: State =
            serde_json::from_str(row.get::<&str, _>(1)).map_err(|e| self.corrupt(format!("state: {e}")))?;
        let rows = sqlx::query(
            "SELECT number, hash, parent, state_root, extrinsics_root, extrinsics FROM blocks ORDER BY number",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut blocks = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let number: i64 = row.get(0);
            if usize::try_from(number).ok() != Some(i) {
                return Err(self.corrupt(format!("block {i} missing (found {number})")));
            }
            let hash32 = |col: usize| -> Result<[u8; 32], StoreError> {
                let bytes: Vec<u8> = row.get(col);
                bytes
                    .try_into()
                    .map_err(|_| self.corrupt(format!("block {number}: 32-byte hash")))
            };
            let extrinsics: Vec<String> = serde_json::from_str(row.get::<&str, _>(5))
                .map_err(|e| self.corrupt(format!("block {number} extrinsics: {e}")))?;
            let extrinsics = extrinsics
                .iter()
                .map(hex::decode)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.corrupt(format!("block {number} extrinsics: {e}")))?;
            blocks.push(BlockRecord {
                number: number as u64,
                hash: hash32(1)?,
                parent: hash32(2)?,
                state_root: hash32(3)?,
                extrinsics_root: hash32(4)?,
                extrinsics,
                storage: None,
            });
        }
        if blocks.last().map(|b| b.number as i64) != Some(state_block) || state.block as i64 != state_block {
            return Err(self.corrupt(format!(
                "state is at block {state_block} but the chain ends at {:?}",
                blocks.last().map(|b| b.number)
            )));
        }
        Ok(Some(Saved { blocks, state }))
    }
}
