//! The bundler's ecosystem trait and the registry every command loops over. An ecosystem is a
//! type that knows its manifest section, resolves it to lock entries, tells when the lock
//! drifted, and fetches into the bundle; `plan`, `lock`, `create`, `check` and `inspect` loop
//! over the list in `sources/mod.rs` (`sources::list`), where each is named once.
//! Images stay explicit in `plan.rs`: their lock entries are reused one by one, and charts add
//! to them (`Ecosystem::add_images`), so charts are resolved before them.

use std::cell::OnceCell;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde::Serialize;

use crate::cache::BlobCache;
use crate::format::lock::LockFile;
use crate::format::oci::Descriptor;
use crate::format::Digest;
use crate::manifest::Manifest;
use crate::plan::PlanError;
use crate::progress::Progress;
use crate::sources::oci::ImageSource;
use crate::sources::Fetched;

/// What an ecosystem's source is built from.
pub struct Context {
    pub cache: Arc<BlobCache>,
    /// Shared with ecosystems that pull OCI artifacts (charts from OCI registries).
    pub images: Arc<ImageSource>,
}

/// Whether lock entries may be reused (`locked`: they must be) or are resolved again (`refresh`).
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub locked: bool,
    pub refresh: bool,
}

/// What `bundler check` reports, filled by each section.
#[derive(Debug, Default)]
pub struct Checked {
    /// Top-level counts (`apt_packages`, …), as `check --json` prints them.
    pub counts: Vec<(&'static str, usize)>,
    /// What the manifests name, as written, by kind.
    pub contents: Vec<(&'static str, Vec<String>)>,
    /// Entries that float.
    pub unpinned: Vec<String>,
    /// Files pinned by what `lock` downloads.
    pub first_use: Vec<String>,
    /// Parts of the one-line summary (`2 chart(s)`).
    pub summary: Vec<String>,
}

/// One ecosystem. Its source type implements it; the section-wide reuse rule is the default.
// Awaited in place by the commands, never spawned: no `Send` bound on the futures is wanted.
#[allow(async_fn_in_trait)]
pub trait Ecosystem: Sized + 'static {
    /// The manifest section (`charts`, `files`, …).
    const SECTION: &'static str;
    /// Why `--locked` refuses when the section's lock entries no longer answer it.
    const NOT_LOCKED: &'static str;
    /// Resolved before images, because its lock adds images to the manifest.
    const BEFORE_IMAGES: bool = false;
    type Spec: Serialize;
    type Lock: Clone;
    /// What resolving read that fetching needs again (verified indexes), `()` if nothing.
    type Loaded;
    type Error: std::error::Error + Send + Sync + 'static;

    fn new(ctx: &Context) -> Self;
    fn specs(m: &Manifest) -> &[Self::Spec];
    /// The lock's request digest for the section (if it keeps one) and its entries.
    fn locked(lock: &LockFile) -> (Option<&Digest>, &[Self::Lock]);
    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<Self::Lock>);
    /// Read what every run needs (indexes), for a non-empty section.
    async fn load(&self, m: &Manifest) -> Result<Self::Loaded, Self::Error>;
    async fn resolve(&self, m: &Manifest, loaded: &Self::Loaded) -> Result<Vec<Self::Lock>, Self::Error>;
    /// Fetch what `entries` pin; one that fails does not stop the others: every error is kept.
    async fn fetch(&self, m: &Manifest, loaded: &Self::Loaded, entries: &[Self::Lock], progress: &Progress) -> Result<Fetched, Vec<Self::Error>>;
    /// The file an entry pins, as fetching downloads it (digest, size): what `create` plans,
    /// checks disk space for and shows progress against.
    fn pinned(entry: &Self::Lock) -> (&Digest, u64);
    /// `bundler lock`'s lines for the entries.
    fn describe(entries: &[Self::Lock]) -> Vec<String>;
    /// `bundler check`: counts, contents, unpinned entries; an error for what is wrong offline.
    fn check(m: &Manifest, out: &mut Checked) -> Result<(), String>;

    /// Whether reused entries still answer the section (beyond an unchanged request digest).
    fn complete(_m: &Manifest, entries: &[Self::Lock]) -> bool {
        !entries.is_empty()
    }
    /// Reused entries the upstream no longer serves (an archive that moved on).
    fn drifted(&self, _m: &Manifest, _loaded: &Self::Loaded, _entries: &[Self::Lock]) -> Option<Self::Error> {
        None
    }
    /// Whether a bundle carries something for the section.
    fn carried(_m: &Manifest, entries: &[Self::Lock]) -> bool {
        !entries.is_empty()
    }
    /// Images a bundle entry says it references (`bundler inspect`).
    fn referenced_images(_d: &Descriptor) -> Option<Vec<String>> {
        None
    }
    /// Charts: add the images their lock entries reference to the manifest's.
    fn add_images(_m: &mut Manifest, _lock: &LockFile) {}

