//! PubGrub over a simple index, for one target at a time. Versions come from project pages
//! (only those with a file that fits the target, its Requires-Python, and not yanked unless
//! pinned with `==`); dependencies from PEP 658 `.metadata` files or the file's own METADATA,
//! never by running code. Extras are packages of their own (`name[extra]` depends on `name`
//! at the same version), as uv and poetry model them. Specifiers match as PEP 440 says (local
//! versions too), and a pre-release is chosen only as pip would choose it (`pep440`).
//!
//! Which package is decided next follows uv (its `PubGrubPriority`): the root, then packages
//! pinned with `==`, then packages that kept being rejected ("conflict early"), then the rest in
//! the order they were first required (the requirements in their order, then each package's
//! Requires-Dist in its order, breadth first). A package whose chosen versions were rejected
//! `CONFLICT_THRESHOLD` times (django-celery-beat going down its versions because django was
//! decided first at a version each of them excludes) is marked to be decided early and the
//! resolution starts again with what it learned (pages and metadata are kept), where uv
//! backtracks to before the culprit's decision; either way it is decided before its culprit, so
//! django-celery-beat 2.9.0 with django 6.0 rather than 2.1.0 with django 6.1. No project page is
//! fetched just to order packages.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VersionOrUrl};
use pubgrub::{DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics, PubGrubError, Ranges, Reporter, SelectedDependencies};

use super::index::FileEntry;
use super::pep440::{self, PreReleases};
use super::tags::{sdist_name, TagRanks, Target, WheelName};
use super::PypiError;
use crate::format::pypi::normalize;
use crate::manifest::Releases;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    Root,
    Project(String),
    Extra(String, String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the requirements"),
            Pkg::Project(n) => f.write_str(n),
            Pkg::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// The file chosen for one version on one target.
#[derive(Debug, Clone)]
pub struct Cand {
    pub file: FileEntry,
    pub index: String,
    pub rank: usize,
}

/// (index URL, files) of a project, or `None` when no index has it.
pub type Page = Option<(String, Rc<Vec<FileEntry>>)>;

/// What the resolution of all targets shares: project pages and dependency lists.
pub trait Source {
    fn page(&self, project: &str) -> Result<Page, PypiError>;
    /// `Requires-Dist` of a file.
    fn requires_dist(&self, project: &str, cand: &Cand) -> Result<Rc<Vec<String>>, PypiError>;
}

/// What a `pypi:` entry lets the resolver choose.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Wheels; a project with no wheel for the target falls back to its sdist...
    pub only_binary: bool,
    /// ...unless not even that (`--only-binary :all:`).
    pub wheels_only: bool,
    /// Pre-releases beyond PEP 440's default.
    pub releases: Releases,
}

/// How often a package's chosen versions may be rejected before it is decided early (uv's
/// `CONFLICT_THRESHOLD`).
const CONFLICT_THRESHOLD: u32 = 5;

/// The class of a package in the decision order, lowest first (uv's `PubGrubPriority` without
/// direct URLs, which a `pypi:` entry refuses, and without `ConflictLate`: see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// In the order first required.
    Unspecified,
    /// Rejected `CONFLICT_THRESHOLD` times in an earlier attempt.
    ConflictEarly,
    /// Pinned to one version (`==`).
    Pinned,
    Root,
}

