//! The operator's web pages in a real browser (headless Chromium through chromedriver): every
//! page loads with no console message, the search form finds an image, a wheel and a deb by
//! typing their names, each result opens the artifact's page with its exact digests, and the
//! commands it offers fetch those bytes from this mirror. A phone-sized window does not scroll
//! sideways; the HTML loads nothing from elsewhere and runs no script. Screenshots of every page
//! are kept under the tests' temp dir (target/tmp/web-pages/) for people to look at.

use e2e::{http, sha256, Gap, Mirror};

/// The URL inside the first `<pre>` line of `text` that starts with `prefix` (a command the page
/// offers), its last word.
fn command_url(text: &str, prefix: &str) -> String {
    let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` command on the page:\n{text}"));
    line.split_whitespace().last().unwrap().to_string()
}

#[test]
fn operator_pages_in_a_real_browser() {
    let gap = Gap::new();
    let image = e2e::imported_image_wheel_deb(&gap, "web", "webwheel", "web-deb");
    let store = gap.store();
    let m = Mirror::start(&store);
    // A gc and a verify, so the overview has their results to show.
    gap.mirror(&["gc", "--store", store.to_str().unwrap()]).ok();
    gap.mirror(&["verify", "--store", store.to_str().unwrap()]).ok();
    let base = format!("http://{}", m.host);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-pages");
    let _ = std::fs::remove_dir_all(&shots);
    let (img, wheel, deb) = ("docker.io/library/hello:1", "pypi/webwheel/webwheel-1.0-py3-none-any.whl", "apt/standin/web-deb_1.0_all.deb");
    let plan = serde_json::json!({
        "base": base,
        "shots": shots,
        "pages": [["overview", "/"], ["history", "/ui/history"], ["clients", "/ui/clients"], ["not-held", "/ui/artifact?name=nothing%2Fhere%3A1"]],
        "searches": [{"q": "hello", "open": img}, {"q": "webwheel", "open": wheel}, {"q": "web-deb", "open": deb}],
        "phone": [["overview", "/"], ["artifact", "/ui/artifact?name=docker.io%2Flibrary%2Fhello%3A1"]],
    });
    let seen = e2e::browser::run(&plan);

    let every_page = seen["pages"].as_object().unwrap().values().chain(seen["artifacts"].as_object().unwrap().values()).chain(seen["phone"].as_object().unwrap().values());
    let mut n = 0;
    for p in every_page.chain(seen["searches"].as_object().unwrap().values().map(|s| &s["page"])) {
        n += 1;
        let console = p["console"].as_array().unwrap();
        // The not-held page answers 404, which Chromium logs as a failed resource: that is all it may say.
        let unexpected: Vec<_> = console.iter().filter(|c| !(p["url"].as_str().unwrap().contains("nothing") && c["message"].as_str().unwrap().contains("404"))).collect();
        assert!(unexpected.is_empty(), "{}: console says {unexpected:?}", p["url"]);
        assert!(p["title"].as_str().unwrap().ends_with("air-gap mirror"), "{}", p["title"]);
        let png = std::fs::read(p["screenshot"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{}: screenshot", p["url"]);
    }
    assert_eq!(n, 12, "{seen}");

    // The overview: counts per ecosystem, store usage, last gc and verify.
    let overview = seen["pages"]["overview"]["text"].as_str().unwrap();
    for needle in ["apt\n1\nartifacts", "pypi\n1\nartifacts", "store size", "Last gc ", "Last verify ", "OK", "docker.io/library/hello"] {
        assert!(overview.contains(needle), "overview lacks {needle:?}:\n{overview}");
    }
    let history = seen["pages"]["history"]["text"].as_str().unwrap();
    assert!(history.contains("import web sequence") && history.contains(" gc: "), "{history}");
    assert!(seen["pages"]["clients"]["text"].as_str().unwrap().contains(&format!("index-url = {base}/pypi/simple/")));
    assert!(seen["pages"]["not-held"]["text"].as_str().unwrap().contains("holds no artifact named nothing/here:1"));

    // Search finds each kind by typing; the result opens its page.
    for (q, want) in [("hello", img), ("webwheel", wheel), ("web-deb", deb)] {
        let names = &seen["searches"][q]["names"];
        assert!(names.as_array().unwrap().iter().any(|n| n == want), "search {q:?} found {names}");
        assert!(seen["artifacts"][want]["url"].as_str().unwrap().contains("/ui/artifact?name="), "{}", seen["artifacts"][want]);
    }
    // The image: its index digest, both platforms with their manifests, pull commands.
    let page = seen["artifacts"][img]["text"].as_str().unwrap();
    assert!(page.contains(&image.index), "{page}");
    for (arch, d) in &image.manifests {
        assert!(page.contains(&format!("linux/{arch}: {d}")), "{arch}: {page}");
    }
    assert!(page.contains(&format!("podman pull --tls-verify=false {}/{img}", m.host)), "{page}");
    assert!(page.contains("web") && page.contains("Brought by"), "{page}");
    // The wheel: the command's URL serves bytes with the sha256 the page states.
    let page = seen["artifacts"][wheel]["text"].as_str().unwrap();
    let body = http::get(&m.host, command_url(page, "curl -fO ").strip_prefix(&base).unwrap(), &[]).unwrap();
    assert_eq!(body.status, 200);
    assert!(page.contains(&sha256(&body.body)), "the page's sha256 is the served wheel's: {page}");
    assert!(page.contains(&format!("pip install --index-url {base}/pypi/simple/ webwheel==1.0")), "{page}");
    // The deb likewise.
    let page = seen["artifacts"][deb]["text"].as_str().unwrap();
    let body = http::get(&m.host, command_url(page, "curl -fO ").strip_prefix(&base).unwrap(), &[]).unwrap();
    assert_eq!(body.status, 200);
    assert!(page.contains(&sha256(&body.body)) && page.contains("apt-get install web-deb=1.0"), "{page}");

    // A phone-sized window: nothing wider than the screen.
    for (label, p) in seen["phone"].as_object().unwrap() {
        assert!(p["scroll_width"].as_u64() <= p["inner_width"].as_u64(), "{label} scrolls sideways on a phone: {} > {}", p["scroll_width"], p["inner_width"]);
    }
    // No script, nothing fetched from elsewhere: it works in an air gap and without JavaScript.
    for path in ["/", "/ui/history", "/ui/clients", "/ui/search?q=web", "/ui/artifact?name=docker.io%2Flibrary%2Fhello%3A1"] {
        let r = http::get(&m.host, path, &[]).unwrap();
        let html = String::from_utf8(r.body).unwrap();
        assert!(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url(http"), "{path}: {html}");
    }
    eprintln!("screenshots in {}", shots.display());
}
