//! The id of the request a task serves, for the `request_id` field of log lines written on its behalf
//! (docs/operations.md, "Request logs": every line about a request names it).
//!
//! The router's edge middleware runs each request's service inside [`serving`]; a line written anywhere
//! below it reads the id with [`current`]. A task the request spawns does not inherit it: whoever spawns
//! one takes the id along. (A tracing span per request carried the id before; creating it, and entering
//! and leaving it on every poll of the request's future, cost about 5 % of a small request's CPU:
//! bench/README.md, "Results, part 6".)

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// Runs `future` as the request `id`: [`current`] answers `id` while it runs.
pub async fn serving<F: Future>(id: Arc<str>, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The id of the request the current task serves, or `""` outside one (startup, background tasks).
pub fn current() -> Arc<str> {
    REQUEST_ID.try_with(Arc::clone).unwrap_or_else(|_| Arc::from(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_serving_a_request_reads_its_id_and_others_read_none() {
        assert_eq!(&*current(), "");
        let seen = serving(Arc::from("abc"), async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(&*seen, "abc");
        assert_eq!(&*current(), "");
    }
}
