//! Compact digest sets for whole-store passes (gc, verify): a digest kept as its 32 (or 64)
//! bytes rather than a `Digest`'s 64-character `String`, so a million of them take 32 MB.

use std::collections::BTreeSet;

use feas_format::{Algorithm, Digest};

/// A digest's bytes, by algorithm.
enum Packed {
    Sha256([u8; 32]),
    Sha512([u8; 64]),
}

fn pack(d: &Digest) -> Packed {
    fn unhex<const N: usize>(hex: &str) -> [u8; N] {
        // `Digest` holds exactly 2N lowercase hex digits.
        let nibble = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
        let mut out = [0u8; N];
        for (o, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            *o = nibble(pair[0]) << 4 | nibble(pair[1]);
        }
        out
    }
    match d.algorithm() {
        Algorithm::Sha256 => Packed::Sha256(unhex(d.hex())),
        Algorithm::Sha512 => Packed::Sha512(unhex(d.hex())),
    }
}

fn unpack(alg: Algorithm, bytes: &[u8]) -> Digest {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", alg.as_str()).parse().expect("packed from a valid digest")
}

/// Sorted, without duplicates: membership by binary search.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DigestSet {
    sha256: Vec<[u8; 32]>,
    sha512: Vec<[u8; 64]>,
}

impl DigestSet {
    pub fn contains(&self, d: &Digest) -> bool {
        match pack(d) {
            Packed::Sha256(k) => self.sha256.binary_search(&k).is_ok(),
            Packed::Sha512(k) => self.sha512.binary_search(&k).is_ok(),
        }
    }
    pub fn len(&self) -> usize {
        self.sha256.len() + self.sha512.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// In `Digest` order (sha256 first, then by hex), one `Digest` made at a time.
    pub fn iter(&self) -> impl Iterator<Item = Digest> + '_ {
        let a = self.sha256.iter().map(|k| unpack(Algorithm::Sha256, k));
        a.chain(self.sha512.iter().map(|k| unpack(Algorithm::Sha512, k)))
    }
    /// Both sets' digests.
    pub fn union(mut self, other: &DigestSet) -> DigestSet {
        self.sha256.extend_from_slice(&other.sha256);
        self.sha512.extend_from_slice(&other.sha512);
        DigestSetBuilder { sha256: self.sha256, sha512: self.sha512 }.build()
    }
}

impl FromIterator<Digest> for DigestSet {
    fn from_iter<I: IntoIterator<Item = Digest>>(it: I) -> DigestSet {
        let mut b = DigestSetBuilder::default();
        it.into_iter().for_each(|d| b.insert(&d));
        b.build()
    }
}

/// Collects digests, duplicates included, into a `DigestSet`. A layer a thousand manifests
/// share is inserted a thousand times, so a full buffer drops its duplicates before it grows.
#[derive(Debug, Default)]
pub struct DigestSetBuilder {
    sha256: Vec<[u8; 32]>,
    sha512: Vec<[u8; 64]>,
}

impl DigestSetBuilder {
    pub fn insert(&mut self, d: &Digest) {
        match pack(d) {
            Packed::Sha256(k) => push_compacting(&mut self.sha256, k),
            Packed::Sha512(k) => push_compacting(&mut self.sha512, k),
        }
    }
    pub fn build(mut self) -> DigestSet {
        sort_dedup(&mut self.sha256);
        sort_dedup(&mut self.sha512);
        DigestSet { sha256: self.sha256, sha512: self.sha512 }
    }
}

fn sort_dedup<T: Ord>(v: &mut Vec<T>) {
    v.sort_unstable();
    v.dedup();
    v.shrink_to_fit();
}

fn push_compacting<T: Ord>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() && v.len() >= 1024 {
        v.sort_unstable();
        v.dedup();
        // Grow unless compacting freed half: each sort is then paid for by as many pushes.
        if v.len() > v.capacity() / 2 {
            v.reserve(v.capacity());
        }
    }
    v.push(x);
}

/// Digests seen so far in a walk, for membership tests while it still grows.
#[derive(Debug, Default)]
pub struct SeenDigests {
    sha256: BTreeSet<[u8; 32]>,
    sha512: BTreeSet<[u8; 64]>,
}

impl SeenDigests {
    /// `true` when `d` was not yet in the set.
    pub fn insert(&mut self, d: &Digest) -> bool {
        match pack(d) {
            Packed::Sha256(k) => self.sha256.insert(k),
            Packed::Sha512(k) => self.sha512.insert(k),
        }
    }
    pub fn contains(&self, d: &Digest) -> bool {
        match pack(d) {
            Packed::Sha256(k) => self.sha256.contains(&k),
            Packed::Sha512(k) => self.sha512.contains(&k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_each_digest_once_in_digest_order() {
        let ds: Vec<Digest> = (0..3000u32).map(|i| Digest::sha256_of(&(i % 1500).to_be_bytes())).collect();
        let long = Digest::of(Algorithm::Sha512, b"x");
        let set: DigestSet = ds.iter().cloned().chain([long.clone()]).collect();
        let want: BTreeSet<Digest> = ds.iter().cloned().chain([long.clone()]).collect();
        assert_eq!(set.len(), 1501);
        assert_eq!(set.iter().collect::<Vec<_>>(), want.into_iter().collect::<Vec<_>>());
        assert!(set.contains(&ds[7]) && set.contains(&long) && !set.contains(&Digest::sha256_of(b"absent")));
        let other: DigestSet = [Digest::sha256_of(b"absent"), ds[0].clone()].into_iter().collect();
        let u = set.union(&other);
        assert!(u.len() == 1502 && u.contains(&Digest::sha256_of(b"absent")));
        let mut seen = SeenDigests::default();
        assert!(seen.insert(&long) && !seen.insert(&long) && seen.contains(&long) && !seen.contains(&ds[0]));
    }
}
