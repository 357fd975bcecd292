//! The dependency closure of an apt request, the way apt-get picks it: the candidate of a
//! package is its highest version in any source; for each `Depends`/`Pre-Depends` group that
//! nothing chosen (or assumed installed) satisfies, the first alternative that can be
//! satisfied is installed, virtual names going to a provider. Only choices at `a | b` points
//! are undone when a branch turns out unsatisfiable, as apt's resolver effectively does.
//! Conflicts/Breaks only steer choices (an alternative that clashes with what is chosen is
//! passed over; a later hard dependency replaces an earlier alternative); otherwise they are
//! left to the target's installer: a bundle may carry more than one installation could use.

use std::collections::{BTreeSet, HashMap, HashSet};

use debian_control::lossy::{Relation, Relations};
use debian_control::relations::VersionConstraint;
use debversion::Version;

use crate::manifest::Baseline;

/// One binary package of one source's Packages index.
#[derive(Debug, Clone)]
pub struct Pkg {
    pub name: String,
    pub version: Version,
    pub arch: String,
    pub priority: Option<String>,
    pub essential: bool,
    /// Pre-Depends then Depends, as written; parsed only for packages the closure visits
    /// (a distribution has ~60,000 packages, a closure a few hundred).
    pub depends: String,
    pub recommends: String,
    /// Conflicts and Breaks, as written.
    pub conflicts: String,
    pub provides: Vec<(String, Option<Version>)>,
    /// Index of the apt source (manifest entry) it came from.
    pub source: usize,
    pub component: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// The stanza verbatim, as the signed index has it (a flat repository's `Filename`
    /// rewritten to where the mirror serves it).
    pub stanza: String,
    /// Where the deb is fetched from when that is not `<source>/<filename>` (flat repositories).
    pub url: Option<String>,
}

/// Every package every source offers, indexed by name and by what they provide.
#[derive(Default)]
pub struct Universe {
    pub pkgs: Vec<Pkg>,
    by_name: HashMap<String, Vec<usize>>,
    providers: HashMap<String, Vec<usize>>,
    /// The order apt's cache would number package names in (first stanza or relation that
    /// names them): apt's last tie-break between equally good providers.
    first_seen: HashMap<String, usize>,
}

impl Universe {
    /// Add a package; `mentioned` are the names its relation fields name, in apt's parse order.
    pub fn add(&mut self, p: Pkg, mentioned: &[&str]) {
        let i = self.pkgs.len();
        for n in std::iter::once(p.name.as_str()).chain(mentioned.iter().copied()).chain(p.provides.iter().map(|(n, _)| n.as_str())) {
            if !self.first_seen.contains_key(n) {
                self.first_seen.insert(n.to_string(), self.first_seen.len());
            }
        }
        self.by_name.entry(p.name.clone()).or_default().push(i);
        for (v, _) in &p.provides {
            self.providers.entry(v.clone()).or_default().push(i);
        }
        self.pkgs.push(p);
    }

    pub fn contains(&self, source: usize, name: &str, version: &Version, arch: &str) -> bool {
        self.by_name.get(name).into_iter().flatten().any(|&i| {
            let p = &self.pkgs[i];
            p.source == source && p.arch == arch && &p.version == version
        })
    }

    /// Versions of a real package visible to `arch`, highest first (earlier sources win ties).
    fn versions(&self, name: &str, arch: &str) -> Vec<usize> {
        let mut v: Vec<usize> = self.by_name.get(name).into_iter().flatten().copied().filter(|&i| visible(&self.pkgs[i], arch)).collect();
        v.sort_by(|&a, &b| self.pkgs[b].version.cmp(&self.pkgs[a].version).then(self.pkgs[a].source.cmp(&self.pkgs[b].source)));
        v
    }

    /// The candidate: the highest version, as apt picks with equal pin priorities.
    fn candidate(&self, name: &str, arch: &str) -> Option<usize> {
        self.versions(name, arch).first().copied()
    }
}

