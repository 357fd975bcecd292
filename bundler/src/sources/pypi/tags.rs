//! Which files fit a target: wheel file names (PEP 427/491), the target's compatible tags in
//! preference order (as `packaging.tags.sys_tags` orders them for CPython), and the PEP 508
//! marker environment of the target.

use std::collections::HashMap;

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

/// One target: CPython X.Y on Linux with a libc baseline and an architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub python: (u32, u32),
    pub arch: String,
    /// `glibc` or `musl`.
    pub libc: String,
    pub libc_version: (u32, u32),
}

impl Target {
    /// `cp311-manylinux_2_17_x86_64`.
    pub fn name(&self) -> String {
        format!("cp{}{}-{}", self.python.0, self.python.1, self.platforms()[0])
    }

    /// Platform tags, best first: `manylinux_2_17_x86_64, manylinux2014_x86_64, manylinux_2_16…`.
    pub fn platforms(&self) -> Vec<String> {
        let a = &self.arch;
        let (major, top) = self.libc_version;
        let mut out = Vec::new();
        if self.libc == "musl" {
            for minor in (0..=top).rev() {
                out.push(format!("musllinux_{major}_{minor}_{a}"));
            }
            return out;
        }
        // manylinux2014 was the first policy for the non-x86 architectures.
        let lowest = if matches!(a.as_str(), "x86_64" | "i686") { 5 } else { 17 };
        for minor in (lowest..=top).rev() {
            out.push(format!("manylinux_{major}_{minor}_{a}"));
            match (minor, a.as_str()) {
                (17, _) => out.push(format!("manylinux2014_{a}")),
                (12, "x86_64" | "i686") => out.push(format!("manylinux2010_{a}")),
                (5, "x86_64" | "i686") => out.push(format!("manylinux1_{a}")),
                _ => {}
            }
        }
        out
    }

    /// Every compatible (python, abi, platform) tag, best first.
    pub fn tags(&self) -> Vec<(String, String, String)> {
        let (maj, min) = self.python;
        let cp = format!("cp{maj}{min}");
        let plats = self.platforms();
        let mut out = Vec::new();
        let mut push = |py: &str, abi: &str, plats: &[String]| {
            for p in plats {
                out.push((py.to_string(), abi.to_string(), p.clone()));
            }
        };
        push(&cp, &cp, &plats);
        push(&cp, "abi3", &plats);
        push(&cp, "none", &plats);
        for m in (2..min).rev() {
            push(&format!("cp{maj}{m}"), "abi3", &plats);
        }
        let mut pys = vec![format!("py{maj}{min}"), format!("py{maj}")];
        pys.extend((0..min).rev().map(|m| format!("py{maj}{m}")));
        for py in &pys {
            push(py, "none", &plats);
        }
        let any = ["any".to_string()];
        push(&cp, "none", &any);
        for py in &pys {
            push(py, "none", &any);
        }
        out
    }

    pub fn markers(&self) -> MarkerEnvironment {
        let (maj, min) = self.python;
        let v = format!("{maj}.{min}");
        let full = format!("{maj}.{min}.0");
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name: "posix",
            platform_machine: &self.arch,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &full,
            python_version: &v,
            sys_platform: "linux",
        })
        .expect("versions we format parse")
    }
}

/// Tag → preference (lower is better) for one target.
pub struct TagRanks(HashMap<(String, String, String), usize>);

impl TagRanks {
    pub fn new(t: &Target) -> TagRanks {
        let mut m = HashMap::new();
        for (i, tag) in t.tags().into_iter().enumerate() {
            m.entry(tag).or_insert(i);
        }
        TagRanks(m)
    }

    /// The best rank of any tag a wheel carries, or `None` if it does not fit.
    pub fn rank(&self, w: &WheelName) -> Option<usize> {
        w.tags().filter_map(|t| self.0.get(&t).copied()).min()
    }
}

/// A parsed `name-version(-build)?-py-abi-plat.whl`; compressed tag sets (`py2.py3`) expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: String,
    pub version: String,
    pub py: Vec<String>,
    pub abi: Vec<String>,
    pub plat: Vec<String>,
}

impl WheelName {
    pub fn parse(filename: &str) -> Option<WheelName> {
        let stem = filename.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, rest) = match parts.len() {
            5 => (parts[0], parts[1], &parts[2..]),
            6 => (parts[0], parts[1], &parts[3..]),
            _ => return None,
        };
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        Some(WheelName { name: name.to_string(), version: version.to_string(), py: split(rest[0]), abi: split(rest[1]), plat: split(rest[2]) })
    }

    pub fn tags(&self) -> impl Iterator<Item = (String, String, String)> + '_ {
        self.py.iter().flat_map(move |p| self.abi.iter().flat_map(move |a| self.plat.iter().map(move |pl| (p.clone(), a.clone(), pl.clone()))))
    }
}

/// `name-version.tar.gz` / `.zip` sdists: (name, version).
pub fn sdist_name(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".tar.gz").or_else(|| filename.strip_suffix(".zip"))?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((name.to_string(), version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(arch: &str) -> Target {
        Target { python: (3, 11), arch: arch.into(), libc: "glibc".into(), libc_version: (2, 17) }
    }

    #[test]
    fn tag_preferences() {
        let x86 = TagRanks::new(&t("x86_64"));
        let w = |f: &str| WheelName::parse(f).unwrap();
        let native = x86.rank(&w("numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")).unwrap();
        let abi3 = x86.rank(&w("cryptography-42.0.0-cp39-abi3-manylinux_2_17_x86_64.whl")).unwrap();
        let pure = x86.rank(&w("six-1.16.0-py2.py3-none-any.whl")).unwrap();
        assert!(native < abi3 && abi3 < pure);
        assert!(x86.rank(&w("numpy-2.0.0-cp311-cp311-manylinux_2_28_x86_64.whl")).is_none(), "needs glibc 2.28");
        assert!(x86.rank(&w("numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl")).is_none());
        assert!(x86.rank(&w("numpy-2.0.0-cp311-cp311-manylinux_2_17_aarch64.whl")).is_none());
        assert!(x86.rank(&w("old-1.0-cp311-cp311-manylinux1_x86_64.whl")).is_some());
        assert!(x86.rank(&w("x-1.0-cp311-cp311-linux_x86_64.whl")).is_none(), "not portable");
        let arm = TagRanks::new(&t("aarch64"));
        assert!(arm.rank(&w("numpy-2.0.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")).is_some());
        assert_eq!(t("x86_64").name(), "cp311-manylinux_2_17_x86_64");
        assert_eq!(sdist_name("foo_bar-1.0.tar.gz"), Some(("foo_bar".into(), "1.0".into())));
        assert_eq!(WheelName::parse("pkg-1.0-1-py3-none-any.whl").unwrap().version, "1.0");
    }
}
