//! Crash consistency: `mirror import`, `mirror serve` importing and `mirror gc` killed -9 at
//! byte offsets and times spread over the whole run; after each, the previous state is served.

use super::*;

/// Two imports of one bundle name: A (sequence 1: hello:1 and a small file) and B (sequence 2:
/// hello:1 moved to new content, other:1, six 6 MiB files), both uncompressed so byte offsets in
/// the file are offsets in the tar stream.
struct Site {
    gap: Gap,
    /// A store with A imported; every case starts from a copy.
    template: PathBuf,
    bundle_b: PathBuf,
    urls: Vec<String>,
    a: Observed,
    b: Observed,
    /// How long `mirror import B` takes here.
    b_import: Duration,
    /// Blobs B carries that A's store does not hold.
    b_only: BTreeSet<String>,
    hello_v2: BuiltImage,
}

const B_FILES: [&str; 6] = ["b1.bin", "b2.bin", "b3.bin", "b4.bin", "b5.bin", "b6.bin"];

fn site() -> Site {
    let gap = Gap::new();
    let (reg, hello_v1, other) = e2e::image::shared_pair(gap.dir.path());

    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join("a.bin"), payload(256 << 10, 1)).unwrap();
    let big = payload(6 << 20, 2);
    for (i, f) in B_FILES.iter().enumerate() {
        let mut b = big.clone();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(up.join(f), b).unwrap();
    }
    let http = StaticServer::start(&up);
    let entry = |f: &str| format!("  - {{url: {}, sha256: {}}}\n", q(&format!("{}{f}", http.url())), q(&sha256(&std::fs::read(up.join(f)).unwrap())[7..]));
    let manifest = |rel: &str, images: &str, files: &[&str]| {
        gap.write(
            rel,
            &format!(
                "name: site\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages:\n{images}files:\n{}",
                reg.host,
                files.iter().map(|f| entry(f)).collect::<String>()
            ),
        )
    };
    let ma = manifest("a.yaml", "  - docker.io/library/hello:1\n", &["a.bin"]);
    gap.lock(&ma).ok();
    let bundle_a = gap.create(&ma, "a.bundle", &["--sequence", "1", "--compression", "none"]);
    let mut l3 = ImageBuilder::new(&gap.path("l3"));
    // On the pair's base layer, as hello v1 and other are.
    let hello_v2 = l3.multi_arch("1", "shared base layer", "hello v2");
    l3.push("1", &reg.host, "library/hello");
    let mut b_files = vec!["a.bin"];
    b_files.extend(B_FILES);
    let mb = manifest("b.yaml", "  - docker.io/library/hello:1\n  - docker.io/library/other:1\n", &b_files);
    gap.lock(&mb).ok();
    let bundle_b = gap.create(&mb, "b.bundle", &["--sequence", "2", "--compression", "none"]);
    drop((reg, http));

    let template = gap.path("template");
    let trust = s(&gap.public());
    gap.mirror(&["import", &s(&bundle_a), "--store", &s(&template), "--trust", &trust]).ok();
    let info = gap.inspect(&bundle_b);
    let carried: BTreeSet<String> = info["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    let b_only: BTreeSet<String> = carried.difference(&blob_files(&template)).cloned().collect();
    assert!(b_only.len() >= 10, "B brings many blobs of its own: {b_only:?}");

    let repo = "/v2/docker.io/library";
    let mut urls: Vec<String> = vec![
        "/v2/_catalog".into(),
        format!("{repo}/hello/tags/list"),
        format!("{repo}/other/tags/list"),
        format!("{repo}/hello/manifests/1"),
        format!("{repo}/other/manifests/1"),
        format!("{repo}/hello/manifests/{}", hello_v1.index),
        format!("{repo}/hello/manifests/{}", hello_v2.index),
        format!("{repo}/other/manifests/{}", other.index),
        "/files/".into(),
        "/files/a.bin".into(),
        "/sbom/site".into(),
    ];
    urls.extend(B_FILES.iter().map(|f| format!("/files/{f}")));
    urls.extend(hello_v1.blobs().iter().map(|d| format!("{repo}/hello/blobs/{d}")));

    let reference = gap.path("reference");
    copy_dir(&template, &reference);
    let t = Instant::now();
    gap.mirror(&["import", &s(&bundle_b), "--store", &s(&reference), "--trust", &trust]).ok();
    let b_import = t.elapsed();
    let observe_store = |store: &Path| {
        let serve = Serve::start(store);
        let o = observe(&gap, &serve, store, &urls);
        serve.stop();
        o
    };
    let a = observe_store(&template);
    let b = observe_store(&reference);
    let manifest_of = |o: &Observed| o.served[&format!("{repo}/hello/manifests/1")].clone();
    assert_eq!(manifest_of(&a), format!("200 {}", hello_v1.index), "A serves hello v1");
    assert_eq!(manifest_of(&b), format!("200 {}", hello_v2.index), "B moved the tag to hello v2");
    assert!(a.served[&format!("{repo}/other/manifests/1")].starts_with("404") && a.served["/files/b1.bin"].starts_with("404"), "{a:?}");
    assert_eq!(b.served[&format!("{repo}/other/manifests/1")], format!("200 {}", other.index));
    std::fs::remove_dir_all(&reference).unwrap();
    eprintln!("site: B carries {} new blobs; `mirror import B` takes {b_import:?}", b_only.len());
    Site { gap, template, bundle_b, urls, a, b, b_import, b_only, hello_v2 }
}

