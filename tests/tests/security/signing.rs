//! Issue 15, signing keys: `bundler keygen` encrypts the secret key with a password (minisign's
//! own format and default), the real `minisign` signs with it given that password, keys made
//! by `minisign -G` (with and without `-W`) sign bundles, and a wrong or missing password is
//! refused naming the key and where a password comes from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use e2e::{bin, run, sha256, Gap, Run, StaticServer};

/// The start of an encrypted minisign secret key line: base64 of `Ed` `Sc` (scrypt) `B2`.
const ENCRYPTED: &str = "RWRTY0Iy";
/// The start of an unencrypted one: `Ed`, no KDF, `B2`.
const UNENCRYPTED: &str = "RWQAAEIy";

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The base64 line of a minisign key file.
fn key_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().find(|l| !l.is_empty() && !l.starts_with("untrusted comment:")).unwrap_or_else(|| panic!("{} has no key line:\n{text}", path.display())).to_string()
}

/// A command fed `stdin` (minisign reads passwords there when it has no terminal).
fn with_stdin(cmd: &mut Command, stdin: &str) -> Run {
    let cmdline = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run { status: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into(), cmdline }
}

/// `bundler ARGS` with no password in the environment and no terminal.
fn bundler_without_password(gap: &Gap, args: &[&str]) -> Run {
    run(Command::new(bin("bundler")).args(args).env("BUNDLER_CACHE", gap.path("cache")).env_remove("BUNDLER_KEY_PASSWORD").current_dir(gap.dir.path()))
}

/// A files-only manifest for bundle `name`, its one file served by `srv` from `gap/up`.
fn manifest(gap: &Gap, srv: &StaticServer, name: &str) -> PathBuf {
    let data = format!("the payload of {name}\n");
    std::fs::write(gap.path("up").join(format!("{name}.bin")), &data).unwrap();
    gap.write(&format!("{name}.yaml"), &format!("name: {name}\nfiles:\n  - {{url: \"{}{name}.bin\", sha256: \"{}\"}}\n", srv.url(), sha256(data.as_bytes())))
}

fn upstream(gap: &Gap) -> StaticServer {
    std::fs::create_dir_all(gap.path("up")).unwrap();
    StaticServer::start(&gap.path("up"))
}

/// `bundler create MANIFEST --key KEY --out DIR/OUT --lock DIR/OUT.lock EXTRA…`.
fn create_args(gap: &Gap, m: &Path, key: &Path, out: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["create".to_string(), s(m), "--key".into(), s(key), "--out".into(), s(&gap.path(out)), "--lock".into(), s(&gap.path(&format!("{out}.lock")))];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn keygen_encrypts_the_secret_key_and_minisign_signs_with_it() {
    let gap = Gap::new();
    let pw = gap.write("pw", "correct horse\n");
    let keys = gap.path("enc");
    let out = gap.bundler(&["keygen", "--out", &s(&keys), "--password-file", &s(&pw)]).ok();
    let (sk, pk) = (keys.join("bundle.key"), keys.join("bundle.pub"));
    let line = key_line(&sk);
    assert!(line.starts_with(ENCRYPTED), "the secret key is encrypted with scrypt (kdf `Sc`): {line}\n{}", out.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sk).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the secret key is readable by its owner only");
    }

    // The real minisign signs with it given the password (on stdin, as without a terminal)...
    let msg = gap.write("msg.txt", "hello\n");
    with_stdin(Command::new("minisign").args(["-S", "-s", &s(&sk), "-m", &s(&msg)]), "correct horse\n").ok();
    run(Command::new("minisign").args(["-V", "-m", &s(&msg), "-p", &s(&pk)])).ok();
    // ...and refuses a wrong one: the key really is protected by that password.
    with_stdin(Command::new("minisign").args(["-S", "-s", &s(&sk), "-m", &s(&msg), "-x", &s(&gap.path("x.minisig"))]), "wrong horse\n").fails();

    // bundler create unlocks it with --password-file or BUNDLER_KEY_PASSWORD.
    let srv = upstream(&gap);
    let m = manifest(&gap, &srv, "enc");
    let a = create_args(&gap, &m, &sk, "a.bundle", &["--password-file", &s(&pw)]);
    bundler_without_password(&gap, &strs(&a)).ok();
    gap.bundler(&["verify", &s(&gap.path("a.bundle")), "--pub", &s(&pk)]).ok();
    let b = create_args(&gap, &m, &sk, "b.bundle", &[]);
    gap.bundler_env(&strs(&b), &[("BUNDLER_KEY_PASSWORD", "correct horse")]).ok();
    gap.bundler(&["verify", &s(&gap.path("b.bundle")), "--pub", &s(&pk)]).ok();

    // The old unencrypted key only when asked for; it needs no password.
    let plain = gap.path("plain");
    bundler_without_password(&gap, &["keygen", "--out", &s(&plain), "--unencrypted"]).ok();
    let line = key_line(&plain.join("bundle.key"));
    assert!(line.starts_with(UNENCRYPTED), "--unencrypted writes no KDF: {line}");
    let c = create_args(&gap, &m, &plain.join("bundle.key"), "c.bundle", &[]);
    bundler_without_password(&gap, &strs(&c)).ok();
    gap.bundler(&["verify", &s(&gap.path("c.bundle")), "--pub", &s(&plain.join("bundle.pub"))]).ok();
}

