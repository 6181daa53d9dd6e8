//! Ephemeral deployments (an expiry after which a deployment deletes itself) and hibernation schedules
//! (development deployments that sleep and wake on cron expressions in a named time zone, with
//! overrides). Issue 26 §2 and §3; users' pages: `docs/ephemeral-deployments.md`, `docs/hibernation.md`.
//!
//! The rules are pure functions of the settings and a time ([`expiry`], [`HibernationInput::validate`],
//! [`plan`]); the sweeper ([`crate::sweeper`]) applies what falls due with [`expire_next`] and
//! [`hibernation_next`], each one deployment in one transaction whose row it claims with `FOR UPDATE
//! SKIP LOCKED`, so any number of replicas apply each expiry and each transition exactly once.

use std::ops::RangeInclusive;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::db::models::deployment::{Deployment, DeploymentChanges};
use crate::domain::Actor;
use crate::domain::audit::{self, Change};
use crate::error::{ApiError, ApiResult};

/// Hours an ephemeral deployment may live (`ttlHours`), and how far ahead `expiresAt` may be: 1 hour
/// to 30 days.
pub const TTL_HOURS: RangeInclusive<i32> = 1..=720;

/// Status of a hibernating deployment.
pub const HIBERNATING: &str = "HIBERNATING";
/// Status a deployment gets when it wakes.
pub const AWAKE: &str = "HEALTHY";

/// The expiry `createDeployment`/`updateDeploymentExpiry` ask for, resolved against `now`: `expiresAt`
/// (in the future, at most [`TTL_HOURS`] ahead) or `ttlHours` (within [`TTL_HOURS`]), not both;
/// `None` when neither is given. BAD_USER_INPUT naming the argument otherwise.
pub fn expiry(
    expires_at: Option<DateTime<Utc>>,
    ttl_hours: Option<i32>,
    now: DateTime<Utc>,
) -> ApiResult<Option<DateTime<Utc>>> {
    let (low, high) = (*TTL_HOURS.start(), *TTL_HOURS.end());
    match (expires_at, ttl_hours) {
        (Some(_), Some(_)) => Err(ApiError::bad_input("ttlHours", "Give expiresAt or ttlHours, not both")),
        (Some(at), None) if at <= now => Err(ApiError::bad_input("expiresAt", "expiresAt must be in the future")),
        (Some(at), None) if at > now + Duration::hours(i64::from(high)) => {
            Err(ApiError::bad_input("expiresAt", format!("expiresAt is at most {high} hours ahead")))
        }
        (Some(at), None) => Ok(Some(at)),
        (None, Some(hours)) if !TTL_HOURS.contains(&hours) => {
            Err(ApiError::bad_input("ttlHours", format!("ttlHours must be between {low} and {high}")))
        }
        (None, Some(hours)) => Ok(Some(now + Duration::hours(i64::from(hours)))),
        (None, None) => Ok(None),
    }
}

/// A deployment's hibernation settings as `updateDeploymentHibernation` sends them (they replace the
/// stored ones; `None` clears).
#[derive(Debug, Clone, Default)]
pub struct HibernationInput {
    /// Cron expression at which it hibernates (5 fields: minute hour day-of-month month day-of-week).
    pub hibernate_at_cron: Option<String>,
    /// Cron expression at which it wakes.
    pub wake_at_cron: Option<String>,
    /// IANA time zone name the expressions are read in (default `UTC`).
    pub time_zone: Option<String>,
    /// Hibernate until then, whatever the schedule says.
    pub hibernate_until: Option<DateTime<Utc>>,
    /// Stay awake until then, whatever the schedule says.
    pub awake_until: Option<DateTime<Utc>>,
}

/// Settings that passed [`HibernationInput::validate`], normalised (trimmed; the zone set whenever there
/// is a schedule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HibernationSettings {
    /// Hibernation cron.
    pub hibernate_at_cron: Option<String>,
    /// Wake cron.
    pub wake_at_cron: Option<String>,
    /// Time zone.
    pub time_zone: Option<String>,
    /// Hibernate-until override.
    pub hibernate_until: Option<DateTime<Utc>>,
    /// Awake-until override.
    pub awake_until: Option<DateTime<Utc>>,
}

