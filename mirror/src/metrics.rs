//! `/metrics`: what the server did since it started (requests, imports, pushes, deletes, gc,
//! renders) and what the store holds now, in Prometheus text format (0.0.4), encoded by
//! prometheus-client. One process-wide set: the routes, the control socket and the renders all
//! count into it. Store figures are read from the store's counters at each scrape (a few keys,
//! whatever the store's size).

use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::routes::AppState;
use crate::store::{Store, StoreError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Which protocol: `oci`, an ecosystem's name (its routes live under `/<name>/`), or
    /// `mirror` for the mirror's own pages (`/`, `/healthz`, `/metrics`, `/token`, …).
    pub family: &'static str,
    /// `2xx` … `5xx`.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabel {
    pub family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ImportLabels {
    /// `imported`, `unchanged` (the same bundle again) or `refused`.
    pub result: &'static str,
    /// Why a refused import was refused (`ImportError::reason`); empty otherwise.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EcosystemLabel {
    pub ecosystem: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to ~65 s: a manifest GET and a whole-suite render on one scale.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    response_bytes: Family<FamilyLabel, Counter>,
    latency: Histograms<FamilyLabel>,
    in_flight: Gauge,
    imports: Family<ImportLabels, Counter>,
    import_bytes: Counter,
    import_seconds: Histogram,
    pushes: Family<KindLabel, Counter>,
    deletes: Family<KindLabel, Counter>,
    gc_runs: Counter,
    gc_freed: Counter,
    renders: Family<EcosystemLabel, Counter>,
    render_seconds: Histograms<EcosystemLabel>,
    store_bytes: Gauge,
    store_blobs: Gauge,
    store_generation: Gauge,
    artifacts: Family<EcosystemLabel, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("mirror"),
            requests: Family::default(),
            response_bytes: Family::default(),
            latency: Family::new_with_constructor(seconds),
            in_flight: Gauge::default(),
            imports: Family::default(),
            import_bytes: Counter::default(),
            import_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            pushes: Family::default(),
            deletes: Family::default(),
            gc_runs: Counter::default(),
            gc_freed: Counter::default(),
            renders: Family::default(),
            render_seconds: Family::new_with_constructor(seconds),
            store_bytes: Gauge::default(),
            store_blobs: Gauge::default(),
            store_generation: Gauge::default(),
            artifacts: Family::default(),
        };
        let r = &mut m.registry;
        r.register("http_requests", "HTTP requests answered, by route family and status class", m.requests.clone());
        r.register_with_unit("http_response", "Response body bytes sent, by route family", Unit::Bytes, m.response_bytes.clone());
        r.register_with_unit("http_request_duration", "Time from request to response headers, by route family", Unit::Seconds, m.latency.clone());
        r.register("http_requests_in_flight", "Requests whose response has not been sent whole", m.in_flight.clone());
        r.register("imports", "Bundle imports through this server, by result and refusal reason", m.imports.clone());
        r.register_with_unit("import", "Bytes of new blobs written by imports", Unit::Bytes, m.import_bytes.clone());
        r.register_with_unit("import_duration", "Time an import through this server took", Unit::Seconds, m.import_seconds.clone());
        r.register("pushes", "OCI pushes stored (kind: blob, manifest)", m.pushes.clone());
        r.register("deletes", "OCI deletes applied (kind: tag, manifest)", m.deletes.clone());
        r.register("gc_runs", "gc runs through this server (dry runs included)", m.gc_runs.clone());
        r.register_with_unit("gc_freed", "Bytes of blobs gc deleted", Unit::Bytes, m.gc_freed.clone());
        r.register("renders", "Index renders (apt suites, PyPI pages), by ecosystem", m.renders.clone());
        r.register_with_unit("render_duration", "Time an index render took, by ecosystem", Unit::Seconds, m.render_seconds.clone());
        r.register_with_unit("store_blob", "Bytes of the blobs the store lists", Unit::Bytes, m.store_bytes.clone());
        r.register("store_blobs", "Blobs the store lists", m.store_blobs.clone());
        r.register("store_generation", "The store generation (moves with every write)", m.store_generation.clone());
        r.register("artifacts", "Artifacts held, by ecosystem (oci: tags)", m.artifacts.clone());
        r.register("build", "The mirror's version", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
        m
    }

    /// The text a scrape gets, with the store figures read now.
    pub fn encode(&self, store: &Store) -> Result<String, StoreError> {
        let (generation, counts) = store.counts()?;
        self.store_generation.set(gauge(generation));
        self.store_blobs.set(gauge(counts.keys.blobs));
        self.store_bytes.set(gauge(counts.blob_bytes));
        self.artifacts.get_or_create(&EcosystemLabel { ecosystem: "oci" }).set(gauge(counts.keys.tags));
        for (ecosystem, n) in crate::ecosystems::artifacts(&counts) {
            self.artifacts.get_or_create(&EcosystemLabel { ecosystem }).set(gauge(n));
        }
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).expect("writing to a String does not fail");
        Ok(out)
    }

    /// An import through this server ended: `Ok(true)` imported, `Ok(false)` already there.
    pub fn import(&self, result: Result<bool, &'static str>, bytes: u64, took: Duration) {
        let labels = match result {
            Ok(true) => ImportLabels { result: "imported", reason: "" },
            Ok(false) => ImportLabels { result: "unchanged", reason: "" },
            Err(reason) => ImportLabels { result: "refused", reason },
        };
        self.imports.get_or_create(&labels).inc();
        self.import_bytes.inc_by(bytes);
        self.import_seconds.observe(took.as_secs_f64());
    }

    /// `kind`: `blob` or `manifest`.
    pub fn pushed(&self, kind: &'static str) {
        self.pushes.get_or_create(&KindLabel { kind }).inc();
    }

    /// `kind`: `tag` or `manifest`.
    pub fn deleted(&self, kind: &'static str) {
        self.deletes.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn gc(&self, freed: u64) {
        self.gc_runs.inc();
        self.gc_freed.inc_by(freed);
    }

    pub fn rendered(&self, ecosystem: &'static str, took: Duration) {
        self.renders.get_or_create(&EcosystemLabel { ecosystem }).inc();
        self.render_seconds.get_or_create(&EcosystemLabel { ecosystem }).observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The route family of a request path: its first segment when that names an ecosystem (each
/// serves under `/<name>/`), `oci` for `/v2/…`, `mirror` for the rest. A fixed set: a label
/// never takes a client's text.
pub fn family(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if first == "v2" {
        return "oci";
    }
    crate::ecosystems::NAMES.iter().find(|n| **n == first).copied().unwrap_or("mirror")
}

fn class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// `GET /metrics`.
pub async fn scrape(State(st): State<AppState>) -> Response {
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || metrics().encode(&store)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE))], text).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("reading the store's counters: {e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Counts every request: latency to the response headers, status class, and the body's bytes
/// as they are sent (a blob's whole stream); in flight until its body ends or is dropped.
pub async fn track(req: Request, next: Next) -> Response {
    let m = metrics();
    let family = family(req.uri().path());
    // Held from here: a request dropped before its response (the client gone) leaves too.
    let flight = InFlight::enter();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.latency.get_or_create(&FamilyLabel { family }).observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { family, class: class(resp.status()) }).inc();
    let bytes = m.response_bytes.get_or_create(&FamilyLabel { family }).clone();
    resp.map(|body| Body::new(Counted { inner: body, bytes, _flight: flight }))
}

