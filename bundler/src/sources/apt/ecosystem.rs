//! apt as an ecosystem: the `apt:` section, its closure in the lock (`apt_request`, `deb`).

use super::{AptError, AptSource, Loaded};
use crate::ecosystems::{Checked, Context, Ecosystem};
use crate::format::lock::{DebLock, LockFile};
use crate::format::Digest;
use crate::manifest::{AptSpec, Manifest};
use crate::progress::Progress;
use crate::sources::Fetched;

impl Ecosystem for AptSource {
    const SECTION: &'static str = "apt";
    const NOT_LOCKED: &'static str = "the manifest's apt: section changed since the lock was written (or the lock has no debs)";
    type Spec = AptSpec;
    type Lock = DebLock;
    type Loaded = Loaded;
    type Error = AptError;

    fn new(ctx: &Context) -> Self {
        AptSource::new(ctx.cache.clone())
    }

    fn specs(m: &Manifest) -> &[AptSpec] {
        &m.apt
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[DebLock]) {
        (lock.apt_request.as_ref(), &lock.debs)
    }

    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<DebLock>) {
        (lock.apt_request, lock.debs) = (request, entries);
    }

    // The archives' verified indexes are read on every run: bundling the debs needs them again.
    async fn load(&self, m: &Manifest) -> Result<Loaded, AptError> {
        tracing::info!("reading {} apt source(s)", m.apt.len());
        AptSource::load(self, &m.apt).await
    }

    async fn resolve(&self, m: &Manifest, loaded: &Loaded) -> Result<Vec<DebLock>, AptError> {
        AptSource::resolve(self, loaded, &m.apt)
    }

    /// A section with no packages (indexes only) has no debs to lock.
    fn complete(m: &Manifest, entries: &[DebLock]) -> bool {
        !entries.is_empty() || !m.apt.iter().any(|s| !s.packages.is_empty())
    }

    fn drifted(&self, m: &Manifest, loaded: &Loaded, entries: &[DebLock]) -> Option<AptError> {
        AptSource::drifted(self, loaded, &m.apt, entries)
    }

    fn carried(m: &Manifest, _entries: &[DebLock]) -> bool {
        !m.apt.is_empty()
    }

    async fn fetch(&self, m: &Manifest, loaded: &Loaded, entries: &[DebLock], progress: &Progress) -> Result<Fetched, Vec<AptError>> {
        AptSource::fetch(self, loaded, &m.apt, entries, progress).await
    }

    fn pinned(e: &DebLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[DebLock]) -> Vec<String> {
        if entries.is_empty() {
            return Vec::new();
        }
        let bytes: u64 = entries.iter().map(|d| d.size).sum();
        vec![format!("locked {} debs ({bytes} bytes) for the apt closure", entries.len())]
    }

    fn check(m: &Manifest, out: &mut Checked) -> Result<(), String> {
        let packages: usize = m.apt.iter().map(|a| a.packages.len()).sum();
        out.counts.extend([("apt_sources", m.apt.len()), ("apt_packages", packages)]);
        out.contents.push(("apt_packages", m.apt.iter().flat_map(|a| a.packages.iter().map(move |p| format!("{}: {p}", a.id))).collect()));
        out.summary.push(format!("{packages} apt package(s) from {} source(s)", m.apt.len()));
        for a in &m.apt {
            if let Some(k) = &a.keyring {
                if !k.is_file() {
                    return Err(format!(
                        "{} line {}: apt source {}: keyring {} does not exist; fetch the vendor's key first (scripts/fetch-key.sh checks its fingerprint)",
                        a.file,
                        a.line,
                        a.id,
                        k.display()
                    ));
                }
            }
        }
        Ok(())
    }
}
