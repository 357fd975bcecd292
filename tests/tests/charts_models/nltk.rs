//! Issue 5, NLTK data: a stand-in downloader index (packages + a collection, zips with MD5
//! checksums) on a static server; bundled, imported, and `nltk.downloader.Downloader` with
//! `server_index_url` pointed at the mirror installs the collection; `nltk.data.find` finds
//! the files. A checksum mismatch is refused with nothing written.

use std::path::Path;
use std::process::Command;

use e2e::pypi::python;
use e2e::zip::zip_stored;
use e2e::{run, sha256, Gap, Mirror, StaticServer};

fn md5(path: &Path) -> String {
    let r = run(Command::new("md5sum").arg(path)).ok();
    r.stdout.split_whitespace().next().unwrap().to_string()
}

/// Writes the zips and index.xml under `dir`; `bad_checksum` lists a wrong MD5 for demo_words.
fn standin(dir: &Path, base: &str, bad_checksum: bool) {
    let pkgs = [("demo_words", "corpora", "words.txt", "alpha\nbeta\ngamma\n"), ("demo_tok", "tokenizers", "README", "a tiny tokenizer model\n")];
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<nltk_data>\n<packages>\n");
    for (id, subdir, file, text) in pkgs {
        let zip = zip_stored(&[(format!("{id}/"), Vec::new()), (format!("{id}/{file}"), text.as_bytes().to_vec())]);
        let p = dir.join("packages").join(subdir).join(format!("{id}.zip"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &zip).unwrap();
        let sum = if bad_checksum && id == "demo_words" { "0".repeat(32) } else { md5(&p) };
        xml.push_str(&format!(
            "<package id=\"{id}\" name=\"Demo {id} &amp; co\" subdir=\"{subdir}\" url=\"{base}packages/{subdir}/{id}.zip\" size=\"{}\" unzipped_size=\"{}\" checksum=\"{sum}\" unzip=\"1\" license=\"public domain\" />\n",
            zip.len(),
            text.len()
        ));
    }
    xml.push_str("</packages>\n<collections>\n<collection id=\"demo_all\" name=\"Both demo packages\">\n<item ref=\"demo_words\" />\n<item ref=\"demo_tok\" />\n</collection>\n</collections>\n</nltk_data>\n");
    std::fs::write(dir.join("index.xml"), xml).unwrap();
}

fn manifest(gap: &Gap, index: &str) -> std::path::PathBuf {
    gap.write("nltk.yaml", &format!("name: nltkdemo\nnltk:\n  - {{index: {index:?}, packages: [demo_all]}}\n"))
}

/// nltk's SSRF guard refuses loopback unless switched off (REAL-CLIENTS §8).
const DOWNLOAD: &str = include_str!("nltk_download.py");

/// The stand-in bundled and imported into the gap's store; returns the upstream directory.
fn imported(gap: &Gap) -> std::path::PathBuf {
    let up = gap.path("upstream");
    std::fs::create_dir_all(&up).unwrap();
    let srv = StaticServer::start(&up);
    standin(&up, &srv.url(), false);
    let m = manifest(gap, &format!("{}index.xml", srv.url()));
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(lock.contains("name = \"demo_words\"") && lock.contains("name = \"demo_tok\""), "the collection expands to both packages:\n{lock}");
    let bundle = gap.create(&m, "nltk.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    drop(srv);
    gap.import(&bundle).ok();
    up
}

#[test]
fn nltk_downloader_installs_a_collection_from_the_mirror() {
    let gap = Gap::new();
    let up = imported(&gap);
    let mirror = Mirror::start(&gap.store());

    let index = run(Command::new("curl").args(["-sSf", "--max-time", "20", &mirror.url("/nltk/index.xml")])).ok().stdout;
    assert!(index.contains(&format!("url=\"{}\"", mirror.url("/nltk/packages/corpora/demo_words.zip"))), "package URLs point at the mirror:\n{index}");
    assert!(index.contains("<collection") && index.contains("ref=\"demo_tok\""), "{index}");
    let zip = run(Command::new("curl").args(["-sSf", "--max-time", "20", &mirror.url("/nltk/packages/corpora/demo_words.zip"), "-o", gap.path("w.zip").to_str().unwrap()])).ok();
    drop(zip);
    assert_eq!(sha256(&std::fs::read(gap.path("w.zip")).unwrap()), sha256(&std::fs::read(up.join("packages/corpora/demo_words.zip")).unwrap()));

    let data = gap.path("nltk_data");
    let r = run(Command::new(python()).args(["-c", DOWNLOAD, &mirror.url("/nltk/index.xml"), data.to_str().unwrap()]).env_remove("NLTK_DATA")).ok();
    assert!(
        r.stdout.contains("corpora/demo_words/words.txt alpha|beta|gamma") && r.stdout.contains("tokenizers/demo_tok/README a tiny tokenizer model"),
        "nltk found the files: {r:?}"
    );
    assert!(data.join("corpora/demo_words.zip").exists(), "the zip is installed where nltk puts it");

    // client-config nltk: the pre-seed script fills NLTK_DATA without the downloader.
    let cfg = gap.path("cfg");
    gap.mirror(&["client-config", "nltk", "--url", &mirror.url(""), "--out", cfg.to_str().unwrap()]).ok();
    let script = cfg.join("nltk/nltk-mirror.sh");
    assert!(std::fs::read_to_string(&script).unwrap().contains(&format!("server_index_url='{}'", mirror.url("/nltk/index.xml"))));
    let seeded = gap.path("seeded");
    run(Command::new("sh").arg(&script).env("NLTK_DATA", &seeded)).ok();
    let find = "import nltk, sys; nltk.data.path[:] = [sys.argv[1]]; print(open(nltk.data.find('corpora/demo_words/words.txt')).read().split())";
    let r = run(Command::new(python()).args(["-c", find, seeded.to_str().unwrap()])).ok();
    assert!(r.stdout.contains("['alpha', 'beta', 'gamma']"), "{r:?}");
}

#[test]
fn checksum_mismatch_is_refused() {
    let gap = Gap::new();
    let up = gap.path("upstream");
    std::fs::create_dir_all(&up).unwrap();
    let srv = StaticServer::start(&up);
    standin(&up, &srv.url(), true);
    let m = manifest(&gap, &format!("{}index.xml", srv.url()));
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("demo_words") && r.stderr.to_lowercase().contains("checksum"), "{}", r.stderr);
    assert!(!gap.lock_file().exists());
    let out = gap.path("x.bundle");
    gap.try_create(&m, &out, &gap.key(), &[]).fails();
    assert!(!out.exists());
    // An id that is neither a package nor a collection.
    let m2 = gap.write("n2.yaml", &format!("name: n2\nnltk:\n  - {{index: \"{}index.xml\", packages: [nope]}}\n", srv.url()));
    let r = gap.lock(&m2).fails();
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

/// The index's package URLs are the mirror's own: `--external-url` whatever Host a client
/// sends (no pointing them elsewhere with a forged header), and https over the mirror's TLS,
/// where the real Downloader installs through them trusting the mirror's CA.
#[test]
fn index_urls_are_the_mirrors_own_and_https_over_tls() {
    let gap = Gap::new();
    imported(&gap);
    let zip_url = |base: &str| format!("url=\"{base}/nltk/packages/corpora/demo_words.zip\"");

    let mut mirror = Mirror::start_with_serve_args(&gap.store(), &["--external-url", "https://mirror.example:8443/gap/"]);
    let forged = ["-H", "Host: evil.example", "-H", "X-Forwarded-Host: evil.example", "-H", "X-Forwarded-Proto: http"];
    let index = run(Command::new("curl").args(["-sSf", "--max-time", "20"]).args(forged).arg(mirror.url("/nltk/index.xml"))).ok().stdout;
    assert!(index.contains(&zip_url("https://mirror.example:8443/gap")) && !index.contains("evil.example"), "{index}");
    assert!(mirror.server.terminate());

    // HTTPS with the mirror's own CA, no --external-url: the scheme is the listener's.
    gap.mirror(&["init", "--store", gap.store().to_str().unwrap(), "--name", "127.0.0.1"]).ok();
    let ca = gap.store().join("tls/ca.crt");
    let host = format!("127.0.0.1:{}", e2e::free_port());
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["serve", "--store", gap.store().to_str().unwrap(), "--listen", &host]);
    let mut tls = e2e::Server::start("mirror serve (TLS)", &mut cmd, gap.path("tls-serve.log"));
    let (health, cas) = (format!("https://{host}/healthz"), ca.display().to_string());
    tls.wait_until("HTTPS /healthz", || run(Command::new("curl").args(["-sf", "--max-time", "2", "--cacert", &cas, &health])).status == 0);
    let index_url = format!("https://{host}/nltk/index.xml");
    let index = run(Command::new("curl").args(["-sSf", "--max-time", "20", "--cacert", &cas, &index_url])).ok().stdout;
    assert!(index.contains(&zip_url(&format!("https://{host}"))), "{index}");
    let data = gap.path("nltk_data");
    let r = run(Command::new(python()).args(["-c", DOWNLOAD, &index_url, data.to_str().unwrap()]).env_remove("NLTK_DATA").env("SSL_CERT_FILE", &cas)).ok();
    assert!(r.stdout.contains("corpora/demo_words/words.txt alpha|beta|gamma"), "nltk over https: {r:?}");
    assert!(tls.terminate());
}
