//! Disk full: a store on a small tmpfs refuses a larger bundle up front and fails cleanly when
//! filled mid-import, the store unchanged and still served.

use super::*;

/// A tmpfs mounted for one test, unmounted (lazily, so a straggler cannot block it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &s(dir)]).output().map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `needs N bytes` and `only F bytes` from the mirror's no-space message.
fn space_figures(msg: &str) -> (u64, u64) {
    let after = |marker: &str| -> u64 {
        let i = msg.find(marker).unwrap_or_else(|| panic!("no {marker:?} in: {msg}"));
        msg[i + marker.len()..].split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("no number after {marker:?} in: {msg}"))
    };
    (after("needs "), after("only "))
}

#[test]
fn disk_full_import_fails_cleanly_and_the_store_keeps_serving() {
    let gap = Gap::new();
    let small = gap.path("small");
    let _fs = match Tmpfs::mount(&small, "64m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED disk_full_import_fails_cleanly_and_the_store_keeps_serving: {why} (needs root and a kernel that lets this process mount tmpfs)");
            return;
        }
    };
    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    let base = payload(16 << 20, 5);
    let file_of = |i: u64, size: usize| {
        let mut b = base[..size].to_vec();
        b[..8].copy_from_slice(&i.to_le_bytes());
        b
    };
    std::fs::write(up.join("a.bin"), file_of(1, 512 << 10)).unwrap();
    let huge: Vec<String> = (1..=5).map(|i| format!("h{i}.bin")).collect();
    for (i, f) in huge.iter().enumerate() {
        std::fs::write(up.join(f), file_of(10 + i as u64, 16 << 20)).unwrap();
    }
    let mid: Vec<String> = (1..=3).map(|i| format!("m{i}.bin")).collect();
    for (i, f) in mid.iter().enumerate() {
        std::fs::write(up.join(f), file_of(20 + i as u64, 12 << 20)).unwrap();
    }
    let http = StaticServer::start(&up);
    let bundle = |name: &str, files: &[String]| {
        let list: String =
            files.iter().map(|f| format!("  - {{url: {}, sha256: {}}}\n", q(&format!("{}{f}", http.url())), q(&sha256(&std::fs::read(up.join(f)).unwrap())[7..]))).collect();
        let m = gap.write(&format!("{name}.yaml"), &format!("name: {name}\nfiles:\n{list}"));
        gap.create(&m, &format!("{name}.bundle"), &["--compression", "none"])
    };
    let small_bundle = bundle("small", &["a.bin".to_string()]);
    let huge_bundle = bundle("huge", &huge);
    let mid_bundle = bundle("mid", &mid);
    drop(http);

    let store = small.join("store");
    let trust = s(&gap.public());
    let import = |b: &Path| gap.mirror(&["import", &s(b), "--store", &s(&store), "--trust", &trust]);
    import(&small_bundle).ok();
    let serve = Serve::start(&store);
    let mut urls: Vec<String> = vec!["/files/".into(), "/files/a.bin".into()];
    urls.extend(huge.iter().chain(&mid).map(|f| format!("/files/{f}")));
    let before = observe(&gap, &serve, &store, &urls);
    assert!(before.served["/files/a.bin"].starts_with("200"));
    let files_before = snapshot(&store);

    // Larger than the filesystem: refused before a byte is written, saying what is needed and free.
    let r = import(&huge_bundle).fails();
    let (needed, free) = space_figures(&r.stderr);
    eprintln!("refused up front: {}", r.stderr.trim());
    assert!(needed >= 5 * (16 << 20), "needs {needed} bytes: at least the 80 MiB of new blobs\n{}", r.stderr);
    assert!(free < 64 << 20 && free > 40 << 20 && free < needed, "free {free}\n{}", r.stderr);
    assert!(r.stderr.contains("are free") && r.stderr.contains("mirror gc"), "{}", r.stderr);
    assert_eq!(snapshot(&store), files_before, "a refused import changed the store");
    assert!(tmp_entries(&store).is_empty(), "{:?}", tmp_entries(&store));
    assert_eq!(observe(&gap, &serve, &store, &urls), before);

    // Fits when it starts, then the disk fills up under it (another writer): the write fails
    // with ENOSPC, the staging is removed and the message says how much is needed and free.
    let entries = tar_entries(&mid_bundle);
    let first = entries.iter().find(|e| e.2 >= 1 << 20).unwrap();
    let first_hex = first.0.rsplit('/').next().unwrap().to_string();
    let fifo = gap.path("mid.fifo");
    mkfifo(&fifo);
    let log = gap.path("mid-import.log");
    let mut p = spawn_mirror(&["import", &s(&fifo), "--store", &s(&store), "--trust", &trust], &log);
    let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
    let data = std::fs::read(&mid_bundle).unwrap();
    w.feed(&data[..first.1 + first.2], Duration::from_secs(20)).unwrap();
    let staged = e2e::poll(Duration::from_secs(20), || {
        tmp_entries(&store)
            .iter()
            .filter(|e| e.starts_with("import-"))
            .any(|d| std::fs::metadata(store.join("tmp").join(d).join(format!("sha256-{first_hex}"))).is_ok_and(|m| m.len() == first.2 as u64))
    });
    assert!(staged.is_ok(), "the first blob was not staged: {:?}\n{}", tmp_entries(&store), serve.log_text());
    let filler = small.join("filler");
    {
        let mut f = File::create(&filler).unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
    }
    let _ = w.feed(&data[first.1 + first.2..], Duration::from_secs(20));
    drop(w);
    let st = wait_exit(&mut p.0, Duration::from_secs(30)).expect("the import on a full disk did not end");
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!st.success(), "import succeeded on a full disk:\n{out}");
    let (needed, free) = space_figures(&out);
    eprintln!("failed mid-write: {}", out.trim());
    assert!(needed >= 3 * (12 << 20) && free < 1 << 20, "needs {needed}, free {free}:\n{out}");
    assert!(tmp_entries(&store).is_empty(), "partial files left: {:?}", tmp_entries(&store));
    assert_eq!(snapshot(&store), files_before, "a failed import changed the store");
    assert_eq!(observe(&gap, &serve, &store, &urls), before, "the previous state is still served");

    // Space back: the same bundle imports and is served.
    std::fs::remove_file(&filler).unwrap();
    import(&mid_bundle).ok();
    let after = observe(&gap, &serve, &store, &urls);
    for f in &mid {
        assert_eq!(after.served[&format!("/files/{f}")], format!("200 {}", sha256(&std::fs::read(up.join(f)).unwrap())));
    }
    gap.mirror(&["verify", "--store", &s(&store)]).ok();
    serve.stop();
}
