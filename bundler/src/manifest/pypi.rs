//! `pypi:` entries: an index, requirements (inline or pip requirements files) and targets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ManifestError;

/// One PyPI-style index and the requirements resolved against it, for every target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PypiSpec {
    /// PEP 503/691 simple index URL, ending in `/`.
    pub index: String,
    /// Consulted only for projects `index` does not have (no dependency confusion).
    pub extra_indexes: Vec<String>,
    /// Target interpreters, `3.11`.
    pub python: Vec<String>,
    /// Wheel architectures (x86_64, aarch64), from `platforms:`.
    pub archs: Vec<String>,
    /// `glibc` (manylinux) or `musl` (musllinux), and its version.
    pub libc: String,
    pub libc_version: String,
    /// PEP 508 requirement strings, after reading any requirements file.
    pub requirements: Vec<String>,
    /// Requirements that only constrain (`-c` files).
    pub constraints: Vec<String>,
    /// `--hash=sha256:…` values of requirements-file lines, by normalized project: the file
    /// chosen for that project must have one of them (pip's hash-checking mode).
    pub hashes: BTreeMap<String, Vec<String>>,
    pub only_binary: bool,
    /// No sdist even for a project with no wheel for a target (a requirements file's
    /// `--only-binary :all:`, as pip reads it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wheels_only: bool,
    /// Which projects may take pre-releases beyond PEP 440's default.
    #[serde(skip_serializing_if = "Releases::is_default")]
    pub releases: Releases,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

/// Pre-release choices beyond PEP 440's default (a pre-release only where a specifier names one
/// or no final release fits): pip's release control. `pre: true` and `--pre` are
/// `--all-releases :all:`; `--all-releases`/`--only-final` take `:all:`, `:none:` or names.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Releases {
    /// For every project not named in `projects`: `true` any release, `false` finals only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// By normalized project name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, bool>,
}

impl Releases {
    /// `Some(true)`: pre-releases allowed; `Some(false)`: finals only; `None`: PEP 440's default.
    pub fn allows(&self, project: &str) -> Option<bool> {
        self.projects.get(project).copied().or(self.all)
    }

    fn is_default(&self) -> bool {
        *self == Releases::default()
    }

