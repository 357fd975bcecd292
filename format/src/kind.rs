//! What an artifact in index.json is (its `dev.feas.kind` annotation), as an enum over the
//! strings in `bundle::kinds`. A kind this build does not know comes from a newer bundler: it
//! is refused by name, never taken for an image.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bundle::kinds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Image,
    /// A cosign signature/attestation/SBOM tag, or an OCI referrer of an image.
    ImageAccessory,
    Deb,
    /// A Python wheel or sdist.
    Wheel,
    File,
    Nltk,
    Helm,
    Hf,
}

impl Kind {
    pub const ALL: [Kind; 8] = [Kind::Image, Kind::ImageAccessory, Kind::Deb, Kind::Wheel, Kind::File, Kind::Nltk, Kind::Helm, Kind::Hf];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => kinds::IMAGE,
            Kind::ImageAccessory => kinds::IMAGE_ACCESSORY,
            Kind::Deb => kinds::DEB,
            Kind::Wheel => kinds::WHEEL,
            Kind::File => kinds::FILE,
            Kind::Nltk => kinds::NLTK,
            Kind::Helm => kinds::HELM,
            Kind::Hf => kinds::HF,
        }
    }
}

/// A kind this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("artifact kind {0:?} is unknown to this version: this bundle needs a newer mirror")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_unknown_kinds_are_named() {
        for k in Kind::ALL {
            assert_eq!(k.to_string().parse::<Kind>().unwrap(), k);
            assert_eq!(serde_json::from_str::<Kind>(&serde_json::to_string(&k).unwrap()).unwrap(), k);
        }
        assert_eq!(serde_json::to_string(&Kind::ImageAccessory).unwrap(), "\"image-accessory\"");
        let e = "conda".parse::<Kind>().unwrap_err().to_string();
        assert!(e.contains("\"conda\"") && e.contains("needs a newer mirror"), "{e}");
        assert!(serde_json::from_str::<Kind>("\"conda\"").is_err());
    }
}
