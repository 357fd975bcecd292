//! Reads that cost their answer: a page of keys by a range scan from where the last page
//! ended, and the first distinct names under a prefix by seeking past each one. Neither reads
//! more keys than it returns (plus one), however many the tree holds.

use std::ops::Bound;

use super::{key, Meta, SEP};
use crate::store::StoreError;

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    /// More follow the last item.
    pub more: bool,
}

/// The first key after every key that starts with `prefix` (`None`: no such bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The keys under `prefix` (the prefix cut off) after `last` (non-inclusive; need not be a
/// key), sorted bytewise, at most `n` of them (all when `None`). Reads at most `n + 1` keys.
fn page(tree: &sled::Tree, prefix: &[u8], last: Option<&str>, n: Option<usize>) -> Result<Page, StoreError> {
    let mut items = Vec::new();
    if n == Some(0) {
        return Ok(Page { items, more: false });
    }
    let start = match last {
        Some(l) => Bound::Excluded([prefix, l.as_bytes()].concat()),
        None => Bound::Included(prefix.to_vec()),
    };
    let end = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    for k in tree.range::<Vec<u8>, _>((start, end)).keys() {
        let k = k?;
        if n.is_some_and(|n| items.len() == n) {
            return Ok(Page { items, more: true });
        }
        items.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
    }
    Ok(Page { items, more: false })
}

/// The first `limit` distinct key parts right after `prefix` (up to the next separator), in
/// order: one seek per part, past every key that starts with it.
pub(crate) fn distinct(tree: &sled::Tree, prefix: &[u8], limit: usize) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let end = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let mut start = Bound::Included(prefix.to_vec());
    while out.len() < limit {
        let Some(k) = tree.range::<Vec<u8>, _>((start, end.clone())).keys().next().transpose()? else { break };
        let rest = &k[prefix.len()..];
        let part = rest.split(|b| *b == SEP).next().unwrap_or_default();
        out.push(String::from_utf8_lossy(part).into_owned());
        // Past `prefix part \0 …` and `prefix part` itself: no part holds a separator, so
        // every key after these has another part.
        start = Bound::Included([prefix, part, &[SEP + 1]].concat());
    }
    Ok(out)
}

impl Meta {
    /// A page of `repo`'s tags (the distribution spec's `n` and `last`), bytewise sorted.
    pub fn tags_page(&self, repo: &str, last: Option<&str>, n: Option<usize>) -> Result<Page, StoreError> {
        page(&self.t.tags, &key(&[repo, ""]), last, n)
    }

    /// A page of the repositories (`/v2/_catalog`), sorted.
    pub fn repositories_page(&self, last: Option<&str>, n: Option<usize>) -> Result<Page, StoreError> {
        page(&self.t.repos, b"", last, n)
    }

    /// The first `limit` bundle names imported, sorted.
    pub fn bundle_names(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(page(&self.t.bundles, b"", None, Some(limit))?.items)
    }
}

#[cfg(test)]
mod tests {
    use feas_format::Digest;

    use super::*;
    use crate::store::Changes;

    fn meta_with_tags(dir: &std::path::Path) -> Meta {
        let meta = Meta::open(sled::Config::new().path(dir).open().unwrap()).unwrap();
        let d = Digest::sha256_of(b"m");
        let mut tags: Vec<(String, String, Digest)> = ["1", "2", "3", "30", "4"].iter().map(|t| ("a".to_string(), t.to_string(), d.clone())).collect();
        // Repositories sharing a prefix with `a`: none of theirs may show in `a`'s pages.
        tags.extend(["0", "5", "9"].iter().map(|t| ("a/b".to_string(), t.to_string(), d.clone())));
        tags.push(("a-c".into(), "10".into(), d.clone()));
        tags.push(("0".into(), "x".into(), d.clone()));
        let repos = vec!["a".into(), "a/b".into(), "a-c".into(), "0".into()];
        meta.commit(&Changes { repos, tags, ..Changes::default() }).unwrap();
        meta
    }

    fn items(p: Page) -> (Vec<String>, bool) {
        (p.items, p.more)
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tag_pages_scan_from_last() {
        let dir = tempfile::tempdir().unwrap();
        let meta = meta_with_tags(dir.path());
        let page = |last: Option<&str>, n: Option<usize>| items(meta.tags_page("a", last, n).unwrap());
        assert_eq!(page(None, None), (v(&["1", "2", "3", "30", "4"]), false), "no n: every tag");
        assert_eq!(page(None, Some(2)), (v(&["1", "2"]), true), "first page");
        assert_eq!(page(Some("2"), Some(2)), (v(&["3", "30"]), true));
        assert_eq!(page(Some("30"), Some(2)), (v(&["4"]), false), "the last page is short, with no more");
        assert_eq!(page(Some("3"), Some(2)), (v(&["30", "4"]), false), "a full last page has no more");
        assert_eq!(page(Some("25"), Some(1)), (v(&["3"]), true), "`last` between tags, not a tag");
        assert_eq!(page(Some("0"), None), (v(&["1", "2", "3", "30", "4"]), false), "`last` before the first");
        assert_eq!(page(Some("4"), Some(5)), (v(&[]), false), "`last` the last tag");
        assert_eq!(page(Some("zzz"), None), (v(&[]), false), "`last` past the end");
        assert_eq!(page(None, Some(0)), (v(&[]), false), "n=0: empty, no more");
        assert_eq!(page(Some("1"), Some(0)), (v(&[]), false));
        assert_eq!(items(meta.tags_page("a/b", None, None).unwrap()), (v(&["0", "5", "9"]), false));
        assert_eq!(items(meta.tags_page("a/", None, None).unwrap()), (v(&[]), false), "a prefix of a name is no repository");
        assert_eq!(items(meta.tags_page("", None, None).unwrap()), (v(&[]), false));
        assert_eq!(items(meta.repositories_page(Some("a"), Some(1)).unwrap()), (v(&["a-c"]), true));
        assert_eq!(items(meta.repositories_page(Some("a-c"), Some(5)).unwrap()), (v(&["a/b"]), false));
    }

    #[test]
    fn distinct_parts_seek_past_each() {
        let dir = tempfile::tempdir().unwrap();
        let meta = meta_with_tags(dir.path());
        assert_eq!(distinct(&meta.t.tags, b"", 10).unwrap(), v(&["0", "a", "a-c", "a/b"]));
        assert_eq!(distinct(&meta.t.tags, b"", 2).unwrap(), v(&["0", "a"]));
        assert_eq!(distinct(&meta.t.tags, &key(&["a", ""]), 3).unwrap(), v(&["1", "2", "3"]));
        assert_eq!(distinct(&meta.t.tags, &key(&["nope", ""]), 3).unwrap(), v(&[]));
        assert_eq!(prefix_end(&[1, 255, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255]), None);
    }
}
