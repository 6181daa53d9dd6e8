//! What deployments can be made of: executors, scheduler sizes, worker bounds, and the runtime releases
//! (runtime version → Airflow version). The newest stable release is the default.

/// One runtime release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeRelease {
    /// Runtime version.
    pub version: &'static str,
    /// The Airflow version it ships.
    pub airflow_version: &'static str,
    /// Whether it runs Airflow database migrations on upgrade.
    pub airflow_database_migrations: bool,
}

/// Runtime releases, oldest first.
pub const RUNTIME_RELEASES: &[RuntimeRelease] = &[
    RuntimeRelease { version: "9.1.0", airflow_version: "2.7.3", airflow_database_migrations: true },
    RuntimeRelease { version: "10.6.0", airflow_version: "2.8.4", airflow_database_migrations: true },
    RuntimeRelease { version: "11.7.0", airflow_version: "2.9.3", airflow_database_migrations: true },
    RuntimeRelease { version: "12.4.0", airflow_version: "2.10.3", airflow_database_migrations: false },
];

/// Platform (chart) version recorded on deployments.
pub const PLATFORM_VERSION: &str = "1.0.0";

/// Executors (Houston's names).
pub const EXECUTORS: [&str; 3] = ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor"];

/// Scheduler sizes.
pub const SCHEDULER_SIZES: [&str; 3] = ["SMALL", "MEDIUM", "LARGE"];

/// Scheduler replica bounds.
pub const SCHEDULER_REPLICAS: (i32, i32) = (1, 4);

/// Worker concurrency bounds.
pub const WORKER_CONCURRENCY: (i32, i32) = (1, 256);

/// The default (newest) runtime release.
pub fn default_release() -> RuntimeRelease {
    RUNTIME_RELEASES[RUNTIME_RELEASES.len() - 1]
}

/// The release with this runtime version.
pub fn release(version: &str) -> Option<RuntimeRelease> {
    RUNTIME_RELEASES.iter().copied().find(|r| r.version == version)
}

/// The newest release shipping this Airflow version.
pub fn release_for_airflow(airflow_version: &str) -> Option<RuntimeRelease> {
    RUNTIME_RELEASES.iter().rev().copied().find(|r| r.airflow_version == airflow_version)
}
