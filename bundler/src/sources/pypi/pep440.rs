//! PEP 440 as pip applies it, over pep440_rs's parsing: version specifiers as PubGrub ranges with
//! the local-version rules ("Version matching": `==1.2.3` and `<=1.2.3` match `1.2.3+foo`,
//! `>1.2.3` does not), and which versions a project may take ("Handling of pre-releases":
//! final and post releases first, a pre-release only where no final release satisfies, where a
//! specifier names one, or where the user opts in).

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pubgrub::Ranges;

/// The versions a specifier set matches.
pub fn ranges(specs: &VersionSpecifiers) -> Ranges<Version> {
    specs.iter().fold(Ranges::full(), |r, s| r.intersection(&range(s)))
}

/// The versions one clause matches, as pip (packaging 26) reads it. pep440_rs's own conversion
/// orders local versions like any other (so `==1.2.3` would miss `1.2.3+foo`), but PEP 440
/// ignores a candidate's local label unless the clause names one; and it reads `<V.postN` and
/// `>V.postN` as excluding the whole `V` release.
pub fn range(spec: &VersionSpecifier) -> Ranges<Version> {
    let v = spec.version();
    match spec.operator() {
        Operator::Equal if !v.is_local() => Ranges::between(v.clone(), above_locals(v)),
        Operator::NotEqual if !v.is_local() => Ranges::between(v.clone(), above_locals(v)).complement(),
        Operator::LessThanEqual => Ranges::strictly_lower_than(above_locals(v)),
        // `<1.0.post2` excludes the dev releases of 1.0.post2 only.
        Operator::LessThan if v.is_post() && !v.any_prerelease() => Ranges::strictly_lower_than(v.clone().with_dev(Some(0))),
        // `>1.0.post2` allows `1.0.post3.dev0`, not `1.0.post2+local`.
        Operator::GreaterThan if v.is_post() && !v.is_dev() => Ranges::higher_than(v.clone().with_post(v.post().map(|p| p + 1)).with_dev(Some(0))),
        _ => Ranges::from(spec.clone()),
    }
}

/// Whether a range admits one public version only: `==V` (with V's local versions), the way uv
/// tells a pinned package (`is_singleton_constraint`).
pub fn is_pin(range: &Ranges<Version>) -> bool {
    use std::ops::Bound;
    range.as_singleton().is_some()
        || range.iter().next().is_some()
            && range.iter().all(|seg| match seg {
                (Bound::Included(lo), Bound::Excluded(hi)) => !lo.is_local() && *hi == above_locals(lo),
                _ => false,
            })
}

/// The least version above `v` and all its local versions (`1.2.3+anything < 1.2.3.post0.dev0`).
fn above_locals(v: &Version) -> Version {
    let v = v.clone().without_local();
    match (v.post(), v.dev()) {
        (_, Some(dev)) => v.with_dev(Some(dev + 1)),
        (Some(post), None) => v.with_post(Some(post + 1)).with_dev(Some(0)),
        (None, None) => v.with_post(Some(0)).with_dev(Some(0)),
    }
}

/// Whether a specifier names a pre-release, which opts its project in to pre-releases (pip's
/// `SpecifierSet.prereleases`: any clause but `!=` and `==V.*` whose version is a pre-release).
pub fn names_prerelease(specs: &VersionSpecifiers) -> bool {
    specs.iter().any(|s| !matches!(s.operator(), Operator::NotEqual | Operator::NotEqualStar | Operator::EqualStar) && s.version().any_prerelease())
}

/// Which pre-releases (alpha, beta, rc and dev releases) a project may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreReleases {
    /// PEP 440's default: a pre-release only where no final or post release is acceptable.
    IfNeeded,
    /// Any (`pre: true`, `--pre`, `--all-releases`, or a specifier naming a pre-release).
    Allow,
    /// None at all (`--only-final`).
    Deny,
}