/// `:arch` qualifiers other than any/native name another architecture's package.
fn qual_arch<'a>(rel: &'a Relation, arch: &'a str) -> &'a str {
    match rel.archqual.as_deref() {
        None | Some("any") | Some("native") => arch,
        Some(a) => a,
    }
}

fn visible(p: &Pkg, arch: &str) -> bool {
    p.arch == arch || p.arch == "all"
}

pub fn version_ok(have: &Version, want: &Option<(VersionConstraint, Version)>) -> bool {
    match want {
        None => true,
        Some((c, v)) => match c {
            VersionConstraint::LessThan => have < v,
            VersionConstraint::LessThanEqual => have <= v,
            VersionConstraint::Equal => have == v,
            VersionConstraint::GreaterThanEqual => have >= v,
            VersionConstraint::GreaterThan => have > v,
        },
    }
}

/// Whether package `p` satisfies `rel` directly or through Provides (a versioned
/// dependency is only met by a versioned provide, as dpkg rules say).
fn meets(p: &Pkg, rel: &Relation) -> bool {
    if p.name == rel.name && version_ok(&p.version, &rel.version) {
        return true;
    }
    p.provides.iter().any(|(n, v)| {
        n == &rel.name
            && match (&rel.version, v) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(_), Some(pv)) => version_ok(pv, &rel.version),
            }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot satisfy `{relation}` for {arch}: {why}; chain: {}", chain.join(" <- "))]
pub struct Unsatisfiable {
    pub relation: String,
    pub arch: String,
    pub why: String,
    /// From the unmet relation back to the manifest's request.
    pub chain: Vec<String>,
}

pub struct Request<'a> {
    pub relation: &'a Relation,
    /// Shown at the end of the chain, e.g. `requested in demo.yaml line 12`.
    pub origin: String,
    pub recommends: bool,
}

/// Resolve requests for one target architecture. Returns the chosen packages, sorted.
/// Like apt-get, every requested package is marked first, then dependencies are followed.
pub fn closure(u: &Universe, arch: &str, requests: &[Request], baseline: Baseline) -> Result<Vec<usize>, Unsatisfiable> {
    let mut r = Resolver::new(u, arch, baseline_of(u, arch, baseline));
    let mut marked = Vec::new();
    for req in requests {
        let chain = vec![req.origin.clone()];
        // A request names a real package; pins like `pkg (= 1.2-3)` select that version.
        let candidates: Vec<usize> =
            u.versions(&req.relation.name, qual_arch(req.relation, arch)).into_iter().filter(|&i| version_ok(&u.pkgs[i].version, &req.relation.version)).collect();
        match candidates.first() {
            Some(&i) => {
                r.mark(i);
                marked.push((i, req.recommends, chain));
            }
            None if r.satisfied(req.relation) => {}
            None => {
                r.recommends = req.recommends;
                r.install_group(std::slice::from_ref(req.relation), &chain)?
            }
        }
    }
    r.requested = marked.iter().map(|(i, ..)| *i).collect();
    for (i, recommends, chain) in &marked {
        r.recommends = *recommends;
        r.install(*i, chain)?;
    }
    // A package dropped for a conflict may have been what satisfied another's dependency:
    // satisfy again what is now unmet, as apt's problem resolver does (bounded).
    for _ in 0..MAX_FIX_PASSES {
        if !std::mem::take(&mut r.dirty) {
            break;
        }
        let chosen: Vec<usize> = r.selected.iter().copied().collect();
        for i in chosen {
            if r.selected.contains(&i) {
                r.expanded.remove(&i);
                r.install(i, &[format!("{} (satisfied again after a conflict)", r.describe(i))])?;
            }
        }
    }
    let mut out: Vec<usize> = r.selected.into_iter().collect();
    out.sort_unstable();
    Ok(out)
}

