//! Bad bundles refused with the store unchanged: flipped bytes, edited bundle.json, untrusted or
//! missing signatures, truncation, oversized tar headers, path traversal and symlinks.

use super::*;

/// Rewrite a tar entry by entry: `edit` gets each entry's name and data and returns the data to
/// keep (headers are copied as they were, sizes fixed), or `None` to drop the entry.
fn rewrite(src: &Path, dst: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut header = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            header.set_size(data.len() as u64);
            header.set_cksum();
            out.append(&header, &data[..]).unwrap();
        }
    }
    out.finish().unwrap();
}

/// Copy a tar, changing bytes of one entry's data in place (everything else byte-identical).
fn patch_in_place(src: &Path, dst: &Path, entry: &str, patch: impl Fn(&mut [u8])) {
    let mut bytes = std::fs::read(src).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let (pos, size) = ar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy() == entry)
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .unwrap_or_else(|| panic!("no entry {entry} in {}", src.display()));
    patch(&mut bytes[pos..pos + size]);
    std::fs::write(dst, bytes).unwrap();
}

/// Append an entry after the good ones, its name written raw so `..` survives (the tar crate
/// refuses to write such names).
fn with_extra_entry(src: &Path, dst: &Path, name: &str, kind: tar::EntryType) {
    let bytes = std::fs::read(src).unwrap();
    // Cut the end-of-archive blocks: keep up to the end of the last entry's padded data.
    let end = {
        let mut ar = tar::Archive::new(&bytes[..]);
        ar.entries().unwrap().map(Result::unwrap).map(|e| (e.raw_file_position() + e.size()).div_ceil(512) * 512).max().unwrap() as usize
    };
    let mut body = bytes[..end].to_vec();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_mtime(0);
    let data: &[u8] = if kind.is_symlink() { b"" } else { b"owned\n" };
    h.set_size(data.len() as u64);
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    if kind.is_symlink() {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    body.extend_from_slice(h.as_bytes());
    body.extend_from_slice(data);
    body.resize(body.len().div_ceil(512) * 512, 0);
    body.extend_from_slice(&[0u8; 1024]);
    std::fs::write(dst, body).unwrap();
}

/// An upstream, a good uncompressed bundle of `docker.io/library/hello:1` (both platforms), and
/// a store that already holds an earlier import (library/other:1, arm64) a refusal must not touch.
struct Refusals {
    gap: Gap,
    _reg: Registry,
    hello: BuiltImage,
    manifest: PathBuf,
    good: PathBuf,
}

impl Refusals {
    fn new() -> Refusals {
        let gap = Gap::new();
        let (reg, hello, _) = upstream(gap.dir.path());
        let base = manifest(&gap, "base", &reg.host, "[linux/arm64]", "  - docker.io/library/other:1\n");
        let base_bundle = gap.path("base.bundle");
        gap.bundler(&[
            "create",
            base.to_str().unwrap(),
            "--key",
            gap.key().to_str().unwrap(),
            "--out",
            base_bundle.to_str().unwrap(),
            "--lock",
            gap.path("base.lock").to_str().unwrap(),
        ])
        .ok();
        gap.import(&base_bundle).ok();
        let m = manifest(&gap, "bad", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n");
        let good = gap.create(&m, "good.bundle", &["--compression", "none"]);
        Refusals { gap, _reg: reg, hello, manifest: m, good }
    }

    fn variant(&self, name: &str) -> PathBuf {
        self.gap.path(name)
    }

    /// `mirror import` fails naming every one of `needles`; no blob, no held metadata and, as
    /// the issue says, no byte of any file under the store changes; `bundler verify` fails too.
    /// Returns the import's stderr.
    fn assert_refused(&self, bundle: &Path, needles: &[&str]) -> String {
        let store = self.gap.store();
        // What the store holds, read from a copy: even a read-only open of the real store must
        // not happen between the snapshots.
        let inventory = |dir: &Path| self.gap.mirror(&["inventory", "--store", dir.to_str().unwrap()]).ok().stdout;
        let copy = self.gap.path("store-copy");
        let _ = std::fs::remove_dir_all(&copy);
        run(Command::new("cp").arg("-a").arg(&store).arg(&copy)).ok();
        let held = inventory(&copy);
        let before = snapshot(&store);
        assert!(!before.is_empty(), "the base import left no files in {}", store.display());
        let r = self.gap.import(bundle).fails_with(needles);
        eprintln!("{}: {}", bundle.display(), r.stderr.trim());
        let after = snapshot(&store);
        let changed = |prefix: &Path| -> std::collections::BTreeSet<&PathBuf> {
            before.keys().chain(after.keys()).filter(|p| p.starts_with(prefix) && before.get(*p) != after.get(*p)).collect()
        };
        assert!(changed(&store.join("blobs")).is_empty(), "refused import of {} changed blobs: {:?}", bundle.display(), changed(&store.join("blobs")));
        let staging = std::fs::read_dir(store.join("tmp")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(staging, 0, "refused import of {} left staging files", bundle.display());
        assert_eq!(held, inventory(&store), "refused import of {} changed what the store holds", bundle.display());
        assert!(
            changed(&store).is_empty(),
            "refused import of {} changed the store {:?}: a refused import must leave every record and blob \
             as it was (issue 2)",
            bundle.display(),
            changed(&store)
        );
        let v = self.gap.verify(bundle).fails();
        assert!(!v.stderr.trim().is_empty(), "`bundler verify` must say why it failed: {v:?}");
        // The held image is still whole.
        self.gap.mirror(&["verify", "--store", store.to_str().unwrap()]).ok();
        r.stderr
    }
}

#[test]
fn good_bundle_verifies_with_bundler_and_minisign() {
    let f = Refusals::new();
    f.gap.verify(&f.good).ok();
    let x = f.gap.path("extracted");
    std::fs::create_dir_all(&x).unwrap();
    let mut ar = tar::Archive::new(std::fs::File::open(&f.good).unwrap());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .take(4)
        .map(|mut e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name.starts_with("bundle.json") {
                e.unpack(x.join(&name)).unwrap();
            }
            name
        })
        .collect();
    assert_eq!(names, ["bundle.json", "bundle.json.minisig", "oci-layout", "index.json"], "entry order of DESIGN.md");
    run(Command::new("minisign").args(["-V", "-m", x.join("bundle.json").to_str().unwrap(), "-p", f.gap.public().to_str().unwrap()])).ok();
    // minisign also rejects a changed bundle.json with the same signature.
    let mut doc = std::fs::read(x.join("bundle.json")).unwrap();
    doc.push(b' ');
    std::fs::write(x.join("bundle.json"), doc).unwrap();
    run(Command::new("minisign").args(["-V", "-m", x.join("bundle.json").to_str().unwrap(), "-p", f.gap.public().to_str().unwrap()])).fails();
}

#[test]
fn flipped_byte_in_a_layer_is_refused() {
    let f = Refusals::new();
    let layer = f.hello.own_layers["amd64"].clone();
    let bad = f.variant("flipped.bundle");
    patch_in_place(&f.good, &bad, &format!("blobs/sha256/{}", &layer[7..]), |d| d[d.len() / 2] ^= 0x01);
    let err = f.assert_refused(&bad, &["damaged"]);
    assert!(err.contains(&layer[7..]), "names the damaged blob {layer}: {err}");
}

#[test]
fn edited_bundle_json_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("edited.bundle");
    // Same length, so only the content changes: the bundle name "bad" becomes "bax".
    patch_in_place(&f.good, &bad, "bundle.json", |d| {
        let at = d.windows(5).position(|w| w == b"\"bad\"").expect("bundle.json names the bundle");
        d[at + 3] = b'x';
    });
    f.assert_refused(&bad, &["signature"]);
}

#[test]
fn signature_by_an_untrusted_key_is_refused() {
    let f = Refusals::new();
    f.gap.bundler(&["keygen", "--out", f.variant("other-keys").to_str().unwrap()]).ok();
    let bad = f.variant("foreign.bundle");
    f.gap.try_create(&f.manifest, &bad, &f.variant("other-keys/bundle.key"), &[]).ok();
    f.assert_refused(&bad, &["not among the trusted keys"]);
}

#[test]
fn missing_signature_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("unsigned.bundle");
    rewrite(&f.good, &bad, |n, d| (n != "bundle.json.minisig").then_some(d));
    f.assert_refused(&bad, &["no signature"]);
}

