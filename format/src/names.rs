//! Names that become URL path segments, file names and repository components: the rules the
//! bundler checks a manifest against and the mirror checks a bundle against.

/// Chart names become URL path segments and OCI repository components.
pub fn valid_chart_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// A served file name: one path segment of safe characters.
pub fn valid_file_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 255 && !n.starts_with('.') && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+~".contains(&b))
}

/// Ids, suites, components and architectures become URL path segments on the mirror.
pub fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+~".contains(&b))
}

/// Repository names as the distribution spec allows them, with a registry host (and port)
/// as the first component: `docker.io/library/x`, `127.0.0.1:5001/test/x`.
pub fn valid_repo_name(name: &str) -> bool {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    let mut parts = name.split('/');
    let host = parts.next().unwrap_or_default();
    // The first component may be a host with a port (or a bracketless IP with a port).
    let host_ok = match host.split_once(':') {
        Some((h, port)) => component_ok(h) && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => component_ok(host),
    };
    name.len() <= 255 && host_ok && parts.all(component_ok)
}

/// A tag as the distribution spec allows it: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A name that does not follow its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {rule}")]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A string checked against its rule when it is made, parsed or deserialized, so holding one
/// means the check was done.
macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $check:path, $what:literal, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub const RULE: &'static str = $rule;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<$ty, NameError> {
                if $check(&s) {
                    Ok($ty(s))
                } else {
                    Err(NameError { what: $what, value: s, rule: $rule })
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<$ty, NameError> {
                $ty::try_from(s.to_string())
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, o: &str) -> bool {
                self.0 == o
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, o: &&str) -> bool {
                self.0 == *o
            }
        }
    };
}

name_type!(
    /// An OCI repository name with its registry host first (`docker.io/library/postgres`).
    RepoName,
    valid_repo_name,
    "repository name",
    "lowercase path components of letters, digits and `._-` (each starting and ending with a letter or digit), the first a registry host with an optional port"
);
name_type!(
    /// An OCI tag.
    Tag,
    valid_tag,
    "tag",
    "up to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
);
name_type!(
    /// A Helm chart name: a URL path segment and an OCI repository component (`charts/<name>`).
    ChartName,
    valid_chart_name,
    "chart name",
    "lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"
);
name_type!(
    /// A served file name (`/files/<name>`): one path segment.
    FileName,
    valid_file_name,
    "file name",
    "one path segment of letters, digits and `-_.+~`, not starting with `.`"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_and_tags() {
        for good in ["docker.io/library/x", "127.0.0.1:5001/test/x", "localhost/a_b/c-d.e", "nvcr.io/nvidia/cuda"] {
            assert!(good.parse::<RepoName>().is_ok(), "{good}");
        }
        for bad in ["", "Docker.io/x", "docker.io//x", "docker.io/../x", "docker.io/x/", "a:b/c:d", "-x/y"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
        assert!("1.0_rc-1".parse::<Tag>().is_ok());
        for bad in [".x", "a/b", "", "-x"] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
    }

    /// Deserializing checks the rule: a crafted lock or config cannot smuggle a path in.
    #[test]
    fn names_are_checked_when_deserialized() {
        let ok: ChartName = serde_json::from_str("\"ingress-nginx\"").unwrap();
        assert_eq!(ok, "ingress-nginx");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"ingress-nginx\"");
        let e = serde_json::from_str::<ChartName>("\"../etc\"").unwrap_err().to_string();
        assert!(e.contains("chart name \"../etc\" is not valid"), "{e}");
        assert!(serde_json::from_str::<FileName>("\"a/b\"").is_err());
        assert!(serde_json::from_str::<FileName>("\".hidden\"").is_err());
        assert!(serde_json::from_str::<RepoName>("\"docker.io/Library/x\"").is_err());
        assert!(serde_json::from_str::<Tag>("\"1.0\"").is_ok());
    }
}
