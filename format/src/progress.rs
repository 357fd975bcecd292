//! Progress on a terminal (indicatif), silence otherwise, so logs and `--json` stay clean; or
//! counted into a `Meter` that a caller reports from (plain lines in CI logs, JSON events).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Cloning shares the bar (a reader can own one).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    meter: Option<Arc<Meter>>,
}

/// Bytes done of a known total, shared between the work and whoever reports it.
#[derive(Debug, Default)]
pub struct Meter {
    done: AtomicU64,
    total: AtomicU64,
}

impl Meter {
    pub fn new(total: u64) -> Arc<Meter> {
        Arc::new(Meter { done: AtomicU64::new(0), total: AtomicU64::new(total) })
    }
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

const BYTES_TEMPLATE: &str = "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

impl Progress {
    /// A byte-counting bar on stderr when it is a terminal and not disabled.
    pub fn bytes(message: &str, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(BYTES_TEMPLATE).expect("valid template").progress_chars("=> "));
        bar.set_message(message.to_string());
        Progress { bar: Some(bar), meter: None }
    }
    /// One line of `lines` (a bar per kind on a terminal, `None` elsewhere) counting into
    /// `meter`, whose total is fixed: `add_total` leaves it be.
    pub fn metered(message: &str, meter: Arc<Meter>, lines: Option<&MultiProgress>) -> Progress {
        let bar = lines.map(|m| {
            let bar = m.add(ProgressBar::new(meter.total()));
            bar.set_style(ProgressStyle::with_template(BYTES_TEMPLATE).expect("valid template").progress_chars("=> "));
            bar.set_message(message.to_string());
            bar
        });
        Progress { bar, meter: Some(meter) }
    }
    /// A bar counting items (blobs, files) on stderr when it is a terminal and not disabled.
    pub fn count(message: &str, total: u64, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template").progress_chars("=> "));
        bar.set_message(message.to_string());
        Progress { bar: Some(bar), meter: None }
    }
    pub fn hidden() -> Progress {
        Progress { bar: None, meter: None }
    }
    pub fn add_total(&self, n: u64) {
        if let (Some(b), None) = (&self.bar, &self.meter) {
            b.inc_length(n);
        }
    }
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(m) = &self.meter {
            m.done.fetch_add(n, Ordering::Relaxed);
        }
    }
    pub fn set_message(&self, m: &str) {
        if let Some(b) = &self.bar {
            b.set_message(m.to_string());
        }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A reader that advances `progress` by the bytes read through it.
pub struct Reading<R> {
    pub inner: R,
    pub progress: Progress,
}

impl<R: std::io::Read> std::io::Read for Reading<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
