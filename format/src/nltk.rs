//! NLTK wire types: the downloader index (`index.xml`) as both sides read it, and the config
//! blob of an NLTK package artifact.

use std::collections::BTreeMap;

use crate::lock::Locked;
use crate::sbom::{purl_enc, SbomPackage};
use crate::Digest;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

pub const ARTIFACT_TYPE: &str = "application/vnd.feas.nltk.package.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.nltk.config.v1+json";

/// A collection as the downloader index describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Collection {
    pub attrs: BTreeMap<String, String>,
    pub items: Vec<String>,
}

/// The config blob of an NLTK package artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NltkConfig {
    /// The package element's attributes (`id`, `name`, `subdir`, `size`, `checksum`, …);
    /// the mirror rewrites `url`.
    pub attrs: BTreeMap<String, String>,
    /// Requested collections this package belongs to.
    pub collections: Vec<Collection>,
}

#[derive(Debug, Default)]
pub struct Index {
    pub packages: BTreeMap<String, BTreeMap<String, String>>,
    pub collections: BTreeMap<String, Collection>,
}

/// Why a downloader index cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("not NLTK index XML: {0}")]
    Xml(#[from] quick_xml::Error),
    #[error("not NLTK index XML: an attribute: {0}")]
    Attribute(#[from] quick_xml::events::attributes::AttrError),
    #[error("a <{0}> without id")]
    NoId(&'static str),
}

pub fn parse_index(xml: &str) -> Result<Index, IndexError> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut idx = Index::default();
    let mut current: Option<(String, Collection)> = None;
    let attrs_of = |e: &quick_xml::events::BytesStart| -> Result<BTreeMap<String, String>, IndexError> {
        let mut m = BTreeMap::new();
        for a in e.attributes() {
            let a = a?;
            let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?;
            m.insert(a.key.as_ref().to_string(), v.into_owned());
        }
        Ok(m)
    };
    loop {
        match r.read_event()? {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "package" => {
                let a = attrs_of(&e)?;
                let id = a.get("id").cloned().ok_or(IndexError::NoId("package"))?;
                idx.packages.insert(id, a);
            }
            Event::Start(e) if e.name().as_ref() == "collection" => {
                let a = attrs_of(&e)?;
                let id = a.get("id").cloned().ok_or(IndexError::NoId("collection"))?;
                current = Some((id, Collection { attrs: a, items: Vec::new() }));
            }
            Event::Empty(e) if e.name().as_ref() == "collection" => {
                let a = attrs_of(&e)?;
                let id = a.get("id").cloned().ok_or(IndexError::NoId("collection"))?;
                idx.collections.insert(id, Collection { attrs: a, items: Vec::new() });
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "item" => {
                if let Some((_, c)) = current.as_mut() {
                    if let Some(r) = attrs_of(&e)?.get("ref") {
                        c.items.push(r.clone());
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == "collection" => {
                if let Some((id, c)) = current.take() {
                    idx.collections.insert(id, c);
                }
            }
            _ => {}
        }
    }
    Ok(idx)
}

/// One NLTK data package (a zip) with the index attributes the downloader needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NltkLock {
    pub kind: String,
    /// The package id, e.g. `punkt`.
    pub name: String,
    pub source: String,
    pub subdir: String,
    /// MD5 the index gives (what nltk itself checks).
    pub checksum: String,
    pub sha256: Digest,
    pub size: u64,
}

impl Locked for NltkLock {
    fn sbom(&self) -> SbomPackage {
        let purl = format!("pkg:generic/nltk_data/{}?download_url={}&checksum={}", purl_enc(&self.name), purl_enc(&self.source), purl_enc(&self.sha256.to_string()));
        SbomPackage { name: self.name.clone(), version: None, source: self.source.clone(), sha256: self.sha256.clone(), purl, purpose: "DATA" }
    }
}