    /// The section-wide rule: the entries are one answer to the whole section, reused while
    /// its request digest is unchanged; under `--locked` anything else is refused.
    async fn plan(&self, m: &Manifest, prior: Option<&LockFile>, mode: Mode, loaded: &Self::Loaded) -> Result<(Option<Digest>, Vec<Self::Lock>), PlanError> {
        let Some(want) = request_digest(Self::specs(m)) else { return Ok((None, Vec::new())) };
        let fresh = prior.map(Self::locked).filter(|(request, entries)| *request == Some(&want) && Self::complete(m, entries) && !mode.refresh);
        let entries = match fresh {
            Some((_, entries)) => match self.drifted(m, loaded, entries) {
                // Without --locked the lock is a starting point: what moved on is resolved again.
                Some(e) if !mode.locked => {
                    tracing::warn!("{e}: resolving the {} section again", Self::SECTION);
                    self.resolve(m, loaded).await.map_err(boxed)?
                }
                _ => entries.to_vec(),
            },
            None if mode.locked => return Err(PlanError::NotLocked { section: Self::SECTION, why: Self::NOT_LOCKED.into() }),
            None => self.resolve(m, loaded).await.map_err(boxed)?,
        };
        Ok((Some(want), entries))
    }
}

/// A section's identity in the lock (`apt_request`, `pypi_request`, …): the sha256 of its specs
/// as JSON, `None` for an empty section. A lock keeps its entries while this is unchanged, so the
/// serialization must not change for the same manifest (new fields skip their default).
pub fn request_digest<S: serde::Serialize>(specs: &[S]) -> Option<crate::format::Digest> {
    (!specs.is_empty()).then(|| crate::format::Digest::sha256_of(&serde_json::to_vec(specs).expect("manifest specs serialize")))
}

pub fn boxed<E: std::error::Error + Send + Sync + 'static>(e: E) -> PlanError {
    PlanError::Source(Box::new(e))
}

/// An ecosystem behind the object-safe face the loops use, with what its resolving loaded.
pub(crate) trait Section {
    fn section(&self) -> &'static str;
    fn before_images(&self) -> bool;
    fn plan<'a>(&'a self, m: &'a Manifest, prior: Option<&'a LockFile>, mode: Mode, lock: &'a mut LockFile) -> LocalBoxFuture<'a, Result<(), PlanError>>;
    fn add_images(&self, m: &mut Manifest, lock: &LockFile);
    fn fetch<'a>(&'a self, m: &'a Manifest, lock: &'a LockFile, progress: &'a Progress) -> LocalBoxFuture<'a, Result<Option<Fetched>, Vec<PlanError>>>;
    fn payload(&self, m: &Manifest, lock: &LockFile) -> Vec<(Digest, u64)>;
    fn describe(&self, lock: &LockFile) -> Vec<String>;
    fn check(&self, m: &Manifest, out: &mut Checked) -> Result<(), String>;
    fn referenced_images(&self, d: &Descriptor) -> Option<Vec<String>>;
}

struct Slot<E: Ecosystem> {
    /// `None` where no source is needed (`check`, `inspect`).
    eco: Option<E>,
    loaded: OnceCell<E::Loaded>,
}

pub(crate) fn slot<E: Ecosystem>(ctx: Option<&Context>) -> Box<dyn Section> {
    Box::new(Slot::<E> { eco: ctx.map(E::new), loaded: OnceCell::new() })
}

impl<E: Ecosystem> Section for Slot<E> {
    fn section(&self) -> &'static str {
        E::SECTION
    }

    fn before_images(&self) -> bool {
        E::BEFORE_IMAGES
    }

    fn plan<'a>(&'a self, m: &'a Manifest, prior: Option<&'a LockFile>, mode: Mode, lock: &'a mut LockFile) -> LocalBoxFuture<'a, Result<(), PlanError>> {
        async move {
            let eco = self.eco.as_ref().expect("a registry with sources");
            if E::specs(m).is_empty() {
                E::store(lock, None, Vec::new());
                return Ok(());
            }
            let loaded = eco.load(m).await.map_err(boxed)?;
            let (request, entries) = eco.plan(m, prior, mode, &loaded).await?;
            E::store(lock, request, entries);
            let _ = self.loaded.set(loaded);
            Ok(())
        }
        .boxed_local()
    }

    fn add_images(&self, m: &mut Manifest, lock: &LockFile) {
        E::add_images(m, lock)
    }

    fn fetch<'a>(&'a self, m: &'a Manifest, lock: &'a LockFile, progress: &'a Progress) -> LocalBoxFuture<'a, Result<Option<Fetched>, Vec<PlanError>>> {
        async move {
            let eco = self.eco.as_ref().expect("a registry with sources");
            let (_, entries) = E::locked(lock);
            match self.loaded.get() {
                Some(loaded) if E::carried(m, entries) => eco.fetch(m, loaded, entries, progress).await.map(Some).map_err(|es| es.into_iter().map(boxed).collect()),
                _ => Ok(None),
            }
        }
        .boxed_local()
    }

    fn describe(&self, lock: &LockFile) -> Vec<String> {
        E::describe(E::locked(lock).1)
    }

    fn payload(&self, m: &Manifest, lock: &LockFile) -> Vec<(Digest, u64)> {
        let (_, entries) = E::locked(lock);
        if E::carried(m, entries) {
            entries.iter().map(E::pinned).map(|(d, size)| (d.clone(), size)).collect()
        } else {
            Vec::new()
        }
    }

    fn check(&self, m: &Manifest, out: &mut Checked) -> Result<(), String> {
        E::check(m, out)
    }

    fn referenced_images(&self, d: &Descriptor) -> Option<Vec<String>> {
        E::referenced_images(d)
    }
}