/// Packages a target of that baseline already has: candidates that are Essential or of the
/// given priorities, with what they depend on (libc6 is `optional`, yet every such system
/// has it because required packages need it).
fn baseline_of(u: &Universe, arch: &str, b: Baseline) -> Vec<usize> {
    let wanted = |p: &Pkg| match b {
        Baseline::None => false,
        Baseline::Required => p.essential || p.priority.as_deref() == Some("required"),
        Baseline::Important => p.essential || matches!(p.priority.as_deref(), Some("required" | "important")),
    };
    if b == Baseline::None {
        return Vec::new();
    }
    let mut names: Vec<&String> = u.by_name.keys().collect();
    names.sort();
    let roots: Vec<usize> = names.into_iter().filter_map(|n| u.candidate(n, arch)).filter(|&i| wanted(&u.pkgs[i])).collect();
    let mut r = Resolver::new(u, arch, Vec::new());
    for &i in &roots {
        r.mark(i);
    }
    for &i in &roots {
        // A baseline package whose dependencies the sources cannot meet still counts as present.
        let saved = (r.selected.clone(), r.expanded.clone());
        if r.install(i, &[]).is_err() {
            (r.selected, r.expanded) = saved;
        }
    }
    r.selected.into_iter().collect()
}

struct Resolver<'a> {
    u: &'a Universe,
    arch: &'a str,
    recommends: bool,
    /// Chosen packages. A bundle serves many installations, so two requests that need
    /// different versions of one package get both (apt-get would refuse the pair at once).
    selected: BTreeSet<usize>,
    /// Chosen packages whose dependencies have been followed.
    expanded: HashSet<usize>,
    baseline: Vec<usize>,
    /// What the manifest asked for by name: never dropped for a conflict.
    requested: HashSet<usize>,
    /// Parsed Conflicts+Breaks of packages looked at.
    conflicts: HashMap<usize, Relations>,
    /// Something was dropped for a conflict since the last fix pass.
    dirty: bool,
}

/// Rounds of re-satisfying after conflicts; apt's resolver also gives up eventually.
const MAX_FIX_PASSES: usize = 5;

