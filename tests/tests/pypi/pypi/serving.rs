//! What the mirror serves: pip and uv install from it, its simple pages as PEP 503 and 691,
//! bundles merged, client-config for pip and uv.

use super::*;

#[test]
fn round_trip_pip_and_uv_from_the_mirror() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let mut http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "pydemo", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["app[cli]", "Foo.Bar"], &[])]);
    let (wheels, bundle) = carry(&gap, &m, "pydemo");
    assert_eq!(wheels.iter().map(|w| w.filename.clone()).collect::<BTreeSet<_>>(), app_x86_311());
    same_as_upstream(&wheels, &idx, &url, &files_url(&url));
    let artifacts = e2e::artifact_names(&gap.inspect(&bundle));
    for w in &wheels {
        let r = format!("pypi/{}/{}", w.project, w.filename);
        assert!(artifacts.contains(&r), "inspect lists {r}: {artifacts:?}");
    }
    // The upstream is gone: everything below comes from the mirror.
    http.stop();
    let mirror = Mirror::start(&gap.store());
    let index = simple(&mirror);

    // pip --require-hashes with the lock's hashes, the mirror as the only index.
    let reqs = gap.write("hashed.txt", &hashed_requirements(&wheels));
    let expect = versions(&[("app", "1.1"), ("lib", "1.2"), ("fastlib", "2.0"), ("abilib", "1.0"), ("oldpy", "1.0"), ("extra-dep", "1.5"), ("foo-bar", "1.0")]);
    let v = Venv::new();
    v.pip_install(&["--index-url", &index, "--require-hashes", "-r", &s(&reqs)]).ok();
    assert_eq!(v.installed(), expect, "pip --require-hashes from the mirror");
    assert_eq!(v.module_info("fastlib"), "2.0 cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64 original");
    // uv likewise.
    let u = Venv::new();
    u.uv_install(&["--no-config", "--index-url", &index, "--require-hashes", "-r", &s(&reqs)], &[]).ok();
    assert_eq!(u.installed(), expect, "uv pip install --require-hashes from the mirror");
    // And a plain install resolving from the mirror's pages (extras, markers, metadata).
    let p = Venv::new();
    p.pip_install(&["--index-url", &index, "app[cli]", "Foo.Bar"]).ok();
    assert_eq!(p.installed(), expect, "pip install app[cli] Foo.Bar from the mirror");
    let pu = Venv::new();
    pu.uv_install(&["--no-config", "--index-url", &index, "app[cli]", "Foo.Bar"], &[]).ok();
    assert_eq!(pu.installed(), expect, "uv pip install app[cli] Foo.Bar from the mirror");
    // What was not carried is not offered.
    Venv::new().pip_install(&["--index-url", &index, "lib==1.0"]).fails();

    // The files: upstream's bytes, HEAD and Range.
    for w in &wheels {
        let f = mirror.url(&format!("/pypi/files/{}", w.filename));
        let got = fetch("GET", &f, None, None);
        assert_eq!(got.status, 200, "{f}");
        assert_eq!(e2e::sha256(&got.body), format!("sha256:{}", idx.dist(&w.filename).sha256), "{f} is upstream's");
        let head = fetch("HEAD", &f, None, None);
        assert_eq!(head.status, 200, "HEAD {f}");
        assert_eq!(head.header("content-length"), Some(w.size.to_string().as_str()), "HEAD {f}: {:?}", head.headers);
        let part = fetch("GET", &f, None, Some("bytes=10-19"));
        assert_eq!(part.status, 206, "Range on {f}: {:?}", part.headers);
        assert_eq!(part.body, got.body[10..20], "Range on {f}");
    }
}