pub struct Provider<'a> {
    src: &'a dyn Source,
    target: &'a Target,
    ranks: TagRanks,
    env: MarkerEnvironment,
    policy: &'a Policy,
    roots: Vec<Requirement>,
    /// Projects a requirement or constraint seen so far names a pre-release for (`>=2.0b1`),
    /// which lets them take pre-releases, as pip's combined specifier does.
    pre_named: RefCell<HashSet<String>>,
    /// `-c` constraints: narrow what may be chosen, never add a package.
    constraints: HashMap<String, Ranges<Version>>,
    /// Versions pinned with `==` in the requirements: yanked files allowed (PEP 592).
    pinned: HashSet<(String, Version)>,
    versions: RefCell<HashMap<String, Rc<BTreeMap<Version, Cand>>>>,
    /// Projects taken as sdists because they have no wheel at all, for the report.
    pub sdist_fallbacks: RefCell<Vec<String>>,
    /// Each project's place in the order first required, in this attempt.
    discovered: RefCell<HashMap<String, usize>>,
    /// Projects decided early (learned by earlier attempts).
    early: RefCell<HashSet<String>>,
    /// A project this attempt found rejected too often: the attempt stops and another begins.
    learned: RefCell<Option<String>>,
    /// What `pre_named` holds before any dependency is read.
    pre_named_at_start: HashSet<String>,
}