/// The version to take from `versions` (ascending) among those `ok` accepts.
pub fn choose<'a>(versions: impl DoubleEndedIterator<Item = &'a Version>, ok: impl Fn(&Version) -> bool, pre: PreReleases) -> Option<&'a Version> {
    let mut newest_pre = None;
    for v in versions.rev().filter(|v| ok(v)) {
        if !v.any_prerelease() || pre == PreReleases::Allow {
            return Some(v);
        }
        newest_pre = newest_pre.or(Some(v));
    }
    newest_pre.filter(|_| pre == PreReleases::IfNeeded)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    fn spec(s: &str) -> VersionSpecifiers {
        VersionSpecifiers::from_str(s).unwrap()
    }

    #[track_caller]
    fn matches(s: &str, yes: &[&str], no: &[&str]) {
        let r = ranges(&spec(s));
        for y in yes {
            assert!(r.contains(&v(y)), "{s} must match {y}");
        }
        for n in no {
            assert!(!r.contains(&v(n)), "{s} must not match {n}");
        }
    }

    /// PEP 440, "Version matching", its three example lists, and its local version rules.
    #[test]
    fn version_matching() {
        // "given the version 1.1.post1"
        matches("==1.1", &[], &["1.1.post1"]);
        matches("==1.1.post1", &["1.1.post1"], &[]);
        matches("==1.1.*", &["1.1.post1"], &[]);
        // "given the version 1.1a1" (the prefix match takes it when pre-releases are requested)
        matches("==1.1", &[], &["1.1a1"]);
        matches("==1.1a1", &["1.1a1"], &[]);
        matches("==1.1.*", &["1.1a1"], &[]);
        // "Given the version 1.1"
        matches("==1.1", &["1.1"], &[]);
        matches("==1.1.0", &["1.1"], &[]);
        for s in ["==1.1.dev1", "==1.1a1", "==1.1.post1"] {
            matches(s, &[], &["1.1"]);
        }
        matches("==1.1.*", &["1.1"], &[]);
        // "If the specified version identifier is a public version identifier (no local version
        // label), then the local version label of any candidate versions MUST be ignored".
        matches("==1.2.3", &["1.2.3", "1.2.3+foo", "1.2.3+bar.1", "1.2.3+1"], &["1.2.3.post0", "1.2.3.dev0", "1.2.4"]);
        matches("==1.2.3.post1", &["1.2.3.post1+foo"], &["1.2.3.post2.dev0", "1.2.3+foo"]);
        matches("==1.2.3rc1", &["1.2.3rc1+foo"], &["1.2.3rc1.post0", "1.2.3"]);
        matches("==1.2.3.dev4", &["1.2.3.dev4+foo"], &["1.2.3.dev5", "1.2.3"]);
        // "If the specified version identifier is a local version identifier, then the local
        // version labels of candidate versions MUST be considered ... strict string equality".
        matches("==1.2.3+foo", &["1.2.3+foo"], &["1.2.3", "1.2.3+bar", "1.2.3+foo.1"]);
    }

    /// `==V` (local versions of V included) and `===V` pin; ranges, `==V.*` and `!=V` do not.
    #[test]
    fn pins() {
        for s in ["==1.2.3", "==2.9.0.post0", "==1.2.3+cpu", "===1.2.3", ">=1.0,==1.2.3"] {
            assert!(is_pin(&ranges(&spec(s))), "{s}");
        }
        for s in [">=1.2.3", "==1.2.*", "!=1.2.3", "~=1.2", ">=1.2.3,<=1.2.3.post0"] {
            assert!(!is_pin(&ranges(&spec(s))), "{s}");
        }
        assert!(!is_pin(&Ranges::empty()));
    }

    /// PEP 440, "Version exclusion": the matching rules with the sense inverted.
    #[test]
    fn version_exclusion() {
        matches("!=1.1", &["1.1.post1"], &["1.1", "1.1+local"]);
        matches("!=1.1.post1", &["1.1", "1.1.post2"], &["1.1.post1", "1.1.post1+local"]);
        matches("!=1.1.*", &["1.2", "1.0.9"], &["1.1.post1", "1.1.5", "1.1a1"]);
        matches("!=1.2.3+foo", &["1.2.3", "1.2.3+bar"], &["1.2.3+foo"]);
    }

    /// PEP 440, "Compatible release": `~=V.N` is `>=V.N, ==V.*`, a suffix ignored for the prefix.
    #[test]
    fn compatible_release() {
        matches("~=2.2", &["2.2", "2.9.1", "2.2.post1", "2.2+local"], &["3.0", "2.1", "3.0.dev0"]);
        matches("~=1.4.5", &["1.4.5", "1.4.99"], &["1.5.0", "1.4.4"]);
        matches("~=2.2.post3", &["2.2.post3", "2.3"], &["2.2", "2.2.post2", "3.0"]);
        matches("~=1.4.5a4", &["1.4.5a4", "1.4.5", "1.4.6"], &["1.4.5a3", "1.5"]);
        matches("~=2.2.0", &["2.2.0", "2.2.9"], &["2.3"]);
        matches("~=1.4.5.0", &["1.4.5.0", "1.4.5.7"], &["1.4.6"]);
    }

    /// PEP 440, "Inclusive ordered comparison": the version ordering, locals ignored.
    #[test]
    fn inclusive_ordered_comparison() {
        matches("<=1.2.3", &["1.2.3", "1.2.3+foo", "1.2.2", "1.2.3rc1"], &["1.2.3.post1", "1.2.4.dev0"]);
        matches(">=1.2.3", &["1.2.3", "1.2.3+foo", "1.2.3.post1", "2"], &["1.2.3rc1", "1.2.3.dev0", "1.2.2+foo"]);
        matches("<=1.2", &["1.2.0+foo"], &["1.2.0.post1"]);
    }

    /// PEP 440, "Exclusive ordered comparison": no pre-, post- or local release of V itself.
    #[test]
    fn exclusive_ordered_comparison() {
        // ">1.7 will allow 1.7.1 but not 1.7.0.post1 and >1.7.post2 will allow 1.7.1 and
        // 1.7.0.post3 but not 1.7.0."
        matches(">1.7", &["1.7.1", "1.8a1"], &["1.7", "1.7.0.post1", "1.7+local", "1.7.0+local"]);
        matches(">1.7.post2", &["1.7.1", "1.7.0.post3", "1.7.post3.dev0"], &["1.7.0", "1.7.post2", "1.7.post2+local"]);
        // "<V MUST NOT allow a pre-release of the specified version unless the specified version
        // is itself a pre-release ... <V.rc1 or similar."
        matches("<1.7", &["1.6.9", "1.6.9.post1", "1.6a1"], &["1.7", "1.7rc1", "1.7.dev0", "1.7+local"]);
        matches("<1.7rc1", &["1.7b2", "1.7.dev0", "1.6"], &["1.7rc1", "1.7rc2", "1.7"]);
        matches("<1.7.post2", &["1.7", "1.7.post1", "1.7rc1"], &["1.7.post2", "1.7.post2.dev0", "1.7.1"]);
        // Zero padding: `>1.7` is `>1.7.0`.
        matches(">1.7.0", &["1.7.1"], &["1.7", "1.7.0.post1"]);
    }

    /// PEP 440, "Version specifiers", Examples.
    #[test]
    fn specifier_examples() {
        matches("~=3.1", &["3.1", "3.9"], &["4.0"]);
        matches("~=3.1.2", &["3.1.2", "3.1.9"], &["3.2.0"]);
        matches("~=3.1a1", &["3.1a1", "3.1", "3.9"], &["4.0"]);
        matches("== 3.1", &["3.1", "3.1.0"], &["3.1a1", "3.1.post1", "3.1.dev1", "3.1.1"]);
        matches("== 3.1.*", &["3.1", "3.1.0", "3.1.7"], &["3.2", "3.0.9"]);
        for x in ["3.0.9", "3.1.0", "3.1.7", "3.2.0", "3.1.0.post1"] {
            assert_eq!(ranges(&spec("==3.1.*")).contains(&v(x)), ranges(&spec("~=3.1.0")).contains(&v(x)), "==3.1.* and ~=3.1.0 on {x}");
        }
        matches("~=3.1.0, != 3.1.3", &["3.1.0", "3.1.2", "3.1.4"], &["3.1.3", "3.2.0"]);
    }

    /// What pip 26.3 answers (`Specifier(s).contains(v, prereleases=True)`, packaging 26.3) on a
    /// grid around 1.0; pep440_rs's own point matching differs on `<1.0a2`, `>1.0.dev1` and
    /// `<1.0.post1`, and its ranges on locals.
    #[test]
    fn ranges_agree_with_pip() {
        let versions = [
            "0.9",
            "1.0.dev0",
            "1.0a1",
            "1.0a1.post1",
            "1.0a2",
            "1.0rc1",
            "1.0",
            "1.0+a",
            "1.0+b",
            "1.0.post1.dev0",
            "1.0.post1",
            "1.0.post1+a",
            "1.0.post2.dev0",
            "1.0.1",
            "1.1",
            "2.0",
        ];
        let pip = [
            ("==1.0", "0000001110000000"),
            ("!=1.0", "1111110001111111"),
            ("<=1.0", "1111111110000000"),
            (">=1.0", "0000001111111111"),
            ("<1.0", "1000000000000000"),
            (">1.0", "0000000000000111"),
            ("~=1.0", "0000001111111110"),
            ("==1.0.*", "0111111111111100"),
            ("!=1.0.*", "1000000000000011"),
            ("==1.0+a", "0000000100000000"),
            ("<1.0a2", "1111000000000000"),
            (">1.0a1", "0000111111111111"),
            (">1.0.dev1", "0011111111111111"),
            ("<=1.0.post1", "1111111111110000"),
            (">1.0.post1", "0000000000001111"),
            ("<1.0.post1", "1111111110000000"),
            (">=1.0rc1", "0000011111111111"),
        ];
        for (s, bits) in pip {
            let r = range(&VersionSpecifier::from_str(s).unwrap());
            for (x, bit) in versions.iter().zip(bits.chars()) {
                assert_eq!(r.contains(&v(x)), bit == '1', "{s} on {x}");
            }
        }
    }

    /// PEP 440, "Handling of pre-releases": a pre-release only where no final or post release
    /// satisfies the specifier; named in the specifier or opted in, any; `--only-final`, none.
    #[test]
    fn handling_of_pre_releases() {
        let all: Vec<Version> = ["0.9", "1.0", "1.1.post1", "2.0.dev3", "2.0b1"].iter().map(|s| v(s)).collect();
        let pick = |s: &str, pre: PreReleases| {
            let r = ranges(&spec(s));
            choose(all.iter(), |x| r.contains(x), pre).map(|x| x.to_string())
        };
        use PreReleases::*;
        // "Post-releases and final releases receive no special treatment".
        assert_eq!(pick(">=1.0", IfNeeded).as_deref(), Some("1.1.post1"));
        // Dev releases are pre-releases too.
        assert_eq!(pick(">=1.0,<2.0b1", IfNeeded).as_deref(), Some("1.1.post1"));
        // "accept remotely available pre-releases for version specifiers where there is no final
        // or post release that satisfies the version specifier"
        assert_eq!(pick(">=1.5", IfNeeded).as_deref(), Some("2.0b1"));
        assert_eq!(pick(">=1.5,<2.0b1", IfNeeded).as_deref(), Some("2.0.dev3"));
        // "accepting pre-releases for all version specifiers"
        assert_eq!(pick(">=1.0", Allow).as_deref(), Some("2.0b1"));
        // "excluding pre-releases for all version specifiers"
        assert_eq!(pick(">=1.5", Deny), None);
        assert_eq!(pick(">=0.9", Deny).as_deref(), Some("1.1.post1"));
        assert_eq!(pick(">=3", IfNeeded), None);
        // "explicitly requested by the user": a specifier naming a pre-release.
        for s in [">=1.0b1", "==2.0b1", "<=2.0b1", "~=1.0rc1", ">1.0.dev0", "<2.0.dev0"] {
            assert!(names_prerelease(&spec(s)), "{s} names a pre-release");
        }
        for s in [">=1.0", "!=2.0b1", "==2.*", ""] {
            assert!(!names_prerelease(&spec(s)), "{s} names no pre-release");
        }
    }
}