impl HibernationSettings {
    /// The settings stored on `d`.
    pub fn of(d: &Deployment) -> Self {
        HibernationSettings {
            hibernate_at_cron: d.hibernate_at_cron.clone(),
            wake_at_cron: d.wake_at_cron.clone(),
            time_zone: d.hibernation_time_zone.clone(),
            hibernate_until: d.hibernate_until,
            awake_until: d.awake_until,
        }
    }

    fn is_empty(&self) -> bool {
        *self == HibernationSettings::default()
    }
}

/// A parsed schedule.
#[derive(Debug, Clone)]
struct Schedule {
    hibernate: Cron,
    wake: Cron,
    zone: Tz,
}

/// Parses a standard 5-field cron expression (no seconds, no year), as Astro and crontab write them;
/// BAD_USER_INPUT naming `field` otherwise, or when it never fires.
fn parse_cron(field: &str, text: &str) -> ApiResult<Cron> {
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let cron = parser.parse(text).map_err(|e| {
        ApiError::bad_input(
            field,
            format!("{text:?} is not a cron expression (minute hour day-of-month month day-of-week): {e}"),
        )
    })?;
    // `0 0 30 2 *` parses but never fires.
    if cron.find_next_occurrence(&Utc::now(), false).is_err() {
        return Err(ApiError::bad_input(field, format!("{text:?} never fires")));
    }
    Ok(cron)
}

fn parse_zone(field: &str, text: &str) -> ApiResult<Tz> {
    Tz::from_str(text).map_err(|_| {
        ApiError::bad_input(
            field,
            format!("{text:?} is not a time zone name of the IANA database (e.g. Europe/Berlin)"),
        )
    })
}

fn schedule_of(settings: &HibernationSettings) -> Option<Schedule> {
    let (hibernate, wake) = (settings.hibernate_at_cron.as_deref()?, settings.wake_at_cron.as_deref()?);
    let zone = settings.time_zone.as_deref().unwrap_or("UTC");
    // Stored settings were validated when they were written; a row that no longer parses (a cron crate
    // upgrade that became stricter) has no schedule rather than a failing sweep.
    match (parse_cron("hibernateAtCron", hibernate), parse_cron("wakeAtCron", wake), parse_zone("tz", zone)) {
        (Ok(hibernate), Ok(wake), Ok(zone)) => Some(Schedule { hibernate, wake, zone }),
        _ => {
            tracing::warn!(hibernate, wake, zone, "a stored hibernation schedule does not parse; ignored");
            None
        }
    }
}

