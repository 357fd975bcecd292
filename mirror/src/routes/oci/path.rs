//! Parsing `/v2/<name>/<endpoint>`. Repository names contain slashes, so the endpoint is
//! found from the right: the last `/manifests/`, `/blobs/`, `/referrers/` whose remainder has
//! no slash, or a `/tags/list` suffix.

#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    Catalog,
    Tags {
        name: String,
    },
    Manifest {
        name: String,
        reference: String,
    },
    Blob {
        name: String,
        digest: String,
    },
    Referrers {
        name: String,
        digest: String,
    },
    /// `/v2/<name>/blobs/uploads/`: start an upload (or mount).
    UploadStart {
        name: String,
    },
    /// `/v2/<name>/blobs/uploads/<id>`: an upload session.
    Upload {
        name: String,
        id: String,
    },
}

pub fn parse(path: &str) -> Option<Endpoint> {
    if path == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    if let Some(name) = path.strip_suffix("/tags/list") {
        return (!name.is_empty()).then(|| Endpoint::Tags { name: name.to_string() });
    }
    if let Some(name) = path.strip_suffix("/blobs/uploads/").or_else(|| path.strip_suffix("/blobs/uploads")) {
        return (!name.is_empty()).then(|| Endpoint::UploadStart { name: name.to_string() });
    }
    let split = |marker: &str| -> Option<(String, String)> {
        let i = path.rfind(marker)?;
        let (name, rest) = (&path[..i], &path[i + marker.len()..]);
        (!name.is_empty() && !rest.is_empty() && !rest.contains('/')).then(|| (name.to_string(), rest.to_string()))
    };
    if let Some((name, reference)) = split("/manifests/") {
        return Some(Endpoint::Manifest { name, reference });
    }
    if let Some((name, id)) = split("/blobs/uploads/") {
        return Some(Endpoint::Upload { name, id });
    }
    if let Some((name, digest)) = split("/blobs/") {
        return Some(Endpoint::Blob { name, digest });
    }
    if let Some((name, digest)) = split("/referrers/") {
        return Some(Endpoint::Referrers { name, digest });
    }
    None
}

/// containerd's mirror mode sends `library/x?ns=docker.io`; repositories are stored with the
/// registry host first, so the two meet here.
pub fn canonical_name(name: &str, ns: Option<&str>) -> String {
    match ns.map(canonical_registry) {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

fn canonical_registry(ns: &str) -> &str {
    match ns {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_the_last_marker() {
        let m = |n: &str, r: &str| Some(Endpoint::Manifest { name: n.into(), reference: r.into() });
        assert_eq!(parse("docker.io/library/x/manifests/1"), m("docker.io/library/x", "1"));
        assert_eq!(parse("a/manifests/b/manifests/sha256:00"), m("a/manifests/b", "sha256:00"));
        assert_eq!(parse("a/blobs/b/manifests/1"), m("a/blobs/b", "1"));
        assert_eq!(parse("a/b/blobs/sha256:1"), Some(Endpoint::Blob { name: "a/b".into(), digest: "sha256:1".into() }));
        assert_eq!(parse("a/b/tags/list"), Some(Endpoint::Tags { name: "a/b".into() }));
        assert_eq!(parse("a/b/referrers/sha256:1"), Some(Endpoint::Referrers { name: "a/b".into(), digest: "sha256:1".into() }));
        assert_eq!(parse("_catalog"), Some(Endpoint::Catalog));
        assert_eq!(parse("a/b/blobs/uploads/"), Some(Endpoint::UploadStart { name: "a/b".into() }));
        assert_eq!(parse("a/b/blobs/uploads/0af"), Some(Endpoint::Upload { name: "a/b".into(), id: "0af".into() }));
        assert_eq!(parse("/manifests/1"), None);
        assert_eq!(parse("a/b"), None);
    }

    #[test]
    fn namespaces() {
        assert_eq!(canonical_name("library/x", Some("docker.io")), "docker.io/library/x");
        assert_eq!(canonical_name("library/x", Some("registry-1.docker.io")), "docker.io/library/x");
        assert_eq!(canonical_name("test/x", Some("127.0.0.1:5001")), "127.0.0.1:5001/test/x");
        assert_eq!(canonical_name("docker.io/library/x", None), "docker.io/library/x");
    }
}
