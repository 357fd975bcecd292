//! How `create` shows its downloads, per kind of artifact (images, apt, pypi, …), and then the
//! bundle being written: a bar each on a terminal (indicatif), plain lines every few seconds
//! otherwise (CI logs), or JSON events on stderr with `--json` (stdout keeps the one summary
//! document).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::progress::{Meter, Progress};
use crate::term::bytes;

/// What is being counted: the downloads, or the bundle being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Fetch,
    Write,
}

impl Phase {
    /// (the line while it runs, the line at the end, the last event's name)
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Phase::Fetch => ("fetching", "fetched", "fetched"),
            Phase::Write => ("writing", "wrote", "written"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bars,
    Lines,
    Events,
}

impl Style {
    /// Events for `--json`, bars on a terminal, lines elsewhere.
    pub fn pick(json: bool) -> Style {
        match (json, std::io::stderr().is_terminal()) {
            (true, _) => Style::Events,
            (false, true) => Style::Bars,
            (false, false) => Style::Lines,
        }
    }
}

/// Seconds between plain lines or events: `BUNDLER_PROGRESS_SECONDS`, else 10 (lines) or 2
/// (events).
fn every(style: Style) -> Duration {
    let default = if style == Style::Events { 2.0 } else { 10.0 };
    let secs = std::env::var("BUNDLER_PROGRESS_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(default);
    Duration::from_secs_f64(secs)
}

struct Kind {
    name: &'static str,
    meter: Arc<Meter>,
    progress: Progress,
}

pub struct Report {
    phase: Phase,
    style: Style,
    kinds: Arc<Vec<Kind>>,
    _lines: Option<MultiProgress>,
    ticker: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// One JSON event on stderr, a line each.
pub fn event(v: serde_json::Value) {
    eprintln!("{v}");
}

impl Report {
    /// A meter for each (kind, total bytes) with something to count.
    pub fn start(phase: Phase, totals: Vec<(&'static str, u64)>, style: Style) -> Report {
        let lines = (style == Style::Bars).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let kinds: Vec<Kind> = totals
            .into_iter()
            .filter(|(_, total)| *total > 0)
            .map(|(name, total)| {
                let meter = Meter::new(total);
                Kind { name, progress: Progress::metered(name, meter.clone(), lines.as_ref()), meter }
            })
            .collect();
        let kinds = Arc::new(kinds);
        let ticker = (style != Style::Bars && !kinds.is_empty()).then(|| {
            let (stop, mut stopped) = tokio::sync::oneshot::channel();
            let (kinds, every) = (kinds.clone(), every(style));
            let task = tokio::spawn(async move {
                let start = Instant::now();
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(every) => say(&kinds, phase, style, start.elapsed(), false),
                    }
                }
            });
            (stop, task)
        });
        Report { phase, style, kinds, _lines: lines, ticker }
    }

    /// The progress a kind's downloads count into (hidden for a kind with nothing to fetch).
    pub fn progress(&self, kind: &str) -> Progress {
        self.kinds.iter().find(|k| k.name == kind).map(|k| k.progress.clone()).unwrap_or_else(Progress::hidden)
    }

    /// Stop reporting: bars cleared, a last line or event per kind.
    pub async fn finish(self, elapsed: Duration) {
        for k in self.kinds.iter() {
            k.progress.finish();
        }
        if let Some((stop, task)) = self.ticker {
            let _ = stop.send(());
            let _ = task.await;
            say(&self.kinds, self.phase, self.style, elapsed, true);
        }
    }
}

fn say(kinds: &[Kind], phase: Phase, style: Style, elapsed: Duration, last: bool) {
    let (running, ended, event_name) = phase.words();
    for k in kinds {
        let (done, total) = (k.meter.done().min(k.meter.total()), k.meter.total());
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        match style {
            Style::Events => event(serde_json::json!({
                "event": if last { event_name } else { "progress" },
                "kind": k.name,
                "done": done,
                "total": total,
                "bytes_per_second": rate as u64,
            })),
            _ => {
                let pct = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
                let eta = if rate > 0.0 && done < total { format!(", eta {}s", ((total - done) as f64 / rate).ceil() as u64) } else { String::new() };
                eprintln!("{} {}: {} of {} ({pct:.0}%), {}/s{eta}", if last { ended } else { running }, k.name, bytes(done), bytes(total), bytes(rate as u64));
            }
        }
    }
}
