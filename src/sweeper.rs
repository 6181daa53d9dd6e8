//! The sweeper: deletes expired ephemeral deployments and makes due hibernation transitions
//! (docs/ephemeral-deployments.md, docs/hibernation.md, docs/operations.md).
//!
//! One sweeper runs in every capcom process (unless `CAPCOM_SWEEP_INTERVAL_MS` is 0) and sweeps every
//! interval. Each item is claimed with `FOR UPDATE SKIP LOCKED` and handled in one transaction that also
//! moves it out of "due" (deleted, or its next look set past now), see [`crate::domain::lifecycle`]: so
//! however many replicas sweep at once, each expiry and each transition is applied exactly once. The
//! state is in the database, so a restart loses nothing: the next sweep picks up whatever fell due
//! meanwhile.

use std::time::Duration;

use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::lifecycle;
use crate::error::ApiResult;
use crate::state::AppState;

/// Most items of each kind one sweep handles, so that a backlog does not hold a connection for long; the
/// rest wait for the next sweep.
const MAX_PER_SWEEP: usize = 500;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Deployments deleted because they expired.
    pub expired: Vec<Uuid>,
    /// Hibernation transitions made: the deployment and whether it now hibernates.
    pub transitions: Vec<(Uuid, bool)>,
}

/// Runs one sweep at the state's clock: every due expiry and hibernation look (up to a bound), each in
/// its own transaction. Safe to run concurrently in any number of processes.
pub async fn sweep_once(state: &AppState) -> ApiResult<SweepReport> {
    let mut report = SweepReport::default();
    let mut conn = state.pool.get().await?;
    let now = state.clock.now();
    for _ in 0..MAX_PER_SWEEP {
        match lifecycle::expire_next(&mut conn, now).await? {
            Some(id) => {
                tracing::info!(deployment = %id, "ephemeral deployment expired and was deleted");
                report.expired.push(id);
            }
            None => break,
        }
    }
    for _ in 0..MAX_PER_SWEEP {
        match lifecycle::hibernation_next(&mut conn, now).await? {
            Some((id, Some(hibernating))) => {
                tracing::info!(deployment = %id, hibernating, "hibernation transition");
                report.transitions.push((id, hibernating));
            }
            Some((_, None)) => {}
            None => break,
        }
    }
    state.metrics.swept(report.expired.len(), &report.transitions);
    Ok(report)
}

/// A running sweeper; dropping it stops it.
#[derive(Debug)]
pub struct Sweeper {
    task: JoinHandle<()>,
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts this process's sweeper, sweeping every `CAPCOM_SWEEP_INTERVAL_MS` (`None` when that is 0).
pub fn start(state: AppState) -> Option<Sweeper> {
    let interval = Duration::from_millis(state.config.sweep_interval_ms);
    if interval.is_zero() {
        tracing::info!("sweeper disabled (CAPCOM_SWEEP_INTERVAL_MS=0)");
        return None;
    }
    let task = tokio::spawn(async move {
        loop {
            if let Err(error) = sweep_once(&state).await {
                tracing::warn!(%error, "the sweep failed; trying again at the next interval");
            }
            tokio::time::sleep(interval).await;
        }
    });
    tracing::info!(interval_ms = interval.as_millis(), "sweeper started");
    Some(Sweeper { task })
}
