//! Every migration runs up, down, and up again.

use crate::common::empty_database;

#[tokio::test]
async fn migrations_run_up_down_up() {
    let url = empty_database().await;
    let applied = capcom::db::migrate::run_pending(&url).await.unwrap();
    assert!(!applied.is_empty());
    let reverted = capcom::db::migrate::revert_all(&url).await.unwrap();
    assert_eq!(reverted.len(), applied.len(), "every migration reverts");
    let again = capcom::db::migrate::run_pending(&url).await.unwrap();
    assert_eq!(again, applied);
    assert!(capcom::db::migrate::run_pending(&url).await.unwrap().is_empty(), "nothing left pending");
}