#[derive(Debug, Clone)]
enum Kill {
    /// Feed the bundle through a FIFO up to this byte, let the importer take it, kill -9.
    AtByte(usize),
    /// kill -9 this long after `mirror import` (of the bundle file) started.
    After(Duration),
    /// kill -9 as soon as this many of B's own blobs are in blobs/: promotion under way, the
    /// metadata commit next.
    WhenPromoted(usize),
    /// kill -9 the `mirror serve` that runs the import for `mirror import` (control socket),
    /// fed through a FIFO up to this byte.
    ServeAtByte(usize),
}

/// Run one crash case on a fresh copy of A's store; returns the store (the importer is dead
/// and nothing else holds it) and what happened.
fn crash(site: &Site, n: usize, kill: &Kill) -> (PathBuf, String) {
    let gap = &site.gap;
    let store = gap.path(&format!("case-{n}"));
    copy_dir(&site.template, &store);
    let log = gap.path(&format!("case-{n}.import.log"));
    let trust = s(&gap.public());
    let bytes = || std::fs::read(&site.bundle_b).unwrap();
    let import_args = |file: &Path| vec!["import".to_string(), s(file), "--store".into(), s(&store), "--trust".into(), trust.clone()];
    let args = |v: &Vec<String>| v.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    let what = match kill {
        Kill::AtByte(at) => {
            let fifo = gap.path(&format!("case-{n}.fifo"));
            mkfifo(&fifo);
            let a = import_args(&fifo);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
            let data = bytes();
            let fed = w.feed(&data[..*at], Duration::from_secs(20));
            // Let the importer take what the pipe holds and write it out.
            std::thread::sleep(Duration::from_millis(300));
            let exited = p.0.try_wait().unwrap();
            assert!(
                exited.is_none() || *at == data.len(),
                "the importer exited ({exited:?}) fed {at} of {} bytes ({fed:?}):\n{}",
                data.len(),
                std::fs::read_to_string(&log).unwrap()
            );
            let _ = p.0.kill();
            let _ = p.0.wait();
            format!("killed -9 at byte {at} of {}", data.len())
        }
        Kill::After(d) => {
            let a = import_args(&site.bundle_b);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            std::thread::sleep(*d);
            match p.0.try_wait().unwrap() {
                Some(st) => format!("finished ({st}) before the kill at {d:?}"),
                None => {
                    let _ = p.0.kill();
                    let _ = p.0.wait();
                    format!("killed -9 after {d:?}")
                }
            }
        }
        Kill::WhenPromoted(k) => {
            let a = import_args(&site.bundle_b);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(st) = p.0.try_wait().unwrap() {
                    break format!("finished ({st}) before {k} blobs were seen promoted");
                }
                let promoted = site.b_only.iter().filter(|d| e2e::store_blob(&store, d).exists()).count();
                if promoted >= *k {
                    let _ = p.0.kill();
                    let _ = p.0.wait();
                    break format!("killed -9 with {promoted} of {} new blobs promoted", site.b_only.len());
                }
                assert!(Instant::now() < deadline, "{}: no promotion seen", args(&a));
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Kill::ServeAtByte(at) => {
            let mut serve = Serve::start(&store);
            let fifo = gap.path(&format!("case-{n}.fifo"));
            mkfifo(&fifo);
            let a = import_args(&fifo);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
            let _ = w.feed(&bytes()[..*at], Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(300));
            assert!(tmp_entries(&store).iter().any(|e| e.starts_with("import-")), "the server is staging the import");
            serve.kill9();
            drop(w);
            // The client learns the server went away and fails.
            let st = wait_exit(&mut p.0, Duration::from_secs(10)).expect("`mirror import` hangs after its server died");
            assert!(!st.success(), "`mirror import` succeeded although its server was killed");
            format!("mirror serve killed -9 while importing, at byte {at}")
        }
    };
    (store, what)
}

#[test]
fn import_killed_at_any_point_leaves_the_previous_state_served() {
    let started = Instant::now();
    let site = site();
    let entries = tar_entries(&site.bundle_b);
    let len = std::fs::metadata(&site.bundle_b).unwrap().len() as usize;
    let end_of = |name: &str| entries.iter().find(|e| e.0 == name).map(|e| e.1 + e.2).unwrap_or_else(|| panic!("no {name} in the bundle"));
    let big: Vec<&(String, usize, usize)> = entries.iter().filter(|e| e.2 >= 1 << 20).collect();
    let first_blob = entries.iter().find(|e| e.0.starts_with("blobs/")).unwrap();
    assert!(big.len() == 6, "{entries:?}");
    let mut cases = vec![
        (Kill::AtByte(0), true),
        (Kill::AtByte(end_of("bundle.json.minisig")), true),
        (Kill::AtByte(first_blob.1 - 512), true),
        (Kill::AtByte(big[0].1 + big[0].2 / 2), true),
        (Kill::AtByte(big[2].1 + big[2].2), true),
        (Kill::AtByte(big[5].1 + big[5].2 / 2), true),
        (Kill::AtByte(len - 1024), true),
        (Kill::ServeAtByte(big[1].1 + big[1].2 / 3), true),
        (Kill::WhenPromoted(1), false),
        (Kill::WhenPromoted(site.b_only.len()), false),
    ];
    // Spread over the whole import, process start to exit (sled's commit and settle included).
    for f in [5, 20, 40, 60, 80, 95, 110, 150] {
        cases.push((Kill::After(site.b_import * f / 100), false));
    }
    let (mut served_a, mut served_b) = (0, 0);
    for (n, (kill, must_be_a)) in cases.iter().enumerate() {
        let (store, what) = crash(&site, n, kill);
        let serve = Serve::start(&store);
        assert!(tmp_entries(&store).is_empty(), "case {n} ({what}): staging left in tmp/: {:?}", tmp_entries(&store));
        let seen = observe(&site.gap, &serve, &store, &site.urls);
        let state = if seen == site.a {
            served_a += 1;
            "A"
        } else if seen == site.b {
            served_b += 1;
            "B"
        } else {
            panic!("case {n} ({what}): the store serves neither A's nor B's state; against A:\n{}against B:\n{}", diff(&seen, &site.a), diff(&seen, &site.b));
        };
        assert!(!must_be_a || state == "A", "case {n} ({what}): serves B's state although B's import cannot have finished");
        site.gap.mirror(&["verify", "--store", &s(&store)]).ok();
        site.gap.mirror(&["import", &s(&site.bundle_b), "--store", &s(&store), "--trust", &s(&site.gap.public())]).ok();
        let after = observe(&site.gap, &serve, &store, &site.urls);
        assert!(after == site.b, "case {n} ({what}): re-imported B is not served as B:\n{}", diff(&after, &site.b));
        // Every B blob is there and right (verify re-hashes them all).
        assert!(site.b_only.is_subset(&blob_files(&store)));
        site.gap.mirror(&["verify", "--store", &s(&store)]).ok();
        serve.stop();
        eprintln!("case {n}: {what} → served {state}; verify passed; B re-imported and served");
        std::fs::remove_dir_all(&store).unwrap();
    }
    assert!(served_a >= 8, "{served_a} kills left A served, {served_b} B");
    let _ = &site.hello_v2;
    eprintln!("{} kills: {served_a} left A's state, {served_b} B's (killed after its commit); {:?}", cases.len(), started.elapsed());
}

/// Waits until the moment to kill a running gc; `Some` when it finished first.
type GcWait = dyn Fn(&mut Proc, &Path) -> Option<String>;

/// `mirror gc` killed at points spread over its run: the store still verifies and serves
/// exactly what it served before gc, and a gc run to the end collects exactly what an
/// uninterrupted gc does.
#[test]
fn gc_killed_at_any_point_keeps_what_is_served() {
    let started = Instant::now();
    let site = site();
    let gap = &site.gap;
    let trust = s(&gap.public());
    // A then B imported, then other:1 and B's files removed: their blobs are garbage.
    let template = gap.path("gc-template");
    copy_dir(&site.template, &template);
    gap.mirror(&["import", &s(&site.bundle_b), "--store", &s(&template), "--trust", &trust]).ok();
    let mut rm = vec!["rm".to_string(), "--store".into(), s(&template), "docker.io/library/other:1".into()];
    rm.extend(B_FILES.iter().map(|f| format!("files/{f}")));
    gap.mirror(&rm.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    // What must stay served: tags, manifests by tag, files, and hello v2's blobs.
    let repo = "/v2/docker.io/library";
    let mut urls: Vec<String> = site.urls.iter().filter(|u| !u.contains("/blobs/") && !u.contains("/manifests/sha256:")).cloned().collect();
    urls.extend(site.hello_v2.blobs().iter().map(|d| format!("{repo}/hello/blobs/{d}")));
    let before = {
        let serve = Serve::start(&template);
        let o = observe(gap, &serve, &template, &urls);
        serve.stop();
        o
    };
    assert!(before.served["/files/b1.bin"].starts_with("404") && before.served[&format!("{repo}/other/manifests/1")].starts_with("404"));
    assert!(before.served[&format!("{repo}/hello/manifests/1")].starts_with("200"));

    // The uninterrupted gc: what it deletes, how long it takes.
    let reference = gap.path("gc-reference");
    copy_dir(&template, &reference);
    let held = blob_files(&reference);
    let t = Instant::now();
    let summary = gap.mirror(&["gc", "--store", &s(&reference), "--json"]).ok().json();
    let gc_time = t.elapsed();
    let kept = blob_files(&reference);
    let garbage: BTreeSet<String> = held.difference(&kept).cloned().collect();
    assert!(garbage.len() >= 20 && garbage.len() == summary["removed"].as_array().unwrap().len(), "{summary}");
    let inventory_after = gap.mirror(&["inventory", "--store", &s(&reference)]).ok().json();
    std::fs::remove_dir_all(&reference).unwrap();
    eprintln!("gc: {} of {} blobs are garbage; `mirror gc` takes {gc_time:?}", garbage.len(), held.len());

    let mut kills: Vec<(String, Box<GcWait>)> = Vec::new();
    for f in [0, 10, 25, 40, 55, 70, 85, 100] {
        let d = gc_time * f / 100;
        kills.push((
            format!("after {d:?}"),
            Box::new(move |p: &mut Proc, _: &Path| {
                std::thread::sleep(d);
                p.0.try_wait().unwrap().map(|st| format!("finished ({st}) before the kill"))
            }),
        ));
    }
    for k in [1, garbage.len() / 2] {
        let g = garbage.clone();
        kills.push((
            format!("when {k} garbage files are gone"),
            Box::new(move |p: &mut Proc, store: &Path| {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if let Some(st) = p.0.try_wait().unwrap() {
                        return Some(format!("finished ({st}) before the kill"));
                    }
                    if g.iter().filter(|d| !e2e::store_blob(store, d).exists()).count() >= k {
                        return None;
                    }
                    assert!(Instant::now() < deadline, "gc deleted nothing within 30 s");
                    std::thread::sleep(Duration::from_micros(100));
                }
            }),
        ));
    }
    for (n, (label, wait)) in kills.iter().enumerate() {
        let store = gap.path(&format!("gc-case-{n}"));
        copy_dir(&template, &store);
        let mut p = spawn_mirror(&["gc", "--store", &s(&store)], &gap.path(&format!("gc-case-{n}.log")));
        let what = match wait(&mut p, &store) {
            Some(finished) => finished,
            None => {
                let _ = p.0.kill();
                let _ = p.0.wait();
                format!("killed -9 {label}")
            }
        };
        drop(p);
        let files = blob_files(&store);
        assert!(files.is_superset(&kept) && files.is_subset(&held), "case {n} ({what}): gc deleted a kept blob or added one");
        let serve = Serve::start(&store);
        let seen = observe(gap, &serve, &store, &urls);
        assert!(
            seen.served == before.served,
            "case {n} ({what}): serves something else after the killed gc:\n{}",
            diff(&seen, &Observed { inventory: seen.inventory.clone(), served: before.served.clone() })
        );
        assert!(
            seen.inventory == before.inventory || seen.inventory == inventory_after,
            "case {n} ({what}): the inventory is neither the one before gc nor after:\n{}",
            seen.inventory
        );
        let records = if seen.inventory == before.inventory { "before" } else { "after" };
        // The trail is written in the same transaction as the records it describes.
        let gcs = |gap: &Gap| gap.mirror(&["history", "--json", "--store", &s(&store)]).ok().json().as_array().unwrap().iter().filter(|e| e["action"] == "gc").count();
        assert_eq!(gcs(gap), usize::from(records == "after"), "case {n} ({what}): the audit trail disagrees with the records ({records} gc)");
        gap.mirror(&["verify", "--store", &s(&store)]).ok();
        // Run to the end (through the server): the same result as an uninterrupted gc.
        gap.mirror(&["gc", "--store", &s(&store)]).ok();
        assert_eq!(gcs(gap), usize::from(records == "after") + 1, "case {n} ({what}): the completing gc is in the trail");
        assert_eq!(blob_files(&store), kept, "case {n} ({what}): gc run again keeps exactly what an uninterrupted gc keeps");
        let end = observe(gap, &serve, &store, &urls);
        assert!(
            end.served == before.served && end.inventory == inventory_after,
            "case {n} ({what}): after gc:\n{}",
            diff(&end, &Observed { inventory: inventory_after.clone(), served: before.served.clone() })
        );
        gap.mirror(&["verify", "--store", &s(&store)]).ok();
        serve.stop();
        eprintln!("gc case {n}: {what} → same state served, blob records as {records} gc; verify passed; gc completed");
        std::fs::remove_dir_all(&store).unwrap();
    }
    eprintln!("{} gc kills: {:?}", kills.len(), started.elapsed());
}
