//! Logging for the agent and the supervisor: `tracing` events into the workspace's `agent.log`.
//!
//! Theory of operation:
//! - The agent installs one global subscriber at the start of its process ([`init`]), before it
//!   forks; the supervisor, forked from it, inherits the subscriber and writes the same file.
//!   The subscriber starts no thread, so forking stays sound.
//! - Each line reads `<UTC time> <LEVEL> <process>[<pid>] <module>: <message>`, so the two
//!   processes' lines can be told apart in the one file.
//! - `BATCHAI_LOG` sets the level (`error`, `warn`, `info` (the default), `debug`, `trace`,
//!   `off`). An unknown value logs at `info` and says so in the log.
//! - The file is capped: past [`MAX_BYTES`] it becomes `agent.log.1` (and the previous `.1`
//!   becomes `.2`; [`KEEP`] old files are kept), see `rotating`.
//! - Writing never fails loudly: a lost log line is better than an agent that died of a full disk.
//! - A panic is logged as an error before the process unwinds or aborts, since the process's own
//!   stderr may point at a file that was rotated away.
//!
//! Without [`init`] (library use, tests) events go to the `log` crate, as `tracing` does by
//! default.

mod rotating;

use std::fmt;
use std::path::Path;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub use rotating::{RotatingFile, rotated};

/// Size at which the log file is rotated.
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// How many rotated files are kept (`agent.log.1`, `agent.log.2`).
pub const KEEP: usize = 2;

/// The environment variable that sets the level.
pub const LEVEL_VAR: &str = "BATCHAI_LOG";

/// Log to `path` from now on, for this process and the processes it forks; the file is
/// (re)created only while `anchor` exists. A second call does nothing (the first subscriber
/// stays).
pub fn init(path: &Path, anchor: &Path) {
    let setting = std::env::var(LEVEL_VAR).ok();
    let (level, unknown) = parse_level(setting.as_deref());
    let subscriber = subscriber(RotatingFile::new(path, MAX_BYTES, KEEP).anchored_to(anchor), level);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    if let Some(value) = unknown {
        tracing::warn!(
            "{LEVEL_VAR}={value:?} is not a level (error, warn, info, debug, trace or off); logging at info"
        );
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// A subscriber writing lines of [`LineFormat`] at `level` and above to `file`.
pub fn subscriber(file: RotatingFile, level: LevelFilter) -> impl Subscriber + Send + Sync + 'static {
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(file)
        // The writer swallows its errors; this stops the formatter from reporting them on stderr
        // (which panics when stderr cannot be written either). Set before `event_format`, which
        // keeps it.
        .log_internal_errors(false)
        .event_format(LineFormat)
        .finish()
}

/// The level `BATCHAI_LOG` asks for: unset or empty is `info`; an unknown value is `info` too,
/// and is returned so it can be reported.
pub fn parse_level(value: Option<&str>) -> (LevelFilter, Option<String>) {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (LevelFilter::INFO, None);
    };
    match value.to_ascii_lowercase().as_str() {
        "off" => (LevelFilter::OFF, None),
        "error" => (LevelFilter::ERROR, None),
        "warn" | "warning" => (LevelFilter::WARN, None),
        "info" => (LevelFilter::INFO, None),
        "debug" => (LevelFilter::DEBUG, None),
        "trace" => (LevelFilter::TRACE, None),
        _ => (LevelFilter::INFO, Some(value.to_string())),
    }
}

/// `2026-12-01T21:08:03.123Z INFO  agent[4242] daemon: message key=value`.
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let target = meta.target();
        let process = if target.contains("::launcher") { "supervisor" } else { "agent" };
        let module = target.rsplit("::").next().unwrap_or(target);
        write!(
            writer,
            "{} {:<5} {process}[{}] {module}: ",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            level_name(*meta.level()),
            std::process::id(),
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

#[cfg(test)]
mod tests;
