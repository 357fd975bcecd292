//! Issue 15, who may publish what: a bundle name belongs to the key that first imported it
//! (another trusted key needs `--allow-signer-change` or a trust file that gives it the name),
//! a sequence far ahead of the mirror's clock is refused, and a trust file scopes keys to
//! name patterns and revokes keys — read by `mirror import --trust-file` and by a running
//! `mirror serve --trust-file` for the imports handed to it.

use std::path::{Path, PathBuf};

use e2e::{sha256, snapshot, Gap, Mirror, Run, StaticServer};

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Two signing keys in one gap: A (the gap's own) and B.
struct Publishers {
    gap: Gap,
    srv: StaticServer,
    b_key: PathBuf,
    b_pub: PathBuf,
}

impl Publishers {
    fn new() -> Publishers {
        let gap = Gap::new();
        gap.bundler(&["keygen", "--out", &s(&gap.path("keys-b"))]).ok();
        std::fs::create_dir_all(gap.path("up")).unwrap();
        let srv = StaticServer::start(&gap.path("up"));
        let (b_key, b_pub) = (gap.path("keys-b/bundle.key"), gap.path("keys-b/bundle.pub"));
        // An empty store to compare against after each refusal.
        gap.mirror(&["inventory", "--store", &s(&gap.store())]).ok();
        Publishers { gap, srv, b_key, b_pub }
    }

    fn a(&self) -> (PathBuf, PathBuf) {
        (self.gap.key(), self.gap.public())
    }

    fn b(&self) -> (PathBuf, PathBuf) {
        (self.b_key.clone(), self.b_pub.clone())
    }

    /// A bundle named `name` at `sequence` (None: the default, the time in seconds) signed
    /// with `key`; each carries its own file, so contents differ.
    fn bundle(&self, key: &Path, name: &str, sequence: Option<u64>) -> PathBuf {
        self.bundle_with(key, name, sequence, &[])
    }

    /// `bundle` with more `bundler create` arguments.
    fn bundle_with(&self, key: &Path, name: &str, sequence: Option<u64>, extra: &[&str]) -> PathBuf {
        let tag = format!("{name}-{}", sequence.map(|n| n.to_string()).unwrap_or("now".into()));
        let signer = key.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let file = format!("{tag}-{signer}.bin");
        let data = format!("{file}\n");
        std::fs::write(self.gap.path("up").join(&file), &data).unwrap();
        let m =
            self.gap.write(&format!("{tag}-{signer}.yaml"), &format!("name: {name}\nfiles:\n  - {{url: \"{}{file}\", sha256: \"{}\"}}\n", self.srv.url(), sha256(data.as_bytes())));
        let out = self.gap.path(&format!("{tag}-{signer}.bundle"));
        let lock = self.gap.path(&format!("{tag}-{signer}.lock"));
        let mut args = vec!["create".to_string(), s(&m), "--key".into(), s(key), "--out".into(), s(&out), "--lock".into(), s(&lock)];
        if let Some(n) = sequence {
            args.extend(["--sequence".to_string(), n.to_string()]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        self.gap.bundler(&args.iter().map(String::as_str).collect::<Vec<_>>()).ok();
        out
    }

    /// `mirror import BUNDLE --store STORE EXTRA…`
    fn import(&self, bundle: &Path, extra: &[&str]) -> Run {
        let (b, st) = (s(bundle), s(&self.gap.store()));
        let mut args = vec!["import", b.as_str(), "--store", st.as_str()];
        args.extend_from_slice(extra);
        self.gap.mirror(&args)
    }

    /// Import expected to be refused with `needles` in its error, leaving the store as it was.
    #[track_caller]
    fn refused(&self, bundle: &Path, extra: &[&str], needles: &[&str]) -> Run {
        let before = snapshot(&self.gap.store());
        let r = self.import(bundle, extra).fails_with(needles);
        assert_eq!(snapshot(&self.gap.store()), before, "a refused import leaves the store as it was");
        r
    }
}

/// The key id minisign prints, from the public key file's comment.
fn key_id(public: &Path) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    let first = text.lines().next().unwrap();
    let id = first.split_whitespace().last().unwrap().trim_matches(':').to_string();
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "no key id in {first:?}");
    id
}

#[test]
fn a_name_belongs_to_the_key_that_first_imported_it() {
    let p = Publishers::new();
    let ((a_key, a_pub), (b_key, b_pub)) = (p.a(), p.b());
    let (a_id, b_id) = (key_id(&a_pub), key_id(&b_pub));
    let both = ["--trust", &s(&a_pub), "--trust", &s(&b_pub)].map(String::from);
    let both: Vec<&str> = both.iter().map(String::as_str).collect();

    p.import(&p.bundle(&a_key, "img", Some(1)), &both).ok();
    // B is trusted too, but `img` is A's: B's bundle is refused, naming both keys and the way out.
    let b2 = p.bundle(&b_key, "img", Some(2));
    p.refused(&b2, &both, &[&a_id, &b_id, "--allow-signer-change", "img"]);
    // A keeps publishing its name.
    p.import(&p.bundle(&a_key, "img", Some(3)), &both).ok();
    // A deliberate hand-over: the name is B's from then on, and A's next bundle is refused.
    let b4 = p.bundle(&b_key, "img", Some(4));
    p.import(&b4, &[both.as_slice(), &["--allow-signer-change"]].concat()).ok();
    p.refused(&p.bundle(&a_key, "img", Some(5)), &both, &[&a_id, &b_id, "--allow-signer-change"]);
    // B's own name is B's.
    p.import(&p.bundle(&b_key, "own", None), &both).ok();

    // A sequence far beyond the mirror's clock would make every later bundle "older": refused,
    // for a new name too, whatever the flags. Small explicit sequences (above) and the default
    // (the time in seconds) pass.
    let max = p.bundle(&a_key, "later", Some(u64::MAX));
    let flags = [both.as_slice(), &["--allow-downgrade", "--allow-signer-change"]].concat();
    p.refused(&max, &flags, &[&u64::MAX.to_string(), "ahead", "later"]);
    p.import(&p.bundle(&a_key, "later", None), &both).ok();
    let history = p.gap.mirror(&["history", "--store", &s(&p.gap.store())]).ok().stdout;
    assert!(history.contains(&a_id) && history.contains(&b_id), "{history}");
}

#[test]
fn trust_file_scopes_names_and_revokes_keys() {
    let p = Publishers::new();
    let ((a_key, a_pub), (b_key, b_pub)) = (p.a(), p.b());
    let (a_id, b_id) = (key_id(&a_pub), key_id(&b_pub));
    let b_line = std::fs::read_to_string(&b_pub).unwrap().lines().nth(1).unwrap().to_string();
    // A by its .pub file (relative to the trust file), B by its base64 line.
    let scoped =
        format!("# who may publish what\n[[key]]\npublic = \"keys/bundle.pub\"\nnames = [\"a*\"]\n\n[[key]]\nkey = \"{b_line}\"\ncomment = \"team B\"\nnames = [\"b*\"]\n");
    let trust = p.gap.write("trust.toml", &scoped);
    let with = ["--trust-file", &s(&trust)].map(String::from);
    let with: Vec<&str> = with.iter().map(String::as_str).collect();

    // A may not sign `b1`; B may.
    p.refused(&p.bundle(&a_key, "b1", Some(1)), &with, &[&a_id, "b1", "trust.toml", "a*"]);
    p.import(&p.bundle(&b_key, "b1", Some(1)), &with).ok();
    p.import(&p.bundle(&a_key, "a1", Some(1)), &with).ok();
    // A key named by the trust file is held to it even when also given with --trust.
    let a_pub_s = s(&a_pub);
    let plus_a = [with.as_slice(), &["--trust", &a_pub_s]].concat();
    p.refused(&p.bundle(&a_key, "b2", Some(1)), &plus_a, &[&a_id, "b2", "trust.toml"]);

    // A trust file entry that gives B `a1` also lets B take `a1` over from A.
    std::fs::write(&trust, scoped.replace("names = [\"b*\"]", "names = [\"b*\", \"a1\"]")).unwrap();
    p.import(&p.bundle(&b_key, "a1", Some(2)), &with).ok();

    // Revoking A: its next bundle is refused, even of a name it owns, naming the key and the file.
    p.import(&p.bundle(&a_key, "a2", Some(1)), &with).ok();
    std::fs::write(&trust, format!("{scoped}\n[[revoked]]\nid = \"{a_id}\"\nreason = \"laptop lost\"\n")).unwrap();
    let r = p.refused(&p.bundle(&a_key, "a2", Some(2)), &with, &[&a_id, "revoked", "trust.toml", "laptop lost"]);
    assert!(!r.stderr.contains(&b_id), "only the revoked key is named: {}", r.stderr);
    // A split bundle by A too: its part index names the revoked key.
    let split = p.bundle_with(&a_key, "a2", Some(3), &["--split-size", "1MiB"]);
    let index = PathBuf::from(format!("{}.parts.json", split.display()));
    p.refused(&index, &with, &[&a_id, "revoked", "trust.toml"]);
    // Revocation wins over --trust.
    p.refused(&p.bundle(&a_key, "a3", Some(1)), &plus_a, &[&a_id, "revoked"]);
    p.import(&p.bundle(&b_key, "b1", Some(2)), &with).ok();

    // A broken trust file is named, not ignored.
    let bad = p.gap.write("bad.toml", "[[key]]\npublic = \"nowhere.pub\"\nnames = [\"*\"]\n");
    p.refused(&p.bundle(&b_key, "b1", Some(3)), &["--trust-file", &s(&bad)], &["bad.toml", "nowhere.pub"]);
    let typo = p.gap.write("typo.toml", "[[key]]\npublic = \"keys/bundle.pub\"\nname = [\"*\"]\n");
    p.refused(&p.bundle(&b_key, "b1", Some(3)), &["--trust-file", &s(&typo)], &["typo.toml", "name"]);
}

#[test]
fn trust_file_through_a_running_mirror() {
    let p = Publishers::new();
    let ((a_key, a_pub), (b_key, b_pub)) = (p.a(), p.b());
    let (a_id, b_id) = (key_id(&a_pub), key_id(&b_pub));
    let scoped = "[[key]]\npublic = \"keys/bundle.pub\"\nnames = [\"a*\"]\n\n[[key]]\npublic = \"keys-b/bundle.pub\"\nnames = [\"b*\"]\n";
    let trust = p.gap.write("trust.toml", scoped);
    // No key at all and no server: say how to give one.
    p.refused(&p.bundle(&a_key, "a1", Some(1)), &[], &["--trust", "--trust-file"]);

    // The client's trust file travels to the server with the import.
    let mirror = Mirror::start(&p.gap.store());
    p.import(&p.bundle(&a_key, "a1", Some(1)), &["--trust-file", &s(&trust)]).ok();
    p.refused(&p.bundle(&a_key, "b1", Some(1)), &["--trust-file", &s(&trust)], &[&a_id, "b1", "trust.toml"]);
    // So does --allow-signer-change.
    let b_a1 = p.bundle(&b_key, "a1", Some(2));
    p.refused(&b_a1, &["--trust", &s(&b_pub)], &[&a_id, &b_id, "--allow-signer-change"]);
    p.import(&b_a1, &["--trust", &s(&b_pub), "--allow-signer-change"]).ok();
    drop(mirror);

    // A server started with --trust-file applies it to every import handed to it: no --trust
    // needed, and an edit (a revocation) counts from the next import on.
    let mirror = Mirror::start_with_serve_args(&p.gap.store(), &["--trust-file", &s(&trust)]);
    p.import(&p.bundle(&b_key, "b1", Some(1)), &[]).ok();
    p.refused(&p.bundle(&b_key, "a5", Some(1)), &[], &[&b_id, "a5", "trust.toml"]);
    std::fs::write(&trust, format!("{scoped}[[revoked]]\nid = \"{b_id}\"\n")).unwrap();
    p.refused(&p.bundle(&b_key, "b1", Some(2)), &[], &[&b_id, "revoked", "trust.toml"]);
    // Its revocations hold even for a key the client passes with --trust.
    p.refused(&p.bundle(&b_key, "b1", Some(3)), &["--trust", &s(&b_pub)], &[&b_id, "revoked"]);
    p.import(&p.bundle(&a_key, "a2", Some(1)), &[]).ok();
    drop(mirror);

    // A server refuses to start on a broken trust file.
    let bad = p.gap.write("bad.toml", "[[revoked]]\nid = \"not hex\"\n");
    let r = p.gap.mirror(&["serve", "--store", &s(&p.gap.store()), "--listen", "127.0.0.1:0", "--trust-file", &s(&bad)]).fails();
    assert!(r.stderr.contains("bad.toml") && r.stderr.contains("not hex"), "{}", r.stderr);
}
