//! A small HTML tag scanner for PEP 503 pages: enough to read `<a>` links and their attributes.

use std::collections::BTreeMap;

/// The links of a PEP 503 page: (file name or text, href, attributes), read with a small tag
/// scanner (attribute values HTML-unescaped).
pub fn html_links(html: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<a ") {
        rest = &rest[i + 3..];
        let Some(end) = rest.find('>') else { break };
        let attrs = parse_attrs(&rest[..end]);
        rest = &rest[end + 1..];
        let text_end = rest.find("</a>").unwrap_or(rest.len());
        let text = unescape(rest[..text_end].trim());
        let href = attrs.get("href").cloned().unwrap_or_default();
        out.push((text, href, attrs));
    }
    out
}

fn parse_attrs(s: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != b'/' {
            i += 1;
        }
        let name = s[start..i].to_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let q = b.get(i).copied();
            let v = if q == Some(b'"') || q == Some(b'\'') {
                i += 1;
                let vs = i;
                while i < b.len() && Some(b[i]) != q {
                    i += 1;
                }
                let v = &s[vs..i];
                i += 1;
                v
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[vs..i]
            };
            m.insert(name, unescape(v));
        } else {
            if !name.is_empty() {
                m.insert(name, String::new());
            }
            i += 1;
        }
    }
    m
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&#x27;", "'").replace("&amp;", "&")
}