    /// One `--all-releases` (`any`) or `--only-final` value: `:all:`, `:none:` or names, comma
    /// separated; a later one overrides an earlier one, as pip applies them.
    fn apply(&mut self, any: bool, value: &str) {
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                ":all:" => {
                    self.all = Some(any);
                    self.projects.clear();
                }
                ":none:" => {
                    self.all = self.all.filter(|a| *a != any);
                    self.projects.retain(|_, a| *a != any);
                }
                name => {
                    self.projects.insert(crate::format::pypi::normalize(name), any);
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPypi {
    index: Option<String>,
    #[serde(default)]
    extra_indexes: Vec<String>,
    python: Option<Vec<String>>,
    glibc: Option<String>,
    libc: Option<String>,
    musl: Option<String>,
    #[serde(default)]
    requirements: Vec<String>,
    requirements_file: Option<String>,
    only_binary: Option<bool>,
    /// Pre-releases for every project (pip's `--pre`).
    #[serde(default)]
    pre: bool,
}

pub const PYPI_DEFAULT_INDEX: &str = "https://pypi.org/simple/";

/// The wheel architecture of an OCI platform (`linux/arm64` → `aarch64`).
pub fn wheel_arch(platform: &str) -> Option<String> {
    let mut p = platform.split('/');
    let (os, arch) = (p.next()?, p.next()?);
    if os != "linux" {
        return None;
    }
    Some(match arch {
        "amd64" => "x86_64".into(),
        "arm64" => "aarch64".into(),
        "386" => "i686".into(),
        "arm" => "armv7l".into(),
        a => a.into(),
    })
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

fn pypi_spec(raw: RawPypi, platforms: &[String], base: &Path) -> Result<PypiSpec, String> {
    let mut index = with_slash(raw.index.as_deref().unwrap_or(PYPI_DEFAULT_INDEX));
    let mut extra: Vec<String> = raw.extra_indexes.iter().map(|u| with_slash(u)).collect();
    let mut requirements = raw.requirements.clone();
    let mut constraints = Vec::new();
    let mut hashes = BTreeMap::new();
    let mut opts = FileOptions::default();
    if let Some(f) = &raw.requirements_file {
        let mut seen = Vec::new();
        let mut files = ReqFiles { reqs: &mut requirements, cons: &mut constraints, extra: &mut extra, hashes: &mut hashes, seen: &mut seen, opts: &mut opts };
        let file_index = files.read(&base.join(f), 0)?;
        if let Some(i) = file_index {
            if raw.index.is_none() {
                index = with_slash(&i);
            }
        }
    }
    for u in std::iter::once(&index).chain(&extra) {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(format!("pypi index {u:?} must be an http:// or https:// URL"));
        }
        // Over plain HTTP there is nothing to trust; TLS is always verified.
        let authority = u.strip_prefix("https://").map(|r| r.split('/').next().unwrap_or_default());
        if let Some((host, at)) = opts.trusted_hosts.iter().find(|(h, _)| authority.is_some_and(|a| a == h || a.split(':').next() == Some(h.as_str()))) {
            return Err(format!("{at}: `--trusted-host {host}` would skip TLS verification for {u}; bundler always verifies it: give the index's http:// URL, or make its certificate one this machine trusts"));
        }
    }
    let mut releases = opts.releases.clone();
    if raw.pre || opts.pre {
        if opts.release_control {
            return Err("`--pre` (or `pre: true`) and --all-releases/--only-final cannot be combined (pip refuses it too); keep one".into());
        }
        releases = Releases { all: Some(true), projects: BTreeMap::new() };
    }
    if let (Some(false), Some(at)) = (raw.only_binary, &opts.binary) {
        return Err(format!("`only_binary: false` contradicts {at}; remove one"));
    }
    for r in requirements.iter().chain(&constraints) {
        crate::sources::pypi::parse_requirement(r).map_err(|e| format!("requirement {r:?} is not valid PEP 508: {e}"))?;
    }
    if requirements.is_empty() {
        return Err("pypi entry has no `requirements:` (or `requirements_file:`)".into());
    }
    let python = raw.python.unwrap_or_else(|| vec!["3.11".into()]);
    for v in &python {
        let ok = v.split('.').count() == 2 && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("python {v:?} must be MAJOR.MINOR, e.g. \"3.11\""));
        }
    }
    let mut archs: Vec<String> = platforms.iter().filter_map(|p| wheel_arch(p)).collect();
    archs.dedup();
    if archs.is_empty() {
        return Err("no linux platform in `platforms:` to pick wheels for".into());
    }
    let libc = raw.libc.clone().unwrap_or_else(|| "glibc".into());
    let libc_version = match libc.as_str() {
        "glibc" => raw.glibc.clone().unwrap_or_else(|| "2.17".into()),
        "musl" => raw.musl.clone().unwrap_or_else(|| "1.2".into()),
        other => return Err(format!("libc {other:?} must be glibc or musl")),
    };
    let ok = libc_version.split('.').count() == 2 && libc_version.split('.').all(|p| p.parse::<u32>().is_ok());
    if !ok {
        return Err(format!("{libc} version {libc_version:?} must be MAJOR.MINOR"));
    }
    Ok(PypiSpec {
        index,
        extra_indexes: extra,
        python,
        archs,
        libc,
        libc_version,
        requirements,
        constraints,
        hashes,
        only_binary: raw.only_binary.unwrap_or(true),
        wheels_only: opts.wheels_only,
        releases,
        file: String::new(),
        line: 0,
    })
}

/// What pip requirements files add up to.
struct ReqFiles<'a> {
    reqs: &'a mut Vec<String>,
    cons: &'a mut Vec<String>,
    extra: &'a mut Vec<String>,
    hashes: &'a mut BTreeMap<String, Vec<String>>,
    seen: &'a mut Vec<PathBuf>,
    opts: &'a mut FileOptions,
}