/// The ecosystems of one run, with their sources.
pub struct Registry {
    pub images: Arc<ImageSource>,
    sections: Vec<Box<dyn Section>>,
}

impl Registry {
    pub fn new(manifest: &Manifest, cache: Arc<BlobCache>) -> Registry {
        let images = Arc::new(ImageSource::new(manifest.registries.clone(), cache.clone()));
        let sections = crate::sources::list(Some(&Context { cache, images: images.clone() }));
        Registry { images, sections }
    }

    /// Resolve (or reuse) the sections resolved before images (`before: true`) or after them.
    pub async fn plan(&self, manifest: &mut Manifest, prior: Option<&LockFile>, mode: Mode, lock: &mut LockFile, before: bool) -> Result<(), PlanError> {
        for s in self.sections.iter().filter(|s| s.before_images() == before) {
            tracing::debug!("planning the {} section", s.section());
            s.plan(manifest, prior, mode, lock).await?;
            s.add_images(manifest, lock);
        }
        Ok(())
    }

    /// Each section's files to download, by section name.
    pub fn payload(&self, manifest: &Manifest, lock: &LockFile) -> Vec<(&'static str, Vec<(Digest, u64)>)> {
        self.sections.iter().map(|s| (s.section(), s.payload(manifest, lock))).filter(|(_, p)| !p.is_empty()).collect()
    }

    /// What each section carries; call after [`Registry::plan`] (it keeps what fetching needs).
    /// Every section's fetch, each run whatever the others did: what was fetched, and every
    /// failed artifact's error (what was fetched stays in the cache for the next run).
    /// Each section counts its bytes into `progress(section)`.
    pub async fn fetch(&self, manifest: &Manifest, lock: &LockFile, progress: &dyn Fn(&str) -> Progress) -> (Vec<Fetched>, Vec<(&'static str, PlanError)>) {
        let (mut out, mut failed) = (Vec::new(), Vec::new());
        for s in &self.sections {
            match s.fetch(manifest, lock, &progress(s.section())).await {
                Ok(f) => out.extend(f),
                Err(es) => failed.extend(es.into_iter().map(|e| (s.section(), e))),
            }
        }
        (out, failed)
    }
}

/// `bundler lock`'s lines for every section of a lock.
pub fn describe(lock: &LockFile) -> Vec<String> {
    crate::sources::list(None).iter().flat_map(|s| s.describe(lock)).collect()
}

/// `bundler check` for every section.
pub fn check(m: &Manifest, out: &mut Checked) -> Result<(), String> {
    crate::sources::list(None).iter().try_for_each(|s| s.check(m, out))
}

/// Images a bundle's index.json entry references, if its ecosystem records them.
pub fn referenced_images(d: &Descriptor) -> Vec<String> {
    crate::sources::list(None).iter().find_map(|s| s.referenced_images(d)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_listed_once() {
        let mut names: Vec<&str> = crate::sources::list(None).iter().map(|s| s.section()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{names:?}");
    }

    /// `check --json` keeps its top-level counts, whatever order the list has.
    #[test]
    fn check_counts_keep_their_names() {
        let mut out = Checked::default();
        check(&Manifest::default(), &mut out).unwrap();
        let mut keys: Vec<&str> = out.counts.iter().map(|(k, _)| *k).collect();
        keys.sort();
        assert_eq!(keys, ["apt_packages", "apt_sources", "charts", "files_by_url", "hf_repos", "nltk_packages", "pypi_requirements", "pypi_sets"]);
        let mut contents: Vec<&str> = out.contents.iter().map(|(k, _)| *k).collect();
        contents.sort();
        assert_eq!(contents, ["apt_packages", "charts", "files", "hf", "nltk", "pypi_requirements"]);
    }
}
