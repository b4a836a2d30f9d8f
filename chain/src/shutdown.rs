//! The one place Kindred's long-running processes (the validator, the devnet) wait for SIGINT or
//! SIGTERM. It lives here because every such process already talks to a chain; their `main`s turn
//! the signal into a cancellation and drain.

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what `docker stop` and systemd send).
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            // Without a SIGTERM handler, Ctrl-C still stops us.
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