#[test]
fn simple_pages_as_pep_503_and_691() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "pages", "[linux/amd64, linux/arm64]", &[entry(Some(&url), &["3.11", "3.12"], &["app[cli]", "Foo.Bar"], &[])]);
    let (wheels, _) = carry(&gap, &m, "pages");
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let index = simple(&mirror);
    let projects: BTreeSet<String> = wheels.iter().map(|w| w.project.clone()).collect();
    const JSON: &str = "application/vnd.pypi.simple.v1+json";
    const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    const UV_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

    // The project list.
    let list = fetch("GET", &index, Some(JSON), None);
    assert_eq!(list.status, 200);
    assert!(list.header("content-type").is_some_and(|c| c.starts_with(JSON)), "{:?}", list.headers);
    let j = list.json();
    let names: BTreeSet<String> = j["projects"].as_array().unwrap_or_else(|| panic!("{j}")).iter().map(|p| normalize(p["name"].as_str().unwrap())).collect();
    assert_eq!(names, projects, "{j}");
    assert!(j["meta"]["api-version"].as_str().is_some_and(|v| v.starts_with("1.")), "{j}");
    let list = fetch("GET", &index, Some("text/html"), None);
    assert!(list.header("content-type").is_some_and(|c| c.contains("html")), "{:?}", list.headers);
    let names: BTreeSet<String> = html_links(&list.text()).into_iter().map(|(t, _, _)| normalize(&t)).collect();
    assert_eq!(names, projects, "{}", list.text());
    for (_, href, _) in html_links(&list.text()) {
        assert_eq!(fetch("GET", &join(&index, &href), Some("text/html"), None).status, 200, "{href}");
    }

    for project in &projects {
        let page_url = format!("{index}{project}/");
        let mine: Vec<&LockedWheel> = wheels.iter().filter(|w| &w.project == project).collect();
        // PEP 691 JSON, for JSON and for pip's and uv's Accept headers.
        for accept in [JSON, PIP_ACCEPT, UV_ACCEPT] {
            let page = fetch("GET", &page_url, Some(accept), None);
            assert_eq!(page.status, 200, "{page_url}");
            assert!(page.header("content-type").is_some_and(|c| c.starts_with(JSON)), "{page_url} with Accept {accept}: {:?}", page.headers);
            let j = page.json();
            assert_eq!(normalize(j["name"].as_str().unwrap_or_default()), *project, "{j}");
            let files = j["files"].as_array().unwrap_or_else(|| panic!("{j}"));
            assert_eq!(files.len(), mine.len(), "{j}");
            for w in &mine {
                let up = idx.dist(&w.filename);
                let f = files.iter().find(|f| f["filename"] == w.filename.as_str()).unwrap_or_else(|| panic!("{} not on {page_url}: {j}", w.filename));
                assert_eq!(f["hashes"]["sha256"], up.sha256.as_str(), "{f}");
                match &up.spec.requires_python {
                    Some(rp) => assert_eq!(f["requires-python"], rp.as_str(), "{f}"),
                    None => assert!(f.get("requires-python").is_none_or(|v| v.is_null()), "{f}"),
                }
                let cm = &f["core-metadata"];
                assert!(cm == &serde_json::Value::Bool(true) || cm["sha256"] == up.metadata_sha256.as_str(), "core-metadata of {}: {f}", w.filename);
                assert!(f.get("yanked").is_none_or(|y| y == &serde_json::Value::Bool(false)), "{f}");
                let file_url = join(&page_url, f["url"].as_str().unwrap());
                assert_eq!(fetch("GET", &file_url, None, None).body.len() as u64, up.size, "{file_url}");
            }
        }
        // PEP 503 HTML.
        let page = fetch("GET", &page_url, Some("text/html"), None);
        assert_eq!(page.status, 200, "{page_url}");
        assert!(page.header("content-type").is_some_and(|c| c.contains("html")), "{:?}", page.headers);
        let links = html_links(&page.text());
        assert_eq!(links.len(), mine.len(), "{}", page.text());
        for w in &mine {
            let up = idx.dist(&w.filename);
            let (_, href, attrs) = links.iter().find(|(t, _, _)| t == &w.filename).unwrap_or_else(|| panic!("{} not on {page_url}:\n{}", w.filename, page.text()));
            assert!(href.ends_with(&format!("{}#sha256={}", w.filename, up.sha256)), "{href}");
            assert_eq!(attrs.get("data-requires-python"), up.spec.requires_python.as_ref(), "{attrs:?}");
            let meta = format!("sha256={}", up.metadata_sha256);
            for a in ["data-dist-info-metadata", "data-core-metadata"] {
                assert!(attrs.get(a).is_some_and(|v| v == &meta || v == "true"), "{a} of {}: {attrs:?}", w.filename);
            }
            let file_url = join(&page_url, without_fragment(href));
            assert_eq!(e2e::sha256(&fetch("GET", &file_url, None, None).body), format!("sha256:{}", up.sha256), "{file_url}");
            // PEP 658: the core metadata beside the file, exactly the wheel's METADATA.
            let md = fetch("GET", &format!("{file_url}.metadata"), None, None);
            assert_eq!(md.status, 200, "{file_url}.metadata");
            assert_eq!(md.text(), up.metadata, "{file_url}.metadata is the wheel's METADATA");
        }
    }
    // Escaping: `<` and `>` of Requires-Python are entities in the HTML.
    let foo = fetch("GET", &format!("{index}foo-bar/"), Some("text/html"), None).text();
    assert!(foo.contains("data-requires-python=\"&gt;=3.8, &lt;4\""), "{foo}");

    // Non-normalized names redirect to the normalized page; unknown projects are 404.
    for name in ["Foo.Bar", "FOO_bar", "foo__bar"] {
        let r = fetch("GET", &format!("{index}{name}/"), Some(JSON), None);
        assert_eq!(r.status, 301, "{index}{name}/: {:?}", r.headers);
        let loc = r.header("location").unwrap_or_else(|| panic!("301 without Location: {:?}", r.headers));
        assert_eq!(join(&format!("{index}{name}/"), loc), format!("{index}foo-bar/"), "Location of {name}");
    }
    assert_eq!(fetch("GET", &format!("{index}nosuchproject/"), Some(JSON), None).status, 404);
    assert_eq!(fetch("GET", &mirror.url("/pypi/files/nosuch-1.0-py3-none-any.whl"), None, None).status, 404);
    // pip follows the redirect for a name written differently.
    let v = Venv::new();
    v.pip_install(&["--index-url", &index, "FOO_bar"]).ok();
    assert_eq!(v.installed(), versions(&[("foo-bar", "1.0")]));
}

