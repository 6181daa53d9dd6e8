//! The id of the request a task serves, for the `request_id` field of log lines written on its behalf
//! (docs/operations.md, "Request logs": every line about a request names it).
//!
//! The router's edge middleware runs each request's service inside [`serving`]; [`Lines`], the log's
//! line format, adds the id to every line written below it that does not name a `request_id` itself
//! (capcom's own lines, its SQL statements at TRACE, the libraries' lines). A task the request spawns does
//! not inherit it: whoever spawns one takes the id along. (A tracing span per request carried the id
//! before; creating it, and entering and leaving it on every poll of the request's future, cost a few
//! per cent of a small request's CPU: bench/README.md, "Results, part 6".)

use std::future::Future;
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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

/// The log's line format: `inner` (tracing-subscriber's text or JSON format), with the `request_id` of
/// the request being served added to each line that has none of its own. Text lines end with
/// ` request_id=<id>`; JSON lines get it first under `fields`. (The id is a generated UUID or a client's
/// id of at most 128 plain characters, `crate::http::router`; it is JSON-escaped all the same.)
pub struct Lines<F> {
    inner: F,
    json: bool,
}

impl<F> Lines<F> {
    /// Text lines formatted by `inner`.
    pub fn text(inner: F) -> Lines<F> {
        Lines { inner, json: false }
    }

    /// JSON lines formatted by `inner` (with JSON fields).
    pub fn json(inner: F) -> Lines<F> {
        Lines { inner, json: true }
    }
}

impl<S, N, F> FormatEvent<S, N> for Lines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        // A line naming its request itself (the request line) is written as it is, without looking up the id.
        if event.metadata().fields().field("request_id").is_some() {
            return self.inner.format_event(ctx, writer, event);
        }
        let id = current();
        if id.is_empty() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_id(line, &id, self.json))
    }
}

/// `line` (one formatted line, ending in a newline) with `request_id` `id` added.
fn with_id(mut line: String, id: &str, json: bool) -> String {
    if json {
        // tracing-subscriber's JSON line starts `{"timestamp":…,"level":…,"fields":{`; nothing before
        // `fields` is free text.
        const FIELDS: &str = "\"fields\":{";
        let quoted = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
        if let Some(at) = line.find(FIELDS).map(|at| at + FIELDS.len()) {
            let separator = if line[at..].starts_with('}') { "" } else { "," };
            line.insert_str(at, &format!("\"request_id\":{quoted}{separator}"));
        }
        return line;
    }
    let end = line.trim_end_matches('\n').len();
    line.insert_str(end, &format!(" request_id={id}"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_get_the_id_where_their_format_keeps_fields() {
        assert_eq!(
            with_id("2026 INFO capcom::sql: statement query=SELECT 1\n".into(), "r-1", false),
            "2026 INFO capcom::sql: statement query=SELECT 1 request_id=r-1\n"
        );
        let json = r#"{"timestamp":"t","level":"INFO","fields":{"message":"m"},"target":"x"}"#.to_owned() + "\n";
        let with = with_id(json, "r\"1", true);
        let parsed: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(parsed["fields"]["request_id"], "r\"1");
        assert_eq!(parsed["fields"]["message"], "m");
        let empty = with_id(r#"{"timestamp":"t","level":"INFO","fields":{},"target":"x"}"#.to_owned(), "r", true);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&empty).unwrap()["fields"]["request_id"], "r");
    }

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