/// Requirements-file options that apply to the whole entry.
#[derive(Default)]
struct FileOptions {
    /// `--pre`.
    pre: bool,
    /// `--all-releases` / `--only-final`, applied in file order.
    releases: Releases,
    release_control: bool,
    /// `--only-binary :all:` or `--prefer-binary` (where, for a conflict with `only_binary: false`).
    binary: Option<String>,
    /// `--only-binary :all:`: not even an sdist for a project without wheels.
    wheels_only: bool,
    /// `--trusted-host` values, with where they were given.
    trusted_hosts: Vec<(String, String)>,
}

impl ReqFiles<'_> {
    /// A pip requirements file: requirement lines (with their `--hash` options), `-r`/`-c`
    /// includes, `--index-url`, `--extra-index-url`, and the options that set what may be
    /// chosen (pre-releases, binaries); comments dropped. An option bundler cannot honour is an
    /// error, never ignored. Returns the file's `--index-url`, if any.
    fn read(&mut self, path: &Path, depth: usize) -> Result<Option<String>, String> {
        if depth > 8 || self.seen.contains(&path.to_path_buf()) {
            return Err(format!("requirements file {} includes itself", path.display()));
        }
        self.seen.push(path.to_path_buf());
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read requirements file {}: {e}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut index = None;
        let joined = text.replace("\\\n", " ");
        for (n, line) in joined.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{} line {}", path.display(), n + 1);
            let (opt, rest) = line.split_once([' ', '=']).map(|(a, b)| (a, b.trim())).unwrap_or((line, ""));
            match opt {
                "-r" | "--requirement" => {
                    index = index.or(self.read(&dir.join(rest), depth + 1)?);
                }
                "-c" | "--constraint" => {
                    let mut sub = Vec::new();
                    let mut files = ReqFiles { reqs: &mut sub, cons: &mut *self.cons, extra: &mut *self.extra, hashes: &mut *self.hashes, seen: &mut *self.seen, opts: &mut *self.opts };
                    files.read(&dir.join(rest), depth + 1)?;
                    self.cons.extend(sub);
                }
                "-i" | "--index-url" => index = Some(rest.to_string()),
                "--extra-index-url" => self.extra.push(with_slash(rest)),
                "--pre" => self.opts.pre = true,
                "--all-releases" | "--only-final" if !rest.is_empty() => {
                    self.opts.releases.apply(opt == "--all-releases", rest);
                    self.opts.release_control = true;
                }
                "--only-binary" if rest == ":all:" => {
                    self.opts.wheels_only = true;
                    self.opts.binary = Some(format!("{at} (`--only-binary :all:`)"));
                }
                "--prefer-binary" => self.opts.binary = Some(format!("{at} (`--prefer-binary`)")),
                "--only-binary" | "--no-binary" => {
                    return Err(format!(
                        "{at}: `{line}`: per-project binary choices are not supported; `only_binary:` on the pypi: entry covers every project (true, the default: wheels, an sdist only for a project with no wheel for a target; false: sdists too); `--only-binary :all:` is read"
                    ))
                }
                "--find-links" | "-f" | "--no-index" => {
                    return Err(format!("{at}: `{opt}`: bundler reads simple (PEP 503/691) indexes only; serve those files from one and name it with --index-url, --extra-index-url or `extra_indexes:`"))
                }
                "--trusted-host" if !rest.is_empty() => self.opts.trusted_hosts.push((rest.to_string(), at.clone())),
                o if o.starts_with('-') => {
                    return Err(format!(
                        "{at}: option {o} is not supported (read are -r, -c, --index-url, --extra-index-url, --pre, --all-releases, --only-final, --only-binary :all:, --prefer-binary, --trusted-host and --hash); remove it"
                    ))
                }
                _ => {
                    // `pkg==1.0 --hash=sha256:...`: the requirement is what precedes the options.
                    let mut parts = line.split(" --");
                    let req = parts.next().unwrap_or(line).trim();
                    for o in parts {
                        let o = o.trim();
                        let Some(h) = o.strip_prefix("hash=").or_else(|| o.strip_prefix("hash ")) else {
                            return Err(format!("{} line {}: option --{o} is not supported", path.display(), n + 1));
                        };
                        let hex = h.trim().strip_prefix("sha256:").ok_or_else(|| format!("{} line {}: only sha256 hashes are supported, got {h}", path.display(), n + 1))?;
                        let name = crate::sources::pypi::parse_requirement(req).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?.name.to_string();
                        self.hashes.entry(crate::format::pypi::normalize(&name)).or_default().push(hex.to_ascii_lowercase());
                    }
                    self.reqs.push(req.to_string());
                }
            }
        }
        Ok(index)
    }
}

