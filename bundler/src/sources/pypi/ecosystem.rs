//! PyPI as an ecosystem: the `pypi:` section, its wheel set in the lock (`pypi_request`, `wheel`).

use super::{PypiError, PypiSource};
use crate::ecosystems::{Checked, Context, Ecosystem};
use crate::format::lock::{LockFile, WheelLock};
use crate::format::Digest;
use crate::manifest::{Manifest, PypiSpec};
use crate::progress::Progress;
use crate::sources::Fetched;

impl Ecosystem for PypiSource {
    const SECTION: &'static str = "pypi";
    const NOT_LOCKED: &'static str = "the manifest's pypi: section changed since the lock was written (or the lock has no wheels)";
    type Spec = PypiSpec;
    type Lock = WheelLock;
    type Loaded = ();
    type Error = PypiError;

    fn new(ctx: &Context) -> Self {
        PypiSource::new(ctx.cache.clone())
    }

    fn specs(m: &Manifest) -> &[PypiSpec] {
        &m.pypi
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[WheelLock]) {
        (lock.pypi_request.as_ref(), &lock.wheels)
    }

    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<WheelLock>) {
        (lock.pypi_request, lock.wheels) = (request, entries);
    }

    async fn load(&self, _m: &Manifest) -> Result<(), PypiError> {
        Ok(())
    }

    async fn resolve(&self, m: &Manifest, _loaded: &()) -> Result<Vec<WheelLock>, PypiError> {
        tracing::info!("resolving {} pypi requirement set(s)", m.pypi.len());
        PypiSource::resolve(self, &m.pypi).await
    }

    async fn fetch(&self, _m: &Manifest, _loaded: &(), entries: &[WheelLock], progress: &Progress) -> Result<Fetched, Vec<PypiError>> {
        PypiSource::fetch(self, entries, progress).await
    }

    fn pinned(e: &WheelLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[WheelLock]) -> Vec<String> {
        if entries.is_empty() {
            return Vec::new();
        }
        let bytes: u64 = entries.iter().map(|w| w.size).sum();
        vec![format!("locked {} python files ({bytes} bytes) for the pypi requirements", entries.len())]
    }

    fn check(m: &Manifest, out: &mut Checked) -> Result<(), String> {
        let requirements: usize = m.pypi.iter().map(|p| p.requirements.len()).sum();
        out.counts.extend([("pypi_sets", m.pypi.len()), ("pypi_requirements", requirements)]);
        out.contents.push(("pypi_requirements", m.pypi.iter().flat_map(|p| p.requirements.clone()).collect()));
        out.summary.push(format!("{requirements} requirement(s) in {} pypi set(s)", m.pypi.len()));
        for p in &m.pypi {
            for r in &p.requirements {
                let Ok(req) = super::parse_requirement(r) else { continue };
                // `==1.2.*` floats; a hash-checked line is pinned by its hashes.
                let exact = match &req.version_or_url {
                    Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.iter().any(|v| matches!(v.operator(), pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual)),
                    Some(pep508_rs::VersionOrUrl::Url(_)) => true,
                    None => false,
                };
                if !exact && !p.hashes.contains_key(&crate::format::pypi::normalize(req.name.as_ref())) {
                    out.unpinned.push(format!("{} line {}: requirement {r:?} is not pinned with ==", p.file, p.line));
                }
            }
        }
        Ok(())
    }
}