#[test]
fn truncated_bundle_is_refused() {
    let f = Refusals::new();
    let bytes = std::fs::read(&f.good).unwrap();
    // Cut in the middle of the bundle, and in the middle of the last blob.
    let last_blob_middle = tar::Archive::new(&bytes[..]).entries().unwrap().map(Result::unwrap).map(|e| e.raw_file_position() + e.size() / 2).max().unwrap() as usize;
    for (name, len) in [("truncated-half.bundle", bytes.len() / 2), ("truncated-last.bundle", last_blob_middle)] {
        let bad = f.variant(name);
        std::fs::write(&bad, &bytes[..len]).unwrap();
        f.assert_refused(&bad, &["truncated"]);
    }
    // A zstd bundle cut short too.
    let z = f.gap.create(&f.manifest, "z.bundle", &[]);
    let zb = std::fs::read(&z).unwrap();
    let bad = f.variant("truncated-zstd.bundle");
    std::fs::write(&bad, &zb[..zb.len() * 2 / 3]).unwrap();
    f.assert_refused(&bad, &["truncated"]);
}

/// Issue 15: a blob entry whose tar header claims 1 GiB (zeros, which zstd shrinks to almost
/// nothing) where the signed bundle.json lists its real size. Refused before a byte of it is
/// written: the import runs under a 64 MiB file-size limit (`prlimit --fsize`), which kills an
/// import that stages the claimed bytes before comparing sizes.
#[test]
fn blob_whose_tar_header_outsizes_its_signed_size_is_refused_before_a_byte_is_written() {
    const CLAIMED: u64 = 1 << 30;
    let f = Refusals::new();
    let layer = f.hello.own_layers["amd64"].clone();
    let entry = format!("blobs/sha256/{}", &layer[7..]);
    let bad = f.variant("oversized-header.bundle");
    let mut ar = tar::Archive::new(std::fs::File::open(&f.good).unwrap());
    let mut out = tar::Builder::new(zstd::Encoder::new(std::fs::File::create(&bad).unwrap(), 3).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut header = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == entry {
            header.set_size(CLAIMED);
            header.set_cksum();
            out.append(&header, std::io::Read::take(std::io::Read::chain(&data[..], std::io::repeat(0)), CLAIMED)).unwrap();
        } else {
            out.append(&header, &data[..]).unwrap();
        }
    }
    out.into_inner().unwrap().finish().unwrap();
    assert!(std::fs::metadata(&bad).unwrap().len() < 1 << 20, "the crafted bundle is small");

    let store = f.gap.store();
    let before = snapshot(&store);
    let (b, s, t) = (bad.to_str().unwrap(), store.to_str().unwrap(), f.gap.public());
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--fsize={}", 64 << 20)).arg(e2e::bin("mirror")).args(["import", b, "--store", s, "--trust", t.to_str().unwrap()]);
    let r = run(&mut cmd);
    assert_eq!(r.status, 1, "refused with an error, not killed (SIGXFSZ) for writing past the limit: {r:?}");
    r.fails_with(&[&layer, "tar header", &CLAIMED.to_string()]);
    assert_eq!(std::fs::read_dir(store.join("tmp")).map(|d| d.count()).unwrap_or(0), 0, "staging left behind");
    assert_eq!(before, snapshot(&store), "the store changed");
    f.assert_refused(&bad, &[&layer, "tar header"]);
    f.gap.verify(&bad).fails_with(&[&layer, "tar header"]);
}

#[test]
fn path_traversal_entry_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("traversal.bundle");
    with_extra_entry(&f.good, &bad, "../../etc/x", tar::EntryType::Regular);
    f.assert_refused(&bad, &["../../etc/x"]);
    for p in [f.gap.path("../../etc/x"), f.gap.store().join("../../etc/x"), f.gap.store().join("tmp/../../etc/x")] {
        assert!(!p.exists(), "{} was written", p.display());
    }
}

#[test]
fn symlink_entry_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("symlink.bundle");
    with_extra_entry(&f.good, &bad, "blobs/sha256/evil", tar::EntryType::Symlink);
    f.assert_refused(&bad, &["symlink"]);
}