impl HibernationInput {
    /// Validates the settings for a deployment with `is_development_mode`, at `now`. BAD_USER_INPUT naming
    /// the argument: any setting on a deployment that is not in development mode; one cron expression
    /// without the other; a bad expression or one that never fires; two equal expressions; an unknown
    /// time zone or one without a schedule; both overrides; an override that is not in the future.
    pub fn validate(self, is_development_mode: bool, now: DateTime<Utc>) -> ApiResult<HibernationSettings> {
        let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let settings = HibernationSettings {
            hibernate_at_cron: text(self.hibernate_at_cron),
            wake_at_cron: text(self.wake_at_cron),
            time_zone: text(self.time_zone),
            hibernate_until: self.hibernate_until,
            awake_until: self.awake_until,
        };
        if !is_development_mode && !settings.is_empty() {
            let field = [
                ("hibernateAtCron", settings.hibernate_at_cron.is_some()),
                ("wakeAtCron", settings.wake_at_cron.is_some()),
                ("hibernationTimeZone", settings.time_zone.is_some()),
                ("hibernateUntil", settings.hibernate_until.is_some()),
                ("awakeUntil", settings.awake_until.is_some()),
            ]
            .into_iter()
            .find(|(_, given)| *given)
            .map_or("isDevelopmentMode", |(field, _)| field);
            return Err(ApiError::bad_input(
                field,
                "Only development deployments (created with isDevelopmentMode: true) may hibernate",
            ));
        }
        let mut settings = settings;
        match (&settings.hibernate_at_cron, &settings.wake_at_cron) {
            (Some(hibernate), Some(wake)) => {
                let (h, w) = (parse_cron("hibernateAtCron", hibernate)?, parse_cron("wakeAtCron", wake)?);
                if h.pattern.to_string() == w.pattern.to_string() {
                    return Err(ApiError::bad_input("wakeAtCron", "wakeAtCron must differ from hibernateAtCron"));
                }
                let zone = settings.time_zone.get_or_insert_with(|| "UTC".to_owned());
                parse_zone("hibernationTimeZone", zone)?;
            }
            (Some(_), None) => {
                return Err(ApiError::bad_input("wakeAtCron", "A schedule needs both hibernateAtCron and wakeAtCron"));
            }
            (None, Some(_)) => {
                return Err(ApiError::bad_input(
                    "hibernateAtCron",
                    "A schedule needs both hibernateAtCron and wakeAtCron",
                ));
            }
            (None, None) => {
                if settings.time_zone.is_some() {
                    return Err(ApiError::bad_input(
                        "hibernationTimeZone",
                        "hibernationTimeZone applies to a schedule: give hibernateAtCron and wakeAtCron too",
                    ));
                }
            }
        }
        if settings.hibernate_until.is_some() && settings.awake_until.is_some() {
            return Err(ApiError::bad_input("awakeUntil", "Give hibernateUntil or awakeUntil, not both"));
        }
        for (field, until) in [("hibernateUntil", settings.hibernate_until), ("awakeUntil", settings.awake_until)] {
            if until.is_some_and(|until| until <= now) {
                return Err(ApiError::bad_input(field, format!("{field} must be in the future")));
            }
        }
        Ok(settings)
    }
}

/// Whether the schedule alone says "hibernating" at `t`: the later of the two expressions' last firings
/// at or before `t` wins; when both fire at the same minute, waking wins; before either has fired, awake.
fn scheduled_hibernating(schedule: &Schedule, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&schedule.zone);
    let last_hibernate = schedule.hibernate.find_previous_occurrence(&local, true).ok();
    let last_wake = schedule.wake.find_previous_occurrence(&local, true).ok();
    match (last_hibernate, last_wake) {
        (Some(h), Some(w)) => h > w,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// What the settings say at `t`: an override in force wins, then the schedule; awake without either.
fn hibernating_at(settings: &HibernationSettings, schedule: Option<&Schedule>, t: DateTime<Utc>) -> bool {
    if settings.hibernate_until.is_some_and(|until| until > t) {
        return true;
    }
    if settings.awake_until.is_some_and(|until| until > t) {
        return false;
    }
    schedule.is_some_and(|s| scheduled_hibernating(s, t))
}

/// The first moment after `t` at which a state of `hibernating` may change: the end of an override in
/// force (nothing else matters while one is), else the next firing of the expression that says the
/// opposite (a wake while hibernating, a hibernation while awake). Firings that repeat the current state
/// are skipped here rather than looked through one by one: a wake every minute must not hide a
/// hibernation once a year (`0 0 29 2 *` fires every fourth February).
fn next_event(
    settings: &HibernationSettings,
    schedule: Option<&Schedule>,
    t: DateTime<Utc>,
    hibernating: bool,
) -> Option<DateTime<Utc>> {
    let overrides = [settings.hibernate_until, settings.awake_until].into_iter().flatten().filter(|u| *u > t).min();
    if overrides.is_some() {
        return overrides;
    }
    let s = schedule?;
    let local = t.with_timezone(&s.zone);
    let opposite = if hibernating { &s.wake } else { &s.hibernate };
    opposite.find_next_occurrence(&local, false).ok().map(|next| next.with_timezone(&Utc))
}

/// A deployment's hibernation at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Whether the settings say it hibernates now.
    pub hibernating: bool,
    /// When that next changes (to the opposite), if it ever does.
    pub next_transition: Option<DateTime<Utc>>,
    /// When the sweeper must look again (the next transition; `None`: never).
    pub due_at: Option<DateTime<Utc>>,
}