/// One request in the in-flight gauge, from `enter` until dropped (its response body done
/// with, or the request abandoned).
struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        metrics().in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics().in_flight.dec();
    }
}

/// A response body that adds the bytes of each frame it yields to a counter.
struct Counted {
    inner: Body,
    bytes: Counter,
    _flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes.inc_by(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_a_fixed_set() {
        assert_eq!(family("/v2/library/x/manifests/1"), "oci");
        assert_eq!(family("/v2/"), "oci");
        assert_eq!(family("/"), "mirror");
        assert_eq!(family("/metrics"), "mirror");
        assert_eq!(family("/no-such/thing"), "mirror");
        for name in crate::ecosystems::NAMES {
            assert_eq!(family(&format!("/{name}/x")), *name);
        }
    }

    /// The text is Prometheus's 0.0.4 format with every family declared, store figures
    /// included.
    #[test]
    fn a_scrape_declares_every_family() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = Metrics::new();
        m.import(Err("signature"), 0, Duration::from_millis(3));
        m.pushed("blob");
        m.rendered("pypi", Duration::from_millis(2));
        let text = m.encode(&store).unwrap();
        for line in [
            "# TYPE mirror_imports_total counter",
            "mirror_imports_total{result=\"refused\",reason=\"signature\"} 1",
            "mirror_pushes_total{kind=\"blob\"} 1",
            "mirror_renders_total{ecosystem=\"pypi\"} 1",
            "mirror_store_generation 0",
            "mirror_artifacts{ecosystem=\"oci\"} 0",
            "mirror_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }

    /// Body bytes are counted as the body is sent.
    #[tokio::test]
    async fn a_body_counts_its_bytes() {
        let bytes = Counter::default();
        let body = Body::new(Counted { inner: Body::from("twelve bytes"), bytes: bytes.clone(), _flight: InFlight::enter() });
        assert_eq!(axum::body::to_bytes(body, 64).await.unwrap().len(), 12);
        assert_eq!(bytes.get(), 12);
    }
}