/// One `pypi:` entry, read once the manifest's platforms are known.
pub(super) fn add(pypi: &mut Vec<PypiSpec>, raw: RawPypi, platforms: &[String], base: &Path, file: String, line: u64) -> Result<(), ManifestError> {
    let spec = pypi_spec(raw, platforms, base).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
    pypi.push(PypiSpec { file, line, ..spec });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{tests::write, Manifest};

    #[test]
    fn requirements_file_options_are_read_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let load = |reqs: &str, entry: &str| {
            write(d.path(), "r.txt", reqs);
            let m = write(d.path(), "m.yaml", &format!("platforms: [linux/amd64]\npypi:\n  - requirements_file: r.txt\n{entry}"));
            Manifest::load(&[m]).map(|m| m.pypi[0].clone()).map_err(|e| e.to_string())
        };
        let plain = load("a\n", "").unwrap();
        assert_eq!((plain.releases.allows("a"), plain.only_binary, plain.wheels_only), (None, true, false));
        // Without the new options an entry serializes as before: bundles.lock's pypi_request holds.
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("releases") && !json.contains("wheels_only"), "{json}");
        assert_eq!(load("--pre\na\n", "").unwrap().releases.allows("a"), Some(true));
        assert_eq!(load("a\n", "    pre: true\n").unwrap().releases.allows("a"), Some(true));
        // pip's release control: `:all:` then names, a later option overriding an earlier one.
        let r = load("--only-final :all:\n--all-releases Foo_Bar,baz\n--only-final=baz\na\n", "").unwrap().releases;
        assert_eq!((r.allows("foo-bar"), r.allows("baz"), r.allows("a")), (Some(true), Some(false), Some(false)));
        assert_eq!(load("--all-releases a\n--all-releases :none:\na\n", "").unwrap().releases.allows("a"), None);
        let e = load("--pre\n--only-final x\na\n", "").unwrap_err();
        assert!(e.contains("--pre") && e.contains("--only-final"), "{e}");
        let e = load("--only-final x\na\n", "    pre: true\n").unwrap_err();
        assert!(e.contains("pre: true"), "{e}");
        // Binaries: `--only-binary :all:` refuses sdists outright; `--prefer-binary` is the default.
        let strict = load("--only-binary=:all:\na\n", "").unwrap();
        assert!(strict.only_binary && strict.wheels_only);
        let prefer = load("--prefer-binary\na\n", "").unwrap();
        assert!(prefer.only_binary && !prefer.wheels_only);
        let e = load("--only-binary :all:\na\n", "    only_binary: false\n").unwrap_err();
        assert!(e.contains("only_binary: false") && e.contains("r.txt line 1"), "{e}");
        for (line, needle) in [
            ("--no-binary :all:", "only_binary:"),
            ("--only-binary foo", "only_binary:"),
            ("--find-links /srv/wheels", "simple"),
            ("-f /srv/wheels", "simple"),
            ("--no-index", "simple"),
            ("--use-feature fast-deps", "not supported"),
            ("-e .", "not supported"),
            ("a --config-settings x=y", "not supported"),
        ] {
            let e = load(&format!("{line}\na\n"), "").unwrap_err();
            assert!(e.contains("r.txt line 1") && e.contains(needle), "{line}: {e}");
        }
        // `--trusted-host`: nothing to trust over plain HTTP; never a skipped TLS check.
        assert!(load("--trusted-host 127.0.0.1\na\n", "").is_ok());
        let e = load("--index-url https://pypi.example:8443/simple/\n--trusted-host pypi.example\na\n", "").unwrap_err();
        assert!(e.contains("--trusted-host pypi.example") && e.contains("TLS"), "{e}");
    }
}