#[test]
fn bundles_merge_on_the_mirror() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let one = manifest(&gap, "one", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["lib==1.0"], &[])]);
    let two = manifest(&gap, "two", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["lib==1.2", "oldpy"], &[])]);
    carry(&gap, &one, "one");
    let mirror = Mirror::start(&gap.store());
    // The second import goes through the running server.
    carry(&gap, &two, "two");
    drop(http);
    let index = simple(&mirror);
    let page = fetch("GET", &format!("{index}lib/"), Some("application/vnd.pypi.simple.v1+json"), None).json();
    let files: BTreeSet<String> = page["files"].as_array().unwrap_or_else(|| panic!("{page}")).iter().map(|f| f["filename"].as_str().unwrap().to_string()).collect();
    assert_eq!(files, set(&["lib-1.0-py3-none-any.whl", "lib-1.2-py2.py3-none-any.whl"]), "{page}");
    let list = fetch("GET", &index, Some("application/vnd.pypi.simple.v1+json"), None).json();
    let names: BTreeSet<String> = list["projects"].as_array().unwrap().iter().map(|p| normalize(p["name"].as_str().unwrap())).collect();
    assert_eq!(names, set(&["lib", "oldpy"]));
    let old = Venv::new();
    old.pip_install(&["--index-url", &index, "lib==1.0"]).ok();
    assert_eq!(old.installed(), versions(&[("lib", "1.0")]));
    let new = Venv::new();
    new.uv_install(&["--no-config", "--index-url", &index, "lib", "oldpy"], &[]).ok();
    assert_eq!(new.installed(), versions(&[("lib", "1.2"), ("oldpy", "1.0")]), "the newest wins");
    // Re-importing a bundle changes nothing.
    gap.import(&gap.path("one.bundle")).ok();
    let again = fetch("GET", &format!("{index}lib/"), Some("application/vnd.pypi.simple.v1+json"), None).json();
    assert_eq!(again["files"].as_array().unwrap().len(), 2, "{again}");
}