impl<'a> Provider<'a> {
    pub fn new(src: &'a dyn Source, target: &'a Target, roots: Vec<Requirement>, constraints: &[Requirement], policy: &'a Policy) -> Provider<'a> {
        let mut c: HashMap<String, Ranges<Version>> = HashMap::new();
        let mut pre_named = HashSet::new();
        for r in constraints {
            let range = match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => {
                    if pep440::names_prerelease(s) {
                        pre_named.insert(normalize(r.name.as_ref()));
                    }
                    pep440::ranges(s)
                }
                _ => Ranges::full(),
            };
            let e = c.entry(normalize(r.name.as_ref())).or_insert_with(Ranges::full);
            *e = e.intersection(&range);
        }
        let pinned = roots
            .iter()
            .filter_map(|r| match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => {
                    s.iter().find(|v| v.operator() == &pep440_rs::Operator::Equal).map(|v| (normalize(r.name.as_ref()), v.version().clone()))
                }
                _ => None,
            })
            .collect();
        Provider {
            src,
            target,
            ranks: TagRanks::new(target),
            env: target.markers(),
            policy,
            roots,
            pre_named: RefCell::new(pre_named.clone()),
            constraints: c,
            pinned,
            versions: RefCell::new(HashMap::new()),
            sdist_fallbacks: RefCell::new(Vec::new()),
            discovered: RefCell::new(HashMap::new()),
            early: RefCell::new(HashSet::new()),
            learned: RefCell::new(None),
            pre_named_at_start: pre_named,
        }
    }

    /// Resolve the requirements: PubGrub, started again each time an attempt learns that a
    /// package must be decided earlier (at most once per package; pages, versions and metadata
    /// are kept between attempts).
    /// No solution is `PypiError::NoSolution` with PubGrub's explanation.
    pub fn resolve(&self) -> Result<SelectedDependencies<Pkg, Version>, PypiError> {
        loop {
            self.discovered.borrow_mut().clear();
            *self.pre_named.borrow_mut() = self.pre_named_at_start.clone();
            match pubgrub::resolve(self, Pkg::Root, Version::new([0u64])) {
                Ok(s) => return Ok(s),
                Err(PubGrubError::ErrorInShouldCancel(PypiError::Reorder(project))) => {
                    tracing::debug!("{}: {project} was rejected {CONFLICT_THRESHOLD} times; resolving again with it decided early", self.target.name());
                    *self.learned.borrow_mut() = None;
                    self.early.borrow_mut().insert(project);
                }
                Err(PubGrubError::NoSolution(mut tree)) => {
                    tree.collapse_no_versions();
                    return Err(PypiError::NoSolution { target: self.target.name(), report: DefaultStringReporter::report(&tree) });
                }
                Err(PubGrubError::ErrorRetrievingDependencies { source, .. } | PubGrubError::ErrorChoosingVersion { source, .. } | PubGrubError::ErrorInShouldCancel(source)) => {
                    return Err(source)
                }
            }
        }
    }

    /// Note a project's place in the order first required.
    fn discover(&self, project: &str) {
        let mut d = self.discovered.borrow_mut();
        let n = d.len();
        d.entry(project.to_string()).or_insert(n);
    }

    /// The installable versions of a project for this target, each with its best file.
    pub fn versions(&self, project: &str) -> Result<Rc<BTreeMap<Version, Cand>>, PypiError> {
        if let Some(v) = self.versions.borrow().get(project) {
            return Ok(v.clone());
        }
        let mut out: BTreeMap<Version, Cand> = BTreeMap::new();
        if let Some((index, files)) = self.src.page(project)? {
            let python = Version::new([self.target.python.0 as u64, self.target.python.1 as u64]);
            let consider = |allow_sdist: bool, out: &mut BTreeMap<Version, Cand>| {
                for f in files.iter() {
                    let (name, version, rank) = if let Some(w) = WheelName::parse(&f.filename) {
                        let Some(rank) = self.ranks.rank(&w) else { continue };
                        (w.name, w.version, rank)
                    } else if let Some((n, v)) = sdist_name(&f.filename) {
                        if !allow_sdist {
                            continue;
                        }
                        (n, v, usize::MAX)
                    } else {
                        continue;
                    };
                    if normalize(&name) != project {
                        continue;
                    }
                    let Ok(version) = Version::from_str(&version) else { continue };
                    if f.yanked && !self.pinned.contains(&(project.to_string(), version.clone())) {
                        continue;
                    }
                    if let Some(rp) = &f.requires_python {
                        match VersionSpecifiers::from_str(rp) {
                            Ok(s) if !s.contains(&python) => continue,
                            Ok(_) => {}
                            Err(_) => continue,
                        }
                    }
                    let better = out.get(&version).is_none_or(|c| rank < c.rank);
                    if better {
                        out.insert(version, Cand { file: f.clone(), index: index.clone(), rank });
                    }
                }
            };
            consider(!self.policy.only_binary, &mut out);
            if out.is_empty() && self.policy.only_binary && !self.policy.wheels_only {
                consider(true, &mut out);
                if !out.is_empty() {
                    tracing::warn!("{project}: no wheel fits {}; taking its sdist (it builds on the target)", self.target.name());
                    self.sdist_fallbacks.borrow_mut().push(project.to_string());
                }
            }
        }
        let out = Rc::new(out);
        self.versions.borrow_mut().insert(project.to_string(), out.clone());
        Ok(out)
    }

    fn deps_of(&self, reqs: &[Requirement], extras: &[ExtraName], only_extra: bool) -> Result<Vec<(Pkg, Ranges<Version>)>, String> {
        let mut map: BTreeMap<Pkg, Ranges<Version>> = BTreeMap::new();
        for r in reqs {
            if !r.evaluate_markers(&self.env, extras) || (only_extra && r.evaluate_markers(&self.env, &[])) {
                continue;
            }
            let name = normalize(r.name.as_ref());
            self.discover(&name);
            let range = match &r.version_or_url {
                None => Ranges::full(),
                Some(VersionOrUrl::VersionSpecifier(s)) => {
                    if pep440::names_prerelease(s) {
                        self.pre_named.borrow_mut().insert(name.clone());
                    }
                    pep440::ranges(s)
                }
                Some(VersionOrUrl::Url(u)) => return Err(format!("{} is a direct URL dependency ({u}), which cannot be carried from an index", r.name)),
            };
            let mut add = |p: Pkg| {
                let e = map.entry(p).or_insert_with(Ranges::full);
                *e = e.intersection(&range);
            };
            add(Pkg::Project(name.clone()));
            for e in &r.extras {
                add(Pkg::Extra(name.clone(), e.to_string()));
            }
        }
        Ok(map.into_iter().collect())
    }
}