impl<'a> Resolver<'a> {
    fn new(u: &'a Universe, arch: &'a str, baseline: Vec<usize>) -> Resolver<'a> {
        Resolver { u, arch, recommends: false, selected: BTreeSet::new(), expanded: HashSet::new(), baseline, requested: HashSet::new(), conflicts: HashMap::new(), dirty: false }
    }

    fn conflicts_of(&mut self, i: usize) -> &Relations {
        let u = self.u;
        // An unparsable Conflicts only loses the conflict, never the closure.
        self.conflicts.entry(i).or_insert_with(|| u.pkgs[i].conflicts.parse().unwrap_or_default())
    }

    /// Whether `a` and `b` cannot be installed together (either side's Conflicts/Breaks).
    fn clash(&mut self, a: usize, b: usize) -> bool {
        let (pa, pb) = (&self.u.pkgs[a], &self.u.pkgs[b]);
        if pa.name == pb.name {
            return false;
        }
        self.conflicts_of(a);
        self.conflicts_of(b);
        let hit = |x: usize, p: &Pkg| self.conflicts[&x].0.iter().flatten().any(|r| meets(p, r));
        hit(a, pb) || hit(b, pa)
    }

    /// Whether `i` conflicts with (or breaks, or is broken by) a package already chosen.
    fn clashes_with_selected(&mut self, i: usize) -> bool {
        let chosen: Vec<usize> = self.selected.iter().copied().collect();
        chosen.into_iter().any(|j| self.clash(i, j))
    }

    fn satisfied(&self, rel: &Relation) -> bool {
        let arch = qual_arch(rel, self.arch);
        self.selected.iter().chain(&self.baseline).any(|&i| {
            let p = &self.u.pkgs[i];
            visible(p, arch) && meets(p, rel)
        })
    }

    fn describe(&self, i: usize) -> String {
        let p = &self.u.pkgs[i];
        format!("{} {} ({})", p.name, p.version, p.arch)
    }

    fn mark(&mut self, i: usize) {
        self.selected.insert(i);
    }

    /// Choose package `i` and follow its dependencies.
    fn install(&mut self, i: usize, chain: &[String]) -> Result<(), Unsatisfiable> {
        if !self.expanded.insert(i) {
            return Ok(());
        }
        self.mark(i);
        // Installing `i` removes what conflicts with it (unless the manifest asked for it):
        // apt-get drops the `b` of an earlier `b | c` when a later package needs `c`.
        let victims: Vec<usize> = self.selected.iter().copied().filter(|&j| j != i && !self.requested.contains(&j)).collect::<Vec<_>>();
        for j in victims {
            if self.clash(i, j) {
                self.selected.remove(&j);
                self.expanded.remove(&j);
                self.dirty = true;
            }
        }
        let p = &self.u.pkgs[i];
        let mut chain = chain.to_vec();
        chain.insert(0, self.describe(i));
        let parse = |field: &str, text: &str| -> Result<Relations, Unsatisfiable> {
            text.parse().map_err(|e| Unsatisfiable {
                relation: text.to_string(),
                arch: self.arch.into(),
                why: format!("{} of {} cannot be parsed: {e}", field, p.name),
                chain: chain.clone(),
            })
        };
        let mut groups = parse("Depends", &p.depends)?.0;
        if self.recommends {
            groups.extend(parse("Recommends", &p.recommends)?.0);
        }
        for group in &groups {
            if group.iter().any(|r| self.satisfied(r)) {
                continue;
            }
            self.install_group(group, &chain)?;
        }
        Ok(())
    }

    /// Install the first alternative of an unsatisfied `a | b | c` group that works. Like
    /// apt-get, one that Conflicts with or Breaks (or is broken by) a package already chosen
    /// is passed over for a later one that does not; it is tried last, not dropped.
    fn install_group(&mut self, group: &[Relation], chain: &[String]) -> Result<(), Unsatisfiable> {
        let mut first_err = None;
        let options: Vec<usize> = group.iter().flat_map(|rel| self.options(rel)).collect();
        let (fitting, clashing): (Vec<usize>, Vec<usize>) = options.into_iter().partition(|&i| !self.clashes_with_selected(i));
        for i in fitting.into_iter().chain(clashing) {
            let saved = (self.selected.clone(), self.expanded.clone());
            match self.install(i, chain) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    (self.selected, self.expanded) = saved;
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| {
            let rel = &group[0];
            let shown: Vec<String> = group.iter().map(|r| r.to_string()).collect();
            let versions: Vec<String> = self.u.versions(&rel.name, qual_arch(rel, self.arch)).iter().map(|&i| self.u.pkgs[i].version.to_string()).collect();
            let why = if group.len() > 1 {
                "no alternative is available in any source".to_string()
            } else if versions.is_empty() {
                format!("no source has {} for {}", rel.name, qual_arch(rel, self.arch))
            } else {
                format!("the sources only have {} {}", rel.name, versions.join(", "))
            };
            Unsatisfiable { relation: shown.join(" | "), arch: self.arch.into(), why, chain: chain.to_vec() }
        }))
    }

    /// Packages that could satisfy `rel`, in the order apt would try them: the real
    /// package's candidate (if it matches), then providers — ones of higher priority first.
    /// Where the candidate does not match (`libbar (<< 2.0)` with 2.0 newest), the newest
    /// version that does is chosen: apt-get would need a pin, but the mirror then carries
    /// only that version, so the target's apt-get finds it without one.
    fn options(&self, rel: &Relation) -> Vec<usize> {
        let arch = qual_arch(rel, self.arch);
        let mut out = Vec::new();
        if let Some(&c) = self.u.versions(&rel.name, arch).iter().find(|&&i| version_ok(&self.u.pkgs[i].version, &rel.version)) {
            out.push(c);
        }
        let mut providers: Vec<usize> = self
            .u
            .providers
            .get(&rel.name)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| visible(&self.u.pkgs[i], arch) && meets(&self.u.pkgs[i], rel))
            // Only a provider's own candidate version is installable.
            .filter(|&i| self.u.candidate(&self.u.pkgs[i].name, arch) == Some(i))
            .collect();
        // apt's CompareProviders: Essential first, then higher priority, then the name apt's
        // cache numbered last.
        let rank = |p: &Pkg| match p.priority.as_deref() {
            Some("required") => 0,
            Some("important") => 1,
            Some("standard") => 2,
            Some("optional") => 3,
            _ => 4,
        };
        let key = |i: usize| {
            let p = &self.u.pkgs[i];
            (!p.essential, rank(p), std::cmp::Reverse(self.u.first_seen.get(&p.name).copied().unwrap_or(0)))
        };
        providers.sort_by_key(|&i| key(i));
        providers.dedup();
        out.extend(providers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, arch: &str, depends: &str, provides: &str) -> Pkg {
        let provides: Relations = provides.parse().unwrap();
        Pkg {
            name: name.into(),
            version: version.parse().unwrap(),
            arch: arch.into(),
            priority: None,
            essential: false,
            depends: depends.into(),
            recommends: String::new(),
            conflicts: String::new(),
            provides: provides.0.into_iter().flatten().map(|r| (r.name, r.version.map(|(_, v)| v))).collect(),
            source: 0,
            component: "main".into(),
            filename: format!("pool/{name}_{version}.deb"),
            size: 1,
            sha256: String::new(),
            stanza: String::new(),
            url: None,
        }
    }

    impl Universe {
        fn add_plain(&mut self, p: Pkg) {
            self.add(p, &[]);
        }
    }

    fn names(u: &Universe, sel: &[usize]) -> Vec<String> {
        let mut v: Vec<String> = sel.iter().map(|&i| format!("{}={}", u.pkgs[i].name, u.pkgs[i].version)).collect();
        v.sort();
        v
    }

    fn resolve(u: &Universe, want: &str, b: Baseline) -> Result<Vec<String>, Unsatisfiable> {
        let rel: Relation = want.parse().unwrap();
        let req = Request { relation: &rel, origin: "requested".into(), recommends: false };
        closure(u, "amd64", &[req], b).map(|s| names(u, &s))
    }

    #[test]
    fn alternatives_provides_versions_and_epochs() {
        let mut u = Universe::default();
        u.add_plain(pkg("app", "1.0", "amd64", "libold (<< 2.0), missing | alt, virt (>= 2), data", ""));
        u.add_plain(pkg("libold", "1.5", "amd64", "", ""));
        u.add_plain(pkg("libold", "2.1", "amd64", "", ""));
        u.add_plain(pkg("alt", "1", "amd64", "", ""));
        u.add_plain(pkg("prov-old", "1", "amd64", "", "virt (= 1)"));
        u.add_plain(pkg("prov-new", "1", "amd64", "", "virt (= 2.0)"));
        u.add_plain(pkg("data", "1:0.1", "all", "", ""));
        u.add_plain(pkg("data", "9.9", "all", "", ""));
        u.add_plain(pkg("other-arch", "1", "arm64", "", ""));
        // libold (<< 2.0): the candidate 2.1 does not fit, the newest that does is taken.
        assert_eq!(resolve(&u, "app", Baseline::None).unwrap(), vec!["alt=1", "app=1.0", "data=1:0.1", "libold=1.5", "prov-new=1"]);
        // A pin selects the older version, which then satisfies the dependency.
        let rel_app: Relation = "app".parse().unwrap();
        let rel_pin: Relation = "libold (= 1.5)".parse().unwrap();
        let reqs = [Request { relation: &rel_pin, origin: "pin".into(), recommends: false }, Request { relation: &rel_app, origin: "requested".into(), recommends: false }];
        let got = closure(&u, "amd64", &reqs, Baseline::None).map(|s| names(&u, &s)).unwrap();
        assert_eq!(got, vec!["alt=1", "app=1.0", "data=1:0.1", "libold=1.5", "prov-new=1"], "epoch 1:0.1 > 9.9; versioned provide");
    }

    #[test]
    fn baseline_and_unsatisfiable_chain() {
        let mut u = Universe::default();
        u.add_plain(pkg("top", "1", "amd64", "mid", ""));
        u.add_plain(pkg("mid", "1", "amd64", "libc6 (>= 2), gone (>= 3)", ""));
        let mut libc = pkg("libc6", "2.36", "amd64", "", "");
        libc.priority = Some("required".into());
        u.add_plain(libc);
        u.add_plain(pkg("gone", "2", "amd64", "", ""));
        let e = resolve(&u, "top", Baseline::Required).unwrap_err();
        assert_eq!(e.chain, vec!["mid 1 (amd64)", "top 1 (amd64)", "requested"]);
        assert!(e.why.contains("only have gone 2"), "{e}");
        u.pkgs[3].version = "3".parse().unwrap();
        assert_eq!(resolve(&u, "top", Baseline::Required).unwrap(), vec!["gone=3", "mid=1", "top=1"]);
        assert_eq!(resolve(&u, "top", Baseline::None).unwrap(), vec!["gone=3", "libc6=2.36", "mid=1", "top=1"]);
    }

    #[test]
    fn conflicting_alternative_is_replaced_and_providers_follow_apts_order() {
        // libreoffice's shape: an earlier `nogui | core` is settled with nogui, then a hard
        // dependency on core (which conflicts with nogui) arrives: apt ends with core only.
        let mut u = Universe::default();
        u.add_plain(pkg("lo", "1", "amd64", "base, core", ""));
        u.add_plain(pkg("base", "1", "amd64", "nogui (= 1) | core (= 1)", ""));
        let mut nogui = pkg("nogui", "1", "amd64", "nogui-lib", "");
        nogui.conflicts = "core".into();
        u.add_plain(nogui);
        u.add_plain(pkg("nogui-lib", "1", "amd64", "", ""));
        u.add_plain(pkg("core", "1", "amd64", "", ""));
        let got = resolve(&u, "lo", Baseline::None).unwrap();
        assert!(got.contains(&"core=1".to_string()) && !got.contains(&"nogui=1".to_string()), "{got:?}");
        // Equal providers: the one apt's cache numbered last wins.
        let mut u = Universe::default();
        u.add_plain(pkg("tool", "1", "amd64", "libcurl-dev", ""));
        u.add_plain(pkg("curl-gnutls-dev", "1", "amd64", "", "libcurl-dev"));
        u.add_plain(pkg("curl-nss-dev", "1", "amd64", "", "libcurl-dev"));
        assert_eq!(resolve(&u, "tool", Baseline::None).unwrap(), vec!["curl-nss-dev=1", "tool=1"]);
    }

    #[test]
    fn alternative_that_breaks_a_chosen_package_is_passed_over() {
        // Ubuntu's shape: `clock-a | clock-b` where clock-a Breaks the libfoo1 already chosen;
        // apt-get takes clock-b and keeps libfoo1.
        let mut u = Universe::default();
        u.add_plain(pkg("app", "1", "amd64", "libfoo1 (>= 1:2.0~), clock-a | clock-b", ""));
        u.add_plain(pkg("libfoo1", "1:2.0-1", "amd64", "", ""));
        let mut a = pkg("clock-a", "1", "amd64", "", "");
        a.conflicts = "libfoo1 (>= 1:2.0~)".into();
        u.add_plain(a);
        u.add_plain(pkg("clock-b", "1", "amd64", "", ""));
        assert_eq!(resolve(&u, "app", Baseline::None).unwrap(), vec!["app=1", "clock-b=1", "libfoo1=1:2.0-1"]);
    }
}