#[test]
fn client_config_pip_and_uv() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "cfg", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["oldpy", "Foo.Bar"], &[])]);
    carry(&gap, &m, "cfg");
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let base = mirror.url("");
    let index = simple(&mirror);

    let pip_conf = gap.mirror(&["client-config", "pip", "--url", &base]).ok().stdout;
    assert!(pip_conf.contains("[global]") && pip_conf.lines().any(|l| l.replace(' ', "") == format!("index-url={index}")), "pip.conf:\n{pip_conf}");
    let uv_out = gap.mirror(&["client-config", "uv", "--url", &base]).ok().stdout;
    assert!(uv_out.contains("[[index]]") && uv_out.contains(&format!("url = \"{index}\"")) && uv_out.contains("default = true"), "uv.toml:\n{uv_out}");
    // The environment alternative: UV_INDEX_URL (the brief's name) or UV_DEFAULT_INDEX (uv ≥ 0.4's
    // name for it), wherever the output shows it.
    let (env_name, env_url) = ["UV_INDEX_URL", "UV_DEFAULT_INDEX"]
        .iter()
        .find_map(|n| {
            let at = uv_out.find(&format!("{n}="))?;
            let v = uv_out[at + n.len() + 1..].split_whitespace().next()?;
            Some((*n, v.trim_matches(|c| c == '"' || c == '\'').to_string()))
        })
        .unwrap_or_else(|| panic!("no UV_INDEX_URL= or UV_DEFAULT_INDEX= in:\n{uv_out}"));
    assert_eq!(env_url, index);

    let out = gap.path("cfg-out");
    gap.mirror(&["client-config", "pip", "--url", &base, "--out", &s(&out)]).ok();
    gap.mirror(&["client-config", "uv", "--url", &base, "--out", &s(&out)]).ok();
    let (pip_file, uv_file) = (out.join("pip/pip.conf"), out.join("uv/uv.toml"));
    assert!(
        pip_file.exists() && uv_file.exists(),
        "--out writes pip/pip.conf and uv/uv.toml: {:?}",
        files_in(&out.join("pip")).union(&files_in(&out.join("uv"))).collect::<Vec<_>>()
    );
    toml::from_str::<toml::Value>(&std::fs::read_to_string(&uv_file).unwrap()).unwrap_or_else(|e| panic!("uv.toml is not TOML: {e}"));

    let expect = versions(&[("oldpy", "1.0"), ("foo-bar", "1.0")]);
    // pip with nothing but the written pip.conf.
    let v = Venv::new();
    v.pip_install_env(&["oldpy", "Foo.Bar"], &[("PIP_CONFIG_FILE", pip_file.to_str().unwrap())]).ok();
    assert_eq!(v.installed(), expect, "pip with {}", pip_file.display());
    // uv with the written uv.toml, and with the printed environment line.
    let u = Venv::new();
    u.uv_install(&["--config-file", uv_file.to_str().unwrap(), "oldpy", "Foo.Bar"], &[]).ok();
    assert_eq!(u.installed(), expect, "uv with {}", uv_file.display());
    let e = Venv::new();
    e.uv_install(&["--no-config", "oldpy", "Foo.Bar"], &[(env_name, &env_url)]).ok();
    assert_eq!(e.installed(), expect, "uv with {env_name}={env_url}");
}
