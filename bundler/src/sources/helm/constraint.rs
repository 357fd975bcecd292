//! Chart version constraints as helm reads them: Masterminds semver v3 (`NewConstraint`,
//! `Check`, `NewVersion`), not Cargo's rules. The differences that change which chart is
//! picked: a bare `1.2` is `~1.2` (and `1.2.3` exactly 1.2.3); `~1` is `>=1.0.0 <2.0.0`;
//! `1.2 - 1.4.5` is `>=1.2 <=1.4.5`; `<=1.4` takes every 1.4.x; `>1.2` means 1.3.0 or later;
//! and a pre-release matches only comparisons that themselves name a pre-release, each one
//! (`>=1.0.0-0 <2.0.0` takes no pre-release, as `<2.0.0` names none).

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// A version as helm reads one from an index: semver with an optional `v`, and the minor or
/// patch left out meaning 0 (`NewVersion`, the lenient parser).
pub fn parse_version(s: &str) -> Option<Version> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (s, build) = match s.split_once('+') {
        Some((s, b)) => (s, BuildMetadata::new(b).ok()?),
        None => (s, BuildMetadata::EMPTY),
    };
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Prerelease::new(p).ok()?),
        None => (s, Prerelease::EMPTY),
    };
    let mut nums = [0u64; 3];
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for (n, p) in nums.iter_mut().zip(&parts) {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *n = p.parse().ok()?;
    }
    Some(Version { major: nums[0], minor: nums[1], patch: nums[2], pre, build })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// One comparison; `minor_dirty`/`patch_dirty` when that part was left out or a wildcard.
