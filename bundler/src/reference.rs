//! Canonical image references. Parsing is oci-client's (docker.io normalization included);
//! this type adds the canonical forms the bundle and the mirror use.

use std::fmt;

use crate::format::Digest;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Canonical registry name, e.g. `docker.io`, `nvcr.io`, `127.0.0.1:5001`.
    pub registry: String,
    /// Path inside the registry, e.g. `library/postgres`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
#[error("{input:?} is not a valid image reference ({detail}); expected e.g. docker.io/library/postgres:13 or registry.example/name@sha256:<64 hex>")]
pub struct BadReference {
    pub input: String,
    pub detail: String,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, BadReference> {
        let bad = |detail: String| BadReference { input: s.to_string(), detail };
        let r: oci_client::Reference = s.parse().map_err(|e: oci_client::ParseError| bad(e.to_string()))?;
        let digest = match r.digest() {
            Some(d) => Some(d.parse::<Digest>().map_err(|e| bad(e.to_string()))?),
            None => None,
        };
        // oci-client defaults a missing tag to `latest`; keep that only when there is no digest.
        let explicit_tag = s.rsplit('/').next().map(|last| last.split('@').next().unwrap_or("").contains(':')).unwrap_or(false);
        let tag = match (r.tag(), &digest) {
            (Some(t), Some(_)) if explicit_tag => Some(t.to_string()),
            (_, Some(_)) => None,
            (t, None) => Some(t.unwrap_or("latest").to_string()),
        };
        Ok(ImageRef { registry: r.registry().to_string(), repository: r.repository().to_string(), tag, digest })
    }

    /// `registry/repository`: the repository name the mirror serves.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Tag or digest to ask the upstream for.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let r = ImageRef::parse("postgres:13").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/postgres:13");
        assert_eq!(r.repository_name(), "docker.io/library/postgres");
        assert_eq!(ImageRef::parse("redis").unwrap().to_string(), "docker.io/library/redis:latest");
        assert_eq!(ImageRef::parse("127.0.0.1:5001/test/hello:1").unwrap().repository_name(), "127.0.0.1:5001/test/hello");
        let d = format!("sha256:{}", "a".repeat(64));
        let p = ImageRef::parse(&format!("ghcr.io/x/y@{d}")).unwrap();
        assert_eq!(p.tag, None);
        assert_eq!(p.reference(), d);
        let both = ImageRef::parse(&format!("ghcr.io/x/y:1.0@{d}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("1.0"));
        assert!(ImageRef::parse("Bad Ref!").is_err());
    }
}
