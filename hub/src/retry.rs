//! One retry policy for every hub call, download and upload alike: exponential backoff, and only
//! for failures that are nobody's fault in particular (connections, timeouts, 408/429/5xx).
//! Whether an error is worth another try is the caller's error type's business ([`Transient`]),
//! so a miner's missing repository is never retried and a hub outage never ends a fetch early.

use std::future::Future;
use std::time::Duration;

/// An error that says whether the same request may succeed later.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

/// How often and how patiently a hub call is repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// First wait between tries, doubled after each up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails for good, or has been tried `attempts` times. Returns
    /// the last error with the number of tries it took.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, (E, u32)>
    where
        E: Transient + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    tracing::warn!(%what, attempt, error = %e, retry_in = ?wait, "hub call failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.max_backoff);
                    attempt += 1;
                }
                Err(e) => return Err((e, attempt)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Failure(bool);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "transient: {}", self.0)
        }
    }

    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_the_limit_and_final_ones_never() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = quick(3)
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Failure(true))
            })
            .await;
        assert_eq!(out.map_err(|(_, n)| n), Err(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let out: Result<(), _> = quick(3)
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Failure(false))
            })
            .await;
        assert_eq!(out.map_err(|(_, n)| n), Err(1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let out = quick(5)
            .run("t", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(Failure(true)),
                    n => Ok(n),
                }
            })
            .await;
        assert_eq!(out.map_err(|(_, n)| n), Ok(2));
    }
}