#[derive(Debug, Clone)]
struct Term {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// `||` alternatives of comparisons that must all hold.
#[derive(Debug, Clone)]
pub struct Constraint {
    any: Vec<Vec<Term>>,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// Precedence, build metadata ignored (Masterminds `Compare`).
fn cmp(a: &Version, b: &Version) -> Ordering {
    a.cmp_precedence(b)
}

const OPS: &[(&str, Op)] = &[
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("!=", Op::NotEqual),
    ("~>", Op::Tilde),
    (">", Op::Greater),
    ("<", Op::Less),
    ("=", Op::TildeOrEqual),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

impl Term {
    fn parse(op: Op, ver: &str) -> Result<Term, String> {
        let bad = || format!("improper constraint: {ver:?}");
        let body = ver.strip_prefix('v').unwrap_or(ver);
        // Wildcards may only stand in the numeric parts; the tail (-pre, +build) is kept.
        let tail_at = body.find(['-', '+']).unwrap_or(body.len());
        let (core, tail) = body.split_at(tail_at);
        let parts: Vec<&str> = core.split('.').collect();
        if core.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !(is_x(p) || p.bytes().all(|b| b.is_ascii_digit()))) {
            return Err(bad());
        }
        let pre_only = tail.split('+').next().unwrap_or("");
        let (text, dirty, minor_dirty, patch_dirty) = if is_x(parts[0]) {
            (format!("0.0.0{pre_only}"), true, false, false)
        } else if parts.len() < 2 || is_x(parts[1]) {
            (format!("{}.0.0{pre_only}", parts[0]), true, true, false)
        } else if parts.len() < 3 || is_x(parts[2]) {
            (format!("{}.{}.0{pre_only}", parts[0], parts[1]), true, false, true)
        } else {
            (body.to_string(), false, false, false)
        };
        let con = parse_version(&text).ok_or_else(bad)?;
        Ok(Term { op, con, dirty, minor_dirty, patch_dirty })
    }

    fn check(&self, v: &Version) -> bool {
        // Masterminds issue 21: a pre-release matches only a comparison naming one — except
        // `!=` with a full version, which helm lets pass (`!=2.1.0` takes 3.1.0-alpha.1).
        if !v.pre.is_empty() && self.con.pre.is_empty() && (self.op != Op::NotEqual || self.dirty) {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => cmp(v, c).is_eq(),
            Op::Tilde => self.tilde(v),
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.minor != v.minor {
                        return true;
                    }
                    if self.patch_dirty {
                        return (!v.pre.is_empty() || !c.pre.is_empty()) && v.pre != c.pre;
                    }
                }
                !cmp(v, c).is_eq()
            }
            Op::Greater => {
                if !self.dirty {
                    return cmp(v, c).is_gt();
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if self.minor_dirty => false,
                    Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                    Ordering::Equal => cmp(v, c).is_gt(),
                }
            }
            Op::Less => cmp(v, c).is_lt(),
            Op::GreaterEqual => cmp(v, c).is_ge(),
            Op::LessEqual => {
                if !self.dirty {
                    return cmp(v, c).is_le();
                }
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if cmp(v, c).is_lt() {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (self.minor_dirty || v.minor == c.minor)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if cmp(v, c).is_lt() {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// `a - b` (spaces around the dash) is `>= a, <= b`.
fn rewrite_ranges(s: &str) -> String {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if i + 2 < toks.len() && toks[i + 1] == "-" && !toks[i].starts_with(|c: char| "<>=!~^".contains(c)) {
            out.push(format!(">={}", toks[i]));
            out.push(format!("<={}", toks[i + 2]));
            i += 3;
        } else {
            out.push(toks[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

impl Constraint {
    /// Masterminds `NewConstraint`: an empty constraint is `*`.
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let s = rewrite_ranges(s);
        let mut any = Vec::new();
        for alt in s.split("||") {
            let mut all = Vec::new();
            let mut pending: Option<Op> = None;
            for tok in alt.split(|ch: char| ch == ',' || ch.is_whitespace()).filter(|t| !t.is_empty()) {
                let (op, rest) = match OPS.iter().find(|(p, _)| tok.starts_with(p)) {
                    Some((p, op)) => (Some(*op), &tok[p.len()..]),
                    None => (None, tok),
                };
                let op = match (pending.take(), op) {
                    (Some(_), Some(_)) => return Err(format!("improper constraint: {alt:?}")),
                    (p, o) => p.or(o),
                };
                if rest.is_empty() {
                    if op.is_none() {
                        return Err(format!("improper constraint: {alt:?}"));
                    }
                    pending = op;
                    continue;
                }
                all.push(Term::parse(op.unwrap_or(Op::TildeOrEqual), rest)?);
            }
            if pending.is_some() {
                return Err(format!("improper constraint: {alt:?}"));
            }
            if all.is_empty() {
                if !alt.trim().is_empty() || s.contains("||") {
                    return Err(format!("improper constraint: {alt:?}"));
                }
                all.push(Term::parse(Op::TildeOrEqual, "*")?);
            }
            any.push(all);
        }
        Ok(Constraint { any })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.any.iter().any(|all| all.iter().all(|t| t.check(v)))
    }
}

/// What helm's `IndexFile.Get` returns: a version string equal to the constraint, else the
/// highest version satisfying it (no constraint: `*`, so the highest stable one).
pub fn pick<'a>(constraint: Option<&str>, versions: impl Iterator<Item = &'a str> + Clone) -> Result<Option<&'a str>, String> {
    let c = constraint.filter(|c| !c.is_empty());
    let parsed = Constraint::parse(c.unwrap_or("*"))?;
    if let Some(exact) = c.and_then(|c| versions.clone().find(|v| *v == c)) {
        return Ok(Some(exact));
    }
    let mut best: Option<(Version, &str)> = None;
    for raw in versions {
        let Some(v) = parse_version(raw) else { continue };
        if parsed.matches(&v) && best.as_ref().is_none_or(|(b, _)| cmp(&v, b).is_gt()) {
            best = Some((v, raw));
        }
    }
    Ok(best.map(|(_, s)| s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases where Cargo's rules (the `semver` crate) and helm's disagree; helm's picks were
    /// checked with helm 3.17 (tests/tests/charts_models/helm_constraints.rs runs the full table).
    #[test]
    fn helm_rules_not_cargo_rules() {
        let vs = ["1.0.0", "1.2.0-rc.1", "1.2.0", "1.2.10", "1.4.6", "2.0.0-beta", "2.1.0", "v3.0.0", "3.1.0-alpha.1"];
        let p = |c: &str| pick(Some(c), vs.iter().copied()).unwrap();
        assert_eq!(p("~>1.2"), Some("1.2.10"));
        assert_eq!(p("1.2 - 1.4.5"), Some("1.2.10"));
        assert_eq!(p("1.0.0 - 1.4"), Some("1.4.6"), "a dirty upper bound takes the whole minor");
        assert_eq!(p("!=2.1.0"), Some("3.1.0-alpha.1"), "helm's != lets a pre-release through");
        assert_eq!(p(">=1.0.0-0"), Some("3.1.0-alpha.1"), "any pre-release once the constraint names one");
        assert_eq!(p(">=1.2.0-0 <1.2.0"), None, "each comparison must name a pre-release");
        assert_eq!(p("1.2"), Some("1.2.10"), "a bare major.minor is ~");
        assert_eq!(p("1.2.0"), Some("1.2.0"), "a bare full version is exact");
        assert_eq!(pick(None, vs.iter().copied()).unwrap(), Some("v3.0.0"));
        assert_eq!(p("3.1.0-alpha.1"), Some("3.1.0-alpha.1"));
        for bad in [">= nope", "1.2.3 ||", ">=", "1.2.3.4", "~ ~1"] {
            assert!(Constraint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn index_versions_parse_leniently() {
        assert_eq!(parse_version("v1.2").unwrap(), Version::new(1, 2, 0));
        assert_eq!(parse_version("2").unwrap(), Version::new(2, 0, 0));
        assert_eq!(parse_version("1.2.3-rc.1+b5").unwrap().pre.as_str(), "rc.1");
        assert!(parse_version("1.2.x").is_none() && parse_version("").is_none() && parse_version("1..2").is_none());
    }
}