/// A version's Requires-Dist, or why it cannot be read: one that is not PEP 508 (old metadata has
/// `>=1.9.*`, `>=7.2.0<8.0.0`) makes that version unavailable, and the resolver takes another, as
/// pip does ("Discarding … has invalid metadata"); uv repairs a few common mistakes instead.
pub fn parse_requires(list: &[String]) -> Result<Vec<Requirement>, String> {
    list.iter().map(|s| crate::sources::pypi::parse_requirement(s).map_err(|e| format!("its metadata has an invalid Requires-Dist {s:?} ({e})"))).collect()
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = PypiError;
    /// The class, then the place in the order first required (earlier first); PubGrub breaks ties
    /// by the order it first saw the package, which puts a project before its extras.
    type Priority = (Rank, Reverse<usize>);

    fn prioritize(&self, package: &Pkg, range: &Ranges<Version>, stats: &PackageResolutionStatistics) -> Self::Priority {
        let name = match package {
            Pkg::Root => return (Rank::Root, Reverse(0)),
            Pkg::Project(n) | Pkg::Extra(n, _) => n,
        };
        let index = self.discovered.borrow().get(name).copied().unwrap_or(usize::MAX);
        if pep440::is_pin(range) {
            return (Rank::Pinned, Reverse(index));
        }
        if self.early.borrow().contains(name) {
            return (Rank::ConflictEarly, Reverse(index));
        }
        if stats.conflict_count() >= CONFLICT_THRESHOLD {
            self.learned.borrow_mut().get_or_insert_with(|| name.clone());
        }
        (Rank::Unspecified, Reverse(index))
    }

    fn should_cancel(&self) -> Result<(), PypiError> {
        match self.learned.borrow().as_ref() {
            Some(p) => Err(PypiError::Reorder(p.clone())),
            None => Ok(()),
        }
    }

    fn choose_version(&self, package: &Pkg, range: &Ranges<Version>) -> Result<Option<Version>, PypiError> {
        let name = match package {
            Pkg::Root => return Ok(Some(Version::new([0u64]))),
            Pkg::Project(n) | Pkg::Extra(n, _) => n,
        };
        let versions = self.versions(name)?;
        let constraint = self.constraints.get(name);
        let pre = match self.policy.releases.allows(name) {
            Some(true) => PreReleases::Allow,
            Some(false) => PreReleases::Deny,
            None if self.pre_named.borrow().contains(name) => PreReleases::Allow,
            None => PreReleases::IfNeeded,
        };
        Ok(pep440::choose(versions.keys(), |v| range.contains(v) && constraint.is_none_or(|c| c.contains(v)), pre).cloned())
    }

    fn get_dependencies(&self, package: &Pkg, version: &Version) -> Result<Dependencies<Pkg, Ranges<Version>, String>, PypiError> {
        let deps = match package {
            Pkg::Root => self.deps_of(&self.roots, &[], false),
            Pkg::Project(name) | Pkg::Extra(name, _) => {
                let versions = self.versions(name)?;
                let cand = versions.get(version).expect("chosen from these versions");
                let reqs = match parse_requires(&self.src.requires_dist(name, cand)?) {
                    Ok(r) => r,
                    Err(why) => {
                        tracing::debug!("{name} {version}: {why}; not taking it");
                        return Ok(Dependencies::Unavailable(why));
                    }
                };
                match package {
                    Pkg::Extra(_, extra) => {
                        let e = ExtraName::from_str(extra).map_err(|err| PypiError::Metadata { what: package.to_string(), detail: err.to_string() })?;
                        self.deps_of(&reqs, &[e], true).map(|mut d| {
                            d.push((Pkg::Project(name.clone()), Ranges::singleton(version.clone())));
                            d
                        })
                    }
                    _ => self.deps_of(&reqs, &[], false),
                }
            }
        };
        Ok(match deps {
            Ok(d) => Dependencies::Available(d.into_iter().collect()),
            Err(why) => Dependencies::Unavailable(why),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory index: `(project, version, Requires-Dist)`, one pure wheel each, or an
    /// sdist where the version ends in `.tar.gz`.
    struct Index(Vec<(&'static str, &'static str, Vec<&'static str>)>);

    impl Index {
        fn file(project: &str, version: &str) -> String {
            match version.strip_suffix(".tar.gz") {
                Some(v) => format!("{}-{v}.tar.gz", project.replace('-', "_")),
                None => format!("{}-{version}-py3-none-any.whl", project.replace('-', "_")),
            }
        }
    }

    impl Source for Index {
        fn page(&self, project: &str) -> Result<Page, PypiError> {
            let files: Vec<FileEntry> = self
                .0
                .iter()
                .filter(|(p, _, _)| *p == project)
                .map(|(p, v, _)| {
                    let filename = Index::file(p, v);
                    FileEntry { url: format!("http://index.invalid/files/{filename}"), filename, sha256: None, requires_python: None, yanked: false, metadata: None, size: None }
                })
                .collect();
            Ok((!files.is_empty()).then(|| ("http://index.invalid/simple/".to_string(), Rc::new(files))))
        }

        fn requires_dist(&self, _: &str, cand: &Cand) -> Result<Rc<Vec<String>>, PypiError> {
            let (_, _, reqs) = self.0.iter().find(|(p, v, _)| Index::file(p, v) == cand.file.filename).expect("a listed file");
            Ok(Rc::new(reqs.iter().map(|r| r.to_string()).collect()))
        }
    }

    /// The chosen `project==version`s, or PubGrub's report.
    fn solve(index: &Index, roots: &[&str], constraints: &[&str], policy: Policy) -> Result<Vec<String>, String> {
        let target = Target { python: (3, 12), arch: "x86_64".into(), libc: "glibc".into(), libc_version: (2, 17) };
        let parse = |l: &[&str]| l.iter().map(|r| crate::sources::pypi::parse_requirement(r).unwrap()).collect::<Vec<_>>();
        let provider = Provider::new(index, &target, parse(roots), &parse(constraints), &policy);
        match provider.resolve() {
            Ok(solution) => {
                let mut out: Vec<String> = solution.into_iter().filter_map(|(p, v)| if let Pkg::Project(n) = p { Some(format!("{n}=={v}")) } else { None }).collect();
                out.sort();
                Ok(out)
            }
            Err(PypiError::NoSolution { report, .. }) => Err(report),
            Err(e) => Err(e.to_string()),
        }
    }

    fn ok(index: &Index, roots: &[&str]) -> Vec<String> {
        solve(index, roots, &[], Policy::default()).unwrap_or_else(|e| panic!("{roots:?}: {e}"))
    }

    /// The real case: `httpx==1.0.dev6` was pinned where 0.28.1 fits.
    #[test]
    fn a_final_release_wins_over_a_newer_pre_release() {
        let index = Index(vec![
            ("httpx", "0.28.1", vec![]),
            ("httpx", "1.0.dev6", vec![]),
            ("protobuf", "6.33.0", vec![]),
            ("protobuf", "7.37.0rc1", vec![]),
            ("app", "1.0", vec!["httpx>=0.23", "protobuf"]),
        ]);
        assert_eq!(ok(&index, &["app"]), ["app==1.0", "httpx==0.28.1", "protobuf==6.33.0"]);
        assert_eq!(ok(&index, &["httpx"]), ["httpx==0.28.1"]);
    }

    /// A pre-release where no final release satisfies, as pip takes it (PEP 440).
    #[test]
    fn a_pre_release_only_where_no_final_release_fits() {
        let index = Index(vec![("b", "1.0", vec![]), ("b", "2.0rc1", vec![]), ("c", "1.0a1", vec![]), ("a", "1.0", vec!["b>=1.5"])]);
        assert_eq!(ok(&index, &["b>=1.5"]), ["b==2.0rc1"]);
        assert_eq!(ok(&index, &["a"]), ["a==1.0", "b==2.0rc1"]);
        assert_eq!(ok(&index, &["c"]), ["c==1.0a1"]);
        assert_eq!(ok(&index, &["b"]), ["b==1.0"]);
    }

    /// A specifier naming a pre-release opts its project in, from the root, a dependency or a
    /// constraint; `pre: true` opts every project in; `--only-final` opts out even so.
    #[test]
    fn pre_releases_by_specifier_or_by_choice() {
        let index = Index(vec![("b", "1.0", vec![]), ("b", "2.0rc1", vec![]), ("d", "1.0", vec!["b>=1.0rc1"]), ("e", "1.0", vec![]), ("e", "1.1b2", vec![])]);
        assert_eq!(ok(&index, &["b>=1.0rc1"]), ["b==2.0rc1"]);
        assert_eq!(ok(&index, &["d"]), ["b==2.0rc1", "d==1.0"]);
        assert_eq!(solve(&index, &["b"], &["b!=3.0,>=0.1a1"], Policy::default()).unwrap(), ["b==2.0rc1"]);
        let pre = Policy { releases: Releases { all: Some(true), ..Releases::default() }, ..Policy::default() };
        assert_eq!(solve(&index, &["b", "e"], &[], pre).unwrap(), ["b==2.0rc1", "e==1.1b2"]);
        let only_final = Policy { releases: Releases { all: None, projects: [("b".to_string(), false)].into() }, ..Policy::default() };
        assert_eq!(solve(&index, &["d", "e>=1.1a1"], &[], only_final.clone()).unwrap(), ["b==1.0", "d==1.0", "e==1.1b2"]);
        let e = solve(&index, &["b>=2"], &[], only_final).unwrap_err();
        assert!(e.contains("b"), "{e}");
    }

    /// PEP 440 local versions: `==2.0.0` and `<=2.0.0` match `2.0.0+foo`, `>2.0.0` and `<2.0.0`
    /// do not, `==2.0.0+foo` only itself.
    #[test]
    fn local_versions_match_their_public_version() {
        let index = Index(vec![
            ("b", "2.0.0+bar", vec![]),
            ("b", "2.0.0+foo", vec![]),
            ("a", "1.0.0", vec!["b==2.0.0"]),
            ("a", "2.0.0", vec!["b==2.0.0+bar"]),
            ("gt", "1.0.0", vec!["b>2.0.0"]),
        ]);
        assert_eq!(ok(&index, &["b==2.0.0"]), ["b==2.0.0+foo"]);
        assert_eq!(ok(&index, &["b<=2.0.0"]), ["b==2.0.0+foo"]);
        assert_eq!(ok(&index, &["a", "b==2.0.0+foo"]), ["a==1.0.0", "b==2.0.0+foo"]);
        for unsatisfiable in [&["b>2.0.0"][..], &["b<2.0.0"], &["gt", "b==2.0.0+foo"]] {
            assert!(solve(&index, unsatisfiable, &[], Policy::default()).is_err(), "{unsatisfiable:?}");
        }
    }

    /// Issue 16's web stack on CPython 3.12: django first (the first requirement) at 6.1 made each
    /// django-celery-beat from 2.9.0 down to 2.5.0 fail on `Django<6.1` and took 2.1.0, which
    /// names no upper bound, where uv and pip take 2.9.0 with django 6.0. After five rejections
    /// django-celery-beat is decided before django, as uv decides it.
    #[test]
    fn a_package_rejected_again_and_again_is_decided_first() {
        let mut index = Index(vec![("django", "6.0.10", vec![]), ("django", "6.1.3", vec![]), ("django-celery-beat", "2.1.0", vec!["django>=2.2"])]);
        for v in ["2.5.0", "2.6.0", "2.7.0", "2.8.0", "2.8.1", "2.9.0"] {
            index.0.push(("django-celery-beat", v, vec!["django>=2.2,<6.1"]));
        }
        assert_eq!(ok(&index, &["django", "django-celery-beat"]), ["django-celery-beat==2.9.0", "django==6.0.10"]);
        // Fewer rejections than the threshold leave the order alone, as uv does.
        index.0.retain(|(p, v, _)| *p != "django-celery-beat" || ["2.1.0", "2.9.0"].contains(v));
        assert_eq!(ok(&index, &["django", "django-celery-beat"]), ["django-celery-beat==2.1.0", "django==6.1.3"]);
    }

    /// Packages are decided pinned first (`==`), then those learned to conflict, then in the
    /// order first required; with two requirements that exclude each other's newest versions the
    /// requirements' order decides which one gets its newest.
    #[test]
    fn pinned_first_then_the_order_first_required() {
        let a = [("a", "0.5", vec![]), ("a", "1.0", vec!["b<2"]), ("a", "2.0", vec!["b<2"])];
        let index = Index(a.into_iter().chain([("b", "1.0", vec![]), ("b", "2.0", vec![]), ("c", "1.0", vec!["b==1.0"])]).collect());
        assert_eq!(ok(&index, &["b", "a"]), ["a==0.5", "b==2.0"]);
        assert_eq!(ok(&index, &["a", "b"]), ["a==2.0", "b==1.0"]);

        let target = Target { python: (3, 12), arch: "x86_64".into(), libc: "glibc".into(), libc_version: (2, 17) };
        let policy = Policy::default();
        let provider = Provider::new(&index, &target, Vec::new(), &[], &policy);
        for p in ["a", "b", "c"] {
            provider.discover(p);
        }
        provider.early.borrow_mut().insert("c".into());
        let stats = PackageResolutionStatistics::default();
        let prio = |p: &str, spec: &str| provider.prioritize(&Pkg::Project(p.into()), &pep440::ranges(&VersionSpecifiers::from_str(spec).unwrap()), &stats);
        assert!(prio("b", "==1.0") > prio("c", ">=0") && prio("c", ">=0") > prio("a", ">=0") && prio("a", ">=0") > prio("b", ">=1"));
        assert_eq!(prio("b", ">=1").0, Rank::Unspecified);
        assert!(prio("x", "") < prio("b", ">=1"), "one not yet required comes last");
        assert_eq!(provider.prioritize(&Pkg::Root, &Ranges::full(), &stats).0, Rank::Root);
    }

    /// A Requires-Dist that is not PEP 508 (old metadata) makes that version unavailable and an
    /// older one is taken, as pip and uv do; with none left the report names the reason.
    #[test]
    fn an_invalid_requires_dist_skips_that_version() {
        let index = Index(vec![("old", "1.0", vec!["six"]), ("old", "2.0", vec!["six>=1.9.*"]), ("old", "3.0", vec!["six (>=1.0<2.0)"]), ("six", "1.17.0", vec![])]);
        assert_eq!(ok(&index, &["old"]), ["old==1.0", "six==1.17.0"]);
        let e = solve(&index, &["old>=2"], &[], Policy::default()).unwrap_err();
        assert!(e.contains("invalid Requires-Dist"), "{e}");
    }

    /// `only_binary` takes an sdist only for a project with no wheel at all; `--only-binary
    /// :all:` (`wheels_only`) not even then.
    #[test]
    fn sdists_only_where_allowed() {
        let index = Index(vec![("srconly", "1.0.tar.gz", vec![]), ("both", "1.0", vec![]), ("both", "1.1.tar.gz", vec![])]);
        let binary = Policy { only_binary: true, ..Policy::default() };
        assert_eq!(solve(&index, &["srconly", "both"], &[], binary).unwrap(), ["both==1.0", "srconly==1.0"]);
        assert_eq!(solve(&index, &["both"], &[], Policy::default()).unwrap(), ["both==1.1"]);
        let strict = Policy { only_binary: true, wheels_only: true, ..Policy::default() };
        assert!(solve(&index, &["srconly"], &[], strict.clone()).is_err());
        assert_eq!(solve(&index, &["both"], &[], strict).unwrap(), ["both==1.0"]);
    }
}
