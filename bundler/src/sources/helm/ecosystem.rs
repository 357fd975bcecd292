//! Helm as an ecosystem: the `charts:` section, its charts in the lock (`helm_request`, `chart`),
//! and the images charts with `add_images: true` add to the manifest's.

use super::{HelmError, HelmSource, IMAGES_ANNOTATION};
use crate::ecosystems::{Checked, Context, Ecosystem};
use crate::format::lock::{ChartLock, LockFile};
use crate::format::oci::Descriptor;
use crate::format::Digest;
use crate::manifest::{ChartOrigin, ChartSpec, ImageOrigin, ImageSpec, Manifest};
use crate::progress::Progress;
use crate::sources::Fetched;

impl Ecosystem for HelmSource {
    const SECTION: &'static str = "charts";
    const NOT_LOCKED: &'static str = "the manifest's charts: section changed since the lock was written";
    const BEFORE_IMAGES: bool = true;
    type Spec = ChartSpec;
    type Lock = ChartLock;
    type Loaded = ();
    type Error = HelmError;

    fn new(ctx: &Context) -> Self {
        HelmSource::new(ctx.cache.clone(), ctx.images.clone())
    }

    fn specs(m: &Manifest) -> &[ChartSpec] {
        &m.charts
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[ChartLock]) {
        (lock.helm_request.as_ref(), &lock.charts)
    }

    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<ChartLock>) {
        (lock.helm_request, lock.charts) = (request, entries);
    }

    async fn load(&self, _m: &Manifest) -> Result<(), HelmError> {
        Ok(())
    }

    async fn resolve(&self, m: &Manifest, _loaded: &()) -> Result<Vec<ChartLock>, HelmError> {
        tracing::info!("resolving {} chart(s)", m.charts.len());
        self.lock(&m.charts, &m.platforms).await
    }

    async fn fetch(&self, m: &Manifest, _loaded: &(), entries: &[ChartLock], progress: &Progress) -> Result<Fetched, Vec<HelmError>> {
        HelmSource::fetch(self, entries, &m.platforms, progress).await
    }

    fn pinned(e: &ChartLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[ChartLock]) -> Vec<String> {
        let mut out = Vec::new();
        for c in entries {
            let from = c.dependency_of.as_ref().map(|p| format!(", dependency of {p}")).unwrap_or_default();
            out.push(format!("locked chart {} {} -> {} ({} bytes{from})", c.name, c.version, c.sha256, c.size));
            if !c.images.is_empty() {
                out.push(format!("  images it references: {}", c.images.join(" ")));
            }
        }
        out
    }

    fn check(m: &Manifest, out: &mut Checked) -> Result<(), String> {
        out.counts.push(("charts", m.charts.len()));
        out.contents.push(("charts", m.charts.iter().map(|c| format!("{} {}", c.name, c.version.as_deref().unwrap_or("(newest)"))).collect()));
        out.summary.push(format!("{} chart(s)", m.charts.len()));
        for c in &m.charts {
            let exact = c.version.as_deref().is_some_and(|v| !v.is_empty() && !v.contains(|ch: char| "^~*<>=|, ".contains(ch) || ch == 'x' || ch == 'X'));
            if !exact {
                let from = match &c.origin {
                    ChartOrigin::Repo(r) => r.clone(),
                    ChartOrigin::Oci(r) => r.clone(),
                };
                out.unpinned.push(format!("{} line {}: chart {} ({from}) has no exact version", c.file, c.line, c.name));
            }
        }
        Ok(())
    }

    fn referenced_images(d: &Descriptor) -> Option<Vec<String>> {
        d.annotations.get(IMAGES_ANNOTATION).map(|v| v.split(',').map(str::to_string).collect())
    }

    fn add_images(m: &mut Manifest, lock: &LockFile) {
        let extra = chart_images(m, &lock.charts);
        m.images.extend(extra);
    }
}

/// Images found in charts whose manifest entry says `add_images: true` (dependencies count
/// as part of the chart that pulled them in), as image specs with the manifest's platforms.
fn chart_images(manifest: &Manifest, charts: &[ChartLock]) -> Vec<ImageSpec> {
    let root = |c: &ChartLock| {
        let mut cur = c;
        for _ in 0..16 {
            match cur.dependency_of.as_ref().and_then(|p| charts.iter().find(|x| format!("{}-{}", x.name, x.version) == *p)) {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        cur.name.clone()
    };
    let mut out: Vec<ImageSpec> = Vec::new();
    for c in charts {
        let root = root(c);
        if !manifest.charts.iter().any(|s| s.name == root && s.add_images) {
            continue;
        }
        for i in &c.images {
            let Ok(reference) = crate::reference::ImageRef::parse(i) else { continue };
            let name = reference.to_string();
            if manifest.images.iter().chain(&out).any(|s| s.reference.to_string() == name) {
                continue;
            }
            out.push(ImageSpec {
                reference,
                platforms: manifest.platforms.clone(),
                signatures: false,
                origin: ImageOrigin::Registry,
                layout_ref: None,
                origin_label: None,
                file: format!("chart {}-{}", c.name, c.version),
                line: 0,
            });
        }
    }
    out
}