/// Most events looked through for the next transition (firings that change nothing: a hibernation at the
/// very minute a wake fires, where waking wins); past it, the sweeper looks again later.
const MAX_EVENTS: usize = 256;

/// What `settings` say at `now` and when that changes.
pub fn plan(settings: &HibernationSettings, now: DateTime<Utc>) -> Plan {
    let schedule = schedule_of(settings);
    let schedule = schedule.as_ref();
    let hibernating = hibernating_at(settings, schedule, now);
    let mut cursor = now;
    for _ in 0..MAX_EVENTS {
        let Some(event) = next_event(settings, schedule, cursor, hibernating) else {
            return Plan { hibernating, next_transition: None, due_at: None };
        };
        if hibernating_at(settings, schedule, event) != hibernating {
            return Plan { hibernating, next_transition: Some(event), due_at: Some(event) };
        }
        cursor = event;
    }
    Plan { hibernating, next_transition: None, due_at: Some(cursor) }
}

/// The system: who expiries and scheduled transitions are recorded as.
pub fn system_actor() -> Actor {
    Actor { label: "system".into(), request_id: Some("sweeper".into()), ..Actor::default() }
}

/// The columns that put `d` in the state `plan` says, when it differs: `is_hibernating` and `status`.
fn transition(d: &Deployment, plan: &Plan) -> Option<(bool, &'static str)> {
    (plan.hibernating != d.is_hibernating)
        .then_some((plan.hibernating, if plan.hibernating { HIBERNATING } else { AWAKE }))
}

/// Replaces deployment `id`'s hibernation settings (`updateDeploymentHibernation`), and puts it in the
/// state they say now, in one transaction with one audit event (`deployment.hibernation.update`, before
/// and after). NOT_FOUND for a deployment that is not live; BAD_USER_INPUT as
/// [`HibernationInput::validate`] says.
pub async fn set_hibernation(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    input: HibernationInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let (before, after) = set_hibernation_in(tx, id, input, now).await?;
        audit_change(tx, &before, &after, "deployment.hibernation.update", actor).await?;
        Ok(after)
    })
    .await
}

/// [`set_hibernation`] in the caller's transaction, without its audit event (for callers that record
/// one event for a larger change, such as applying a deployment file): locks the live row, validates,
/// writes the settings and the state they say now, and announces the change (`deploymentStatus`).
/// Returns the deployment before and after.
pub async fn set_hibernation_in(
    tx: &mut AsyncPgConnection,
    id: Uuid,
    input: HibernationInput,
    now: DateTime<Utc>,
) -> ApiResult<(Deployment, Deployment)> {
    let before = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
    let settings = input.validate(before.is_development_mode, now)?;
    let plan = plan(&settings, now);
    let mut changes = DeploymentChanges {
        hibernate_at_cron: Some(settings.hibernate_at_cron.clone()),
        wake_at_cron: Some(settings.wake_at_cron.clone()),
        hibernation_time_zone: Some(settings.time_zone.clone()),
        hibernate_until: Some(settings.hibernate_until),
        awake_until: Some(settings.awake_until),
        hibernation_due_at: Some(plan.due_at),
        updated_at: Some(now),
        ..DeploymentChanges::default()
    };
    if let Some((hibernating, status)) = transition(&before, &plan) {
        changes.is_hibernating = Some(hibernating);
        changes.status = Some(status.to_owned());
    }
    let after = write(tx, &before, &changes).await?;
    Ok((before, after))
}