#[test]
fn keys_made_by_minisign_sign_bundles() {
    let gap = Gap::new();
    let srv = upstream(&gap);
    let m = manifest(&gap, &srv, "ms");
    // `minisign -G` asks for the password twice (read from stdin without a terminal).
    let (sk, pk) = (gap.path("ms.key"), gap.path("ms.pub"));
    with_stdin(Command::new("minisign").args(["-G", "-p", &s(&pk), "-s", &s(&sk)]), "tr0ub4dor\ntr0ub4dor\n").ok();
    assert!(key_line(&sk).starts_with(ENCRYPTED));
    let pw = gap.write("ms.pw", "tr0ub4dor\n");
    let a = create_args(&gap, &m, &sk, "ms.bundle", &["--password-file", &s(&pw)]);
    bundler_without_password(&gap, &strs(&a)).ok();
    gap.bundler(&["verify", &s(&gap.path("ms.bundle")), "--pub", &s(&pk)]).ok();
    gap.mirror(&["import", &s(&gap.path("ms.bundle")), "--store", &s(&gap.store()), "--trust", &s(&pk)]).ok();

    // `minisign -G -W`: no password at all.
    let (sk, pk) = (gap.path("w.key"), gap.path("w.pub"));
    run(Command::new("minisign").args(["-G", "-W", "-p", &s(&pk), "-s", &s(&sk)])).ok();
    assert!(key_line(&sk).starts_with(UNENCRYPTED));
    let b = create_args(&gap, &m, &sk, "w.bundle", &[]);
    bundler_without_password(&gap, &strs(&b)).ok();
    gap.bundler(&["verify", &s(&gap.path("w.bundle")), "--pub", &s(&pk)]).ok();
}

#[test]
fn wrong_or_missing_password_is_refused_clearly() {
    let gap = Gap::new();
    let srv = upstream(&gap);
    let m = manifest(&gap, &srv, "pw");
    let key = gap.key();

    let wrong = gap.write("wrong.pw", "not it\n");
    let a = create_args(&gap, &m, &key, "wrong.bundle", &["--password-file", &s(&wrong)]);
    bundler_without_password(&gap, &strs(&a)).fails_with(&["wrong password", &s(&key)]);
    assert!(!gap.path("wrong.bundle").exists());
    let r = gap.bundler_env(&strs(&a[..a.len() - 2]), &[("BUNDLER_KEY_PASSWORD", "not it either")]);
    r.fails_with(&["wrong password", &s(&key), "BUNDLER_KEY_PASSWORD"]);

    // No password anywhere and no terminal to ask on: say where one comes from.
    let b = create_args(&gap, &m, &key, "none.bundle", &[]);
    bundler_without_password(&gap, &strs(&b)).fails_with(&[&s(&key), "--password-file", "BUNDLER_KEY_PASSWORD"]);
    assert!(!gap.path("none.bundle").exists());

    // keygen with no password anywhere keeps the contract's `bundler keygen --out DIR`
    // working for scripts: an unencrypted key, with a warning naming how to encrypt it.
    let dir = gap.path("k");
    let r = bundler_without_password(&gap, &["keygen", "--out", &s(&dir)]).ok();
    assert!(r.stderr.contains("UNENCRYPTED") && r.stderr.contains("--password-file"), "{}", r.stderr);
    assert!(!key_line(&dir.join("bundle.key")).starts_with(ENCRYPTED), "no password given: an unencrypted key");
    let dir = gap.path("k2");
    let empty = gap.write("empty.pw", "\n");
    bundler_without_password(&gap, &["keygen", "--out", &s(&dir), "--password-file", &s(&empty)]).fails_with(&["empty", &s(&empty)]);
    assert!(!dir.join("bundle.key").exists());
}

#[test]
fn on_a_terminal_the_password_is_asked_for() {
    let gap = Gap::new();
    let srv = upstream(&gap);
    let m = manifest(&gap, &srv, "tty");
    let keys = gap.path("tty");
    // `script` runs the command on a pseudo-terminal; what we write to it is typed there (and
    // the command's output comes back on script's stdout).
    let on_tty = |args: &[String], typed: &str| {
        let line: Vec<String> = std::iter::once(s(&bin("bundler"))).chain(args.iter().cloned()).map(|a| format!("'{a}'")).collect();
        with_stdin(
            Command::new("script")
                .args(["-qec", &line.join(" "), "/dev/null"])
                .env("BUNDLER_CACHE", gap.path("cache"))
                .env_remove("BUNDLER_KEY_PASSWORD")
                .current_dir(gap.dir.path()),
            typed,
        )
    };
    let keygen = ["keygen".to_string(), "--out".into(), s(&keys)];
    let r = on_tty(&keygen, "first\nsecond\n").fails();
    assert!(r.stdout.contains("differ"), "two different passwords are refused: {}", r.stdout);
    assert!(!keys.join("bundle.key").exists());
    on_tty(&keygen, "typed here\ntyped here\n").ok();
    assert!(key_line(&keys.join("bundle.key")).starts_with(ENCRYPTED));
    let create = create_args(&gap, &m, &keys.join("bundle.key"), "tty.bundle", &[]);
    on_tty(&create, "typed here\n").ok();
    gap.bundler(&["verify", &s(&gap.path("tty.bundle")), "--pub", &s(&keys.join("bundle.pub"))]).ok();
}
