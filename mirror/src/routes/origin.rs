//! The mirror's own URL, for the few answers that must carry absolute URLs: the downloader index's
//! package URLs, the hub API's next-page links and the OCI token realm. With
//! `mirror serve --external-url` it is that, whatever a request says. Without it, it is built
//! from the request — the scheme this listener speaks (a proxy's `X-Forwarded-Proto` on plain
//! HTTP) and the `Host` it was sent to — which a client can forge, so set it behind a proxy or
//! a shared cache.

use axum::http::uri::{Authority, Scheme};
use axum::http::{header, HeaderMap, Uri};

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("--external-url {url:?}: {detail}; give the URL clients use, e.g. https://mirror.example:5000")]
    Invalid { url: String, detail: String },
}

/// Where clients reach this mirror.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// `--external-url`, without a trailing `/`.
    external: Option<String>,
    /// This listener serves HTTPS.
    tls: bool,
}

impl Origin {
    pub fn new(external: Option<&str>, tls: bool) -> Result<Origin, OriginError> {
        let external = external.map(validate).transpose()?;
        Ok(Origin { external, tls })
    }

    /// `scheme://host[:port][/prefix]`, no trailing `/`.
    pub fn base(&self, uri: &Uri, headers: &HeaderMap) -> String {
        if let Some(e) = &self.external {
            return e.clone();
        }
        let header_str = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        // Our own TLS is https whatever a header says; on plain HTTP a TLS proxy may say so.
        let scheme = if self.tls { "https" } else { header_str("x-forwarded-proto").filter(|p| *p == "https" || *p == "http").unwrap_or("http") };
        // A syntactically valid authority only (no user info): the text lands in XML and headers.
        let valid = |h: &&str| !h.contains('@') && h.parse::<Authority>().is_ok();
        let host = header_str("x-forwarded-host")
            .filter(valid)
            .or(header_str(header::HOST.as_str()).filter(valid))
            .map(str::to_string)
            // HTTP/2 carries the authority in the URI.
            .or(uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        format!("{scheme}://{host}")
    }
}

/// `host[:port][/prefix]` of a base URL `base` gives: what image references and `oci://`
/// URLs name the mirror by.
pub fn authority(base: &str) -> &str {
    base.split_once("://").map(|(_, h)| h).unwrap_or(base)
}

fn validate(url: &str) -> Result<String, OriginError> {
    let bad = |detail: &str| OriginError::Invalid { url: url.to_string(), detail: detail.to_string() };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme() != Some(&Scheme::HTTP) && uri.scheme() != Some(&Scheme::HTTPS) {
        return Err(bad("the scheme must be http or https"));
    }
    match uri.authority() {
        Some(a) if !a.as_str().contains('@') && !a.host().is_empty() => {}
        _ => return Err(bad("it needs a host and no user name")),
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_external_url_wins_over_what_a_request_says() {
        let o = Origin::new(Some("https://mirror.example:8443/gap/"), false).unwrap();
        let forged = headers(&[("host", "evil.example"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "http")]);
        assert_eq!(o.base(&Uri::from_static("/v2/"), &forged), "https://mirror.example:8443/gap");
        for bad in ["mirror.example", "ftp://mirror.example", "https://user@mirror.example", "https://m.example/?x=1", "https://"] {
            assert!(Origin::new(Some(bad), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn without_it_the_scheme_is_the_listeners() {
        let uri = Uri::from_static("/v2/");
        let tls = Origin::new(None, true).unwrap();
        assert_eq!(tls.base(&uri, &headers(&[("host", "m.example:5000"), ("x-forwarded-proto", "http")])), "https://m.example:5000");
        let plain = Origin::new(None, false).unwrap();
        assert_eq!(plain.base(&uri, &headers(&[("host", "m.example:5000")])), "http://m.example:5000");
        assert_eq!(plain.base(&uri, &headers(&[("host", "m.example"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "proxy.example")])), "https://proxy.example");
        // Nothing that is not a host lands in the URL.
        assert_eq!(plain.base(&uri, &headers(&[("host", "a\"b c")])), "http://localhost");
        assert_eq!(plain.base(&uri, &headers(&[("host", "evil@m.example")])), "http://localhost");
    }
}
