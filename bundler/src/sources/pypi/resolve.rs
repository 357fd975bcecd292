//! PubGrub over a simple index, for one target at a time. Versions come from project pages
//! (only those with a file that fits the target, its Requires-Python, and not yanked unless
//! pinned with `==`); dependencies from PEP 658 `.metadata` files or the file's own METADATA,
//! never by running code. Extras are packages of their own (`name[extra]` depends on `name`
//! at the same version), as uv and poetry model them.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VersionOrUrl};
use pubgrub::{Dependencies, DependencyProvider, PackageResolutionStatistics, Ranges};

use super::index::FileEntry;
use super::tags::{sdist_name, TagRanks, Target, WheelName};
use super::PypiError;
use crate::format::pypi::normalize;

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

pub struct Provider<'a> {
    src: &'a dyn Source,
    target: &'a Target,
    ranks: TagRanks,
    env: MarkerEnvironment,
    only_binary: bool,
    roots: Vec<Requirement>,
    /// `-c` constraints: narrow what may be chosen, never add a package.
    constraints: HashMap<String, Ranges<Version>>,
    /// Versions pinned with `==` in the requirements: yanked files allowed (PEP 592).
    pinned: HashSet<(String, Version)>,
    versions: RefCell<HashMap<String, Rc<BTreeMap<Version, Cand>>>>,
    /// Projects taken as sdists because they have no wheel at all, for the report.
    pub sdist_fallbacks: RefCell<Vec<String>>,
}

impl<'a> Provider<'a> {
    pub fn new(src: &'a dyn Source, target: &'a Target, roots: Vec<Requirement>, constraints: &[Requirement], only_binary: bool) -> Provider<'a> {
        let mut c: HashMap<String, Ranges<Version>> = HashMap::new();
        for r in constraints {
            let range = match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => Ranges::from(s.clone()),
                _ => Ranges::full(),
            };
            let e = c.entry(normalize(r.name.as_ref())).or_insert_with(Ranges::full);
            *e = e.intersection(&range);
        }
        let pinned = roots
            .iter()
            .filter_map(|r| match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => s.iter().find(|v| v.operator() == &pep440_rs::Operator::Equal).map(|v| (normalize(r.name.as_ref()), v.version().clone())),
                _ => None,
            })
            .collect();
        Provider {
            src,
            target,
            ranks: TagRanks::new(target),
            env: target.markers(),
            only_binary,
            roots,
            constraints: c,
            pinned,
            versions: RefCell::new(HashMap::new()),
            sdist_fallbacks: RefCell::new(Vec::new()),
        }
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
            consider(!self.only_binary, &mut out);
            if out.is_empty() && self.only_binary {
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
            let range = match &r.version_or_url {
                None => Ranges::full(),
                Some(VersionOrUrl::VersionSpecifier(s)) => Ranges::from(s.clone()),
                Some(VersionOrUrl::Url(u)) => return Err(format!("{} is a direct URL dependency ({u}), which cannot be carried from an index", r.name)),
            };
            let name = normalize(r.name.as_ref());
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

pub fn parse_requires(list: &[String], whose: &str) -> Result<Vec<Requirement>, PypiError> {
    list.iter()
        .map(|s| crate::format::pypi::parse_requirement(s).map_err(|e| PypiError::Metadata { what: whose.to_string(), detail: format!("bad Requires-Dist {s:?}: {e}") }))
        .collect()
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = PypiError;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(&self, package: &Pkg, range: &Ranges<Version>, stats: &PackageResolutionStatistics) -> Self::Priority {
        let count = match package {
            Pkg::Root => 0,
            Pkg::Project(n) | Pkg::Extra(n, _) => self.versions.borrow().get(n).map(|v| v.keys().filter(|k| range.contains(k)).count()).unwrap_or(usize::MAX),
        };
        (stats.conflict_count(), Reverse(count))
    }

    fn choose_version(&self, package: &Pkg, range: &Ranges<Version>) -> Result<Option<Version>, PypiError> {
        let name = match package {
            Pkg::Root => return Ok(Some(Version::new([0u64]))),
            Pkg::Project(n) | Pkg::Extra(n, _) => n,
        };
        let versions = self.versions(name)?;
        let constraint = self.constraints.get(name);
        Ok(versions.keys().rev().find(|v| range.contains(v) && constraint.is_none_or(|c| c.contains(v))).cloned())
    }

    fn get_dependencies(&self, package: &Pkg, version: &Version) -> Result<Dependencies<Pkg, Ranges<Version>, String>, PypiError> {
        let deps = match package {
            Pkg::Root => self.deps_of(&self.roots, &[], false),
            Pkg::Project(name) | Pkg::Extra(name, _) => {
                let versions = self.versions(name)?;
                let cand = versions.get(version).expect("chosen from these versions");
                let reqs = parse_requires(&self.src.requires_dist(name, cand)?, &format!("{name} {version}"))?;
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