/// Sets or clears deployment `id`'s expiry (`updateDeploymentExpiry`); `expires_at` was resolved by
/// [`expiry`]. One audit event, `deployment.expiry.update`.
pub async fn set_expiry(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    expires_at: Option<DateTime<Utc>>,
    authority: &crate::domain::Authority,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Deployment> {
    conn.transaction(async |tx| {
        let before = Deployment::live_for_update(tx, id).await?.ok_or(ApiError::NotFound)?;
        // An expiry is a deletion scheduled: giving a permanent deployment one, or bringing one forward,
        // needs the operation table's SCHEDULE_DEPLOYMENT_DELETION on top of this mutation's row. Putting
        // one off or removing it deletes nothing and needs only the row.
        if let Some(at) = expires_at {
            if before.expires_at.is_none_or(|current| at < current) {
                let schedule = crate::rbac::operations::SCHEDULE_DEPLOYMENT_DELETION.permissions();
                authority.require(tx, schedule, crate::rbac::ScopeRef::Deployment(id)).await?;
            }
        }
        let changes =
            DeploymentChanges { expires_at: Some(expires_at), updated_at: Some(now), ..DeploymentChanges::default() };
        record(tx, &before, &changes, "deployment.expiry.update", actor).await
    })
    .await
}

/// Writes `changes` to the locked row `before` and announces the change (`deploymentStatus`), in the
/// caller's transaction.
async fn write(tx: &mut AsyncPgConnection, before: &Deployment, changes: &DeploymentChanges) -> ApiResult<Deployment> {
    let after = Deployment::update(tx, before.id, changes).await?;
    crate::db::notify::deployment_changed(tx, before.id).await?;
    Ok(after)
}

/// Records the audit event `action` for the change of `before` into `after`.
async fn audit_change(
    tx: &mut AsyncPgConnection,
    before: &Deployment,
    after: &Deployment,
    action: &'static str,
    actor: &Actor,
) -> ApiResult<()> {
    audit::record(
        tx,
        actor,
        Change {
            action,
            target_type: "deployment",
            target_id: Some(before.id),
            workspace_id: Some(before.workspace_id),
            deployment_id: Some(before.id),
            before: Some(crate::domain::deployments::snapshot(before)),
            after: Some(crate::domain::deployments::snapshot(after)),
            ..Change::default()
        },
    )
    .await
}

/// Writes `changes` to the locked row `before`, announces the change (`deploymentStatus`) and records the
/// audit event, all in the caller's transaction.
async fn record(
    tx: &mut AsyncPgConnection,
    before: &Deployment,
    changes: &DeploymentChanges,
    action: &'static str,
    actor: &Actor,
) -> ApiResult<Deployment> {
    let after = write(tx, before, changes).await?;
    audit_change(tx, before, &after, action, actor).await?;
    Ok(after)
}

/// Deletes the next expired deployment, if any is due at `now` and not being deleted by another
/// process: claimed with `FOR UPDATE SKIP LOCKED`, soft-deleted as `deleteDeployment` does, with the
/// audit event `deployment.expire` by the system, all in one transaction. Returns its id.
pub async fn expire_next(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> ApiResult<Option<Uuid>> {
    conn.transaction(async |tx| {
        let Some(due) = Deployment::claim_expired(tx, now).await? else { return Ok(None) };
        crate::domain::deployments::soft_delete(tx, due.id, now, "deployment.expire", &system_actor()).await?;
        Ok(Some(due.id))
    })
    .await
}

/// Applies the next due hibernation look, if any is due at `now` and not claimed by another process
/// (`FOR UPDATE SKIP LOCKED`): when the settings now say otherwise than the row, the transition is made
/// (`is_hibernating`, status, the `deploymentStatus` announcement and the audit event
/// `deployment.hibernate` or `deployment.wake` by the system); in any case the next look is set past
/// `now`, and overrides that have ended are cleared, so the row is not due again. Returns the id and
/// the transition made (`Some(true)`: it hibernated).
pub async fn hibernation_next(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> ApiResult<Option<(Uuid, Option<bool>)>> {
    conn.transaction(async |tx| {
        let Some(due) = Deployment::claim_hibernation_due(tx, now).await? else { return Ok(None) };
        let mut settings = HibernationSettings::of(&due);
        settings.hibernate_until = settings.hibernate_until.filter(|until| *until > now);
        settings.awake_until = settings.awake_until.filter(|until| *until > now);
        let plan = plan(&settings, now);
        let mut changes = DeploymentChanges {
            hibernate_until: Some(settings.hibernate_until),
            awake_until: Some(settings.awake_until),
            hibernation_due_at: Some(plan.due_at),
            ..DeploymentChanges::default()
        };
        let Some((hibernating, status)) = transition(&due, &plan) else {
            Deployment::update(tx, due.id, &changes).await?;
            return Ok(Some((due.id, None)));
        };
        changes.is_hibernating = Some(hibernating);
        changes.status = Some(status.to_owned());
        changes.updated_at = Some(now);
        let action = if hibernating { "deployment.hibernate" } else { "deployment.wake" };
        record(tx, &due, &changes, action, &system_actor()).await?;
        Ok(Some((due.id, Some(hibernating))))
    })
    .await
}

/// Live deployments with an expiry (the `capcom_deployments_pending_expiry` gauge).
pub async fn pending_expiry_count(conn: &mut AsyncPgConnection) -> ApiResult<i64> {
    Ok(Deployment::pending_expiry_count(conn).await?)
}

/// Live deployments hibernating now (the `capcom_deployments_hibernating` gauge).
pub async fn hibernating_count(conn: &mut AsyncPgConnection) -> ApiResult<i64> {
    Ok(Deployment::hibernating_count(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap_or_else(|| unreachable!())
    }

    fn nightly(zone: &str) -> HibernationSettings {
        HibernationSettings {
            hibernate_at_cron: Some("0 20 * * 1-5".into()),
            wake_at_cron: Some("0 8 * * 1-5".into()),
            time_zone: Some(zone.into()),
            ..HibernationSettings::default()
        }
    }

    #[test]
    fn expiry_takes_one_of_two_forms_within_bounds() {
        let now = at(2026, 12, 7, 12, 0);
        assert_eq!(expiry(None, None, now).unwrap(), None);
        assert_eq!(expiry(None, Some(24), now).unwrap(), Some(at(2026, 12, 8, 12, 0)));
        assert_eq!(expiry(Some(at(2026, 12, 8, 0, 0)), None, now).unwrap(), Some(at(2026, 12, 8, 0, 0)));
        for (expires_at, ttl, field) in [
            (Some(at(2026, 12, 8, 0, 0)), Some(1), "ttlHours"),
            (Some(now), None, "expiresAt"),
            (Some(at(2027, 2, 1, 0, 0)), None, "expiresAt"),
            (None, Some(0), "ttlHours"),
            (None, Some(721), "ttlHours"),
        ] {
            match expiry(expires_at, ttl, now) {
                Err(ApiError::BadUserInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{expires_at:?} {ttl:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_weekday_schedule_follows_its_time_zone() {
        // Monday 2026-12-07, Europe/Berlin is UTC+1: 20:00 local is 19:00 UTC.
        let settings = nightly("Europe/Berlin");
        let morning = plan(&settings, at(2026, 12, 7, 10, 0));
        assert!(!morning.hibernating);
        assert_eq!(morning.next_transition, Some(at(2026, 12, 7, 19, 0)));
        let evening = plan(&settings, at(2026, 12, 7, 19, 0));
        assert!(evening.hibernating, "the firing minute itself counts");
        assert_eq!(evening.next_transition, Some(at(2026, 12, 8, 7, 0)));
        // Friday evening to Monday morning: the weekend stays asleep.
        let friday = plan(&settings, at(2026, 12, 11, 22, 0));
        assert!(friday.hibernating);
        assert_eq!(friday.next_transition, Some(at(2026, 12, 14, 7, 0)));
    }

    #[test]
    fn overrides_win_over_the_schedule_until_they_end() {
        let mut settings = nightly("UTC");
        settings.awake_until = Some(at(2026, 12, 7, 22, 0));
        let p = plan(&settings, at(2026, 12, 7, 21, 0));
        assert!(!p.hibernating, "awake until 22:00 although the schedule sleeps from 20:00");
        assert_eq!(p.next_transition, Some(at(2026, 12, 7, 22, 0)));
        let mut settings = HibernationSettings { hibernate_until: Some(at(2026, 12, 9, 0, 0)), ..Default::default() };
        let p = plan(&settings, at(2026, 12, 7, 21, 0));
        assert!(p.hibernating);
        assert_eq!(p.next_transition, Some(at(2026, 12, 9, 0, 0)));
        settings.hibernate_until = None;
        assert_eq!(
            plan(&settings, at(2026, 12, 7, 21, 0)),
            Plan { hibernating: false, next_transition: None, due_at: None }
        );
    }

    #[test]
    fn a_transition_years_ahead_is_found_past_firings_that_change_nothing() {
        let now = at(2026, 12, 7, 12, 0);
        let every_minute = "0-59 0-23 1-31 1-12 0-7";
        // Hibernates on 29 February only (next: 2028), wakes every morning: awake until then.
        let leap = HibernationSettings {
            hibernate_at_cron: Some("0 0 29 2 *".into()),
            wake_at_cron: Some("0 8 * * *".into()),
            time_zone: Some("UTC".into()),
            ..HibernationSettings::default()
        };
        let p = plan(&leap, now);
        assert!(!p.hibernating);
        assert_eq!(p.next_transition, Some(at(2028, 2, 29, 0, 0)));
        assert_eq!(p.due_at, Some(at(2028, 2, 29, 0, 0)));
        // Hibernates every minute, wakes on 29 February: asleep now, awake at that minute (waking wins).
        let sleepy = HibernationSettings {
            hibernate_at_cron: Some(every_minute.into()),
            wake_at_cron: Some("0 0 29 2 *".into()),
            time_zone: Some("UTC".into()),
            ..HibernationSettings::default()
        };
        let p = plan(&sleepy, now);
        assert!(p.hibernating);
        assert_eq!(p.next_transition, Some(at(2028, 2, 29, 0, 0)));
        // An override in force hides the schedule until it ends.
        let held = HibernationSettings { awake_until: Some(at(2026, 12, 7, 12, 30)), ..sleepy };
        let p = plan(&held, now);
        assert!(!p.hibernating);
        assert_eq!(p.next_transition, Some(at(2026, 12, 7, 12, 30)));
    }

    #[test]
    fn validation_names_the_field() {
        let now = at(2026, 12, 7, 12, 0);
        let field = |input: HibernationInput, dev: bool| match input.validate(dev, now) {
            Err(ApiError::BadUserInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let schedule = |h: &str, w: &str, tz: Option<&str>| HibernationInput {
            hibernate_at_cron: Some(h.into()),
            wake_at_cron: Some(w.into()),
            time_zone: tz.map(str::to_owned),
            ..HibernationInput::default()
        };
        assert_eq!(field(schedule("0 20 * * *", "0 8 * * *", None), false), "hibernateAtCron");
        assert_eq!(field(schedule("0 25 * * *", "0 8 * * *", None), true), "hibernateAtCron");
        assert_eq!(field(schedule("0 20 * * *", "not cron", None), true), "wakeAtCron");
        assert_eq!(field(schedule("0 20 * * *", "0 0 30 2 *", None), true), "wakeAtCron");
        assert_eq!(field(schedule("0 20 * * *", "0 20 * * *", None), true), "wakeAtCron");
        assert_eq!(field(schedule("0 20 * * *", "0 8 * * *", Some("Mars/Olympus")), true), "hibernationTimeZone");
        assert_eq!(field(schedule("0 0 20 * * *", "0 8 * * *", None), true), "hibernateAtCron", "no seconds field");
        let ok = schedule(" 0 20 * * 1-5 ", "0 8 * * 1-5", None).validate(true, now).unwrap();
        assert_eq!(ok.time_zone.as_deref(), Some("UTC"));
        assert_eq!(ok.hibernate_at_cron.as_deref(), Some("0 20 * * 1-5"));
        let both = HibernationInput {
            hibernate_until: Some(at(2026, 12, 8, 0, 0)),
            awake_until: Some(at(2026, 12, 8, 0, 0)),
            ..HibernationInput::default()
        };
        assert_eq!(field(both, true), "awakeUntil");
        let past = HibernationInput { hibernate_until: Some(now), ..HibernationInput::default() };
        assert_eq!(field(past, true), "hibernateUntil");
        assert!(HibernationInput::default().validate(false, now).is_ok(), "clearing is always allowed");
    }
}
