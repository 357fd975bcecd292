//! Issue 16, Helm constraints as helm reads them: one chart at many versions (0.x, pre-releases,
//! a `v` prefix) in a stand-in HTTP chart repository; for each constraint in a table the real
//! helm (`helm show chart --repo URL --version C`) and `bundler lock` must pick the same
//! version, or both find none.

use e2e::helm::Helm;
use e2e::{Gap, StaticServer};

const VERSIONS: &[&str] = &[
    "0.0.3",
    "0.0.4",
    "0.1.0",
    "0.2.3",
    "0.2.9",
    "0.3.0",
    "1.0.0",
    "1.2.0-rc.1",
    "1.2.0",
    "1.2.3",
    "1.2.10",
    "1.3.0",
    "1.4.5",
    "1.4.6",
    "1.5.0",
    "2.0.0-beta",
    "2.0.0",
    "2.1.0",
    "v3.0.0",
    "3.1.0-alpha.1",
];

/// Masterminds semver v3 as helm uses it: tilde, caret (0.x too), wildcards, hyphen ranges,
/// AND by comma or space, `||`, and pre-releases only when the constraint names one.
const CONSTRAINTS: &[&str] = &[
    "",
    "*",
    "x",
    "1.2.3",
    "=1.4.5",
    "v1.2.3",
    "1.2",
    "1",
    "1.2.x",
    "1.x",
    "~1.2.3",
    "~1.2",
    "~1",
    "~>1.2",
    "^1.2.3",
    "^1.2",
    "^1",
    "^0.2.3",
    "^0.2",
    "^0.0.3",
    "^0.0",
    "^0",
    ">=1.2.4 <1.4",
    ">= 1.2.4, < 2.0.0",
    ">1.2",
    ">1",
    "<=1.4",
    "<2",
    "<0.1.0",
    "!=2.1.0",
    "1.2 - 1.4.5",
    "1.0.0 - 1.3",
    "1.2.3 || 2.x",
    ">=1.0.0-0",
    ">=1.2.0-0 <1.2.1",
    ">=1.0.0-0 <2.0.0",
    "^2.0.0-0",
    ">=1.2.0-0 <1.2.0",
    ">2.0.0-alpha",
    "~1.2.0-rc",
    "1.2.0-rc.1",
    "2.0.0-beta",
    ">=3.0.0",
    "v3.0.0",
    "3.x",
    "4.x",
    ">= nope",
];

/// The `version:` line of `helm show chart` (None when helm finds no version).
fn helm_pick(helm: &Helm, url: &str, constraint: &str) -> Option<String> {
    let mut args = vec!["show", "chart", "demo", "--repo", url];
    if !constraint.is_empty() {
        args.extend(["--version", constraint]);
    }
    let r = helm.run(&args);
    (r.status == 0).then(|| r.stdout.lines().find_map(|l| l.strip_prefix("version: ")).expect("helm show chart prints the version").trim().to_string())
}

/// The version `bundler lock` records (None when it refuses).
fn bundler_pick(gap: &Gap, url: &str, i: usize, constraint: &str) -> Option<String> {
    let version = if constraint.is_empty() { String::new() } else { format!(", version: \"{constraint}\"") };
    let m = gap.write(&format!("m{i}.yaml"), &format!("name: c\ncharts:\n  - {{repo: \"{url}\", name: demo{version}}}\n"));
    let lock_file = gap.path(&format!("m{i}.lock"));
    let r = gap.bundler(&["lock", m.to_str().unwrap(), "--lock", lock_file.to_str().unwrap()]);
    if r.status != 0 {
        return None;
    }
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(&lock_file).unwrap()).unwrap();
    Some(lock["chart"][0]["version"].as_str().unwrap().to_string())
}

#[test]
fn bundler_picks_the_chart_version_helm_picks() {
    let gap = Gap::new();
    let helm = Helm::new(gap.dir.path());
    let repo_dir = gap.path("repo");
    let src = gap.path("src");
    let chart = helm.create_chart(&src, "demo", "0.0.1", None);
    let cy = chart.join("Chart.yaml");
    let text = std::fs::read_to_string(&cy).unwrap();
    for v in VERSIONS {
        let t: String = text.lines().map(|l| if l.starts_with("version:") { format!("version: {v}") } else { l.to_string() }).collect::<Vec<_>>().join("\n");
        std::fs::write(&cy, t + "\n").unwrap();
        helm.package(&chart, &repo_dir);
    }
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();
    let srv = StaticServer::start(&repo_dir);
    let url = srv.url().trim_end_matches('/').to_string();

    let mut table = Vec::new();
    let mut differ = 0;
    for (i, c) in CONSTRAINTS.iter().enumerate() {
        let want = helm_pick(&helm, &url, c);
        let got = bundler_pick(&gap, &url, i, c);
        differ += usize::from(want != got);
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        table.push(format!("{:<22} helm {:<14} bundler {:<14}{}", format!("{c:?}"), show(&want), show(&got), if want == got { "" } else { "  DIFFERS" }));
    }
    drop(srv);
    let table = table.join("\n");
    println!("{table}");
    assert_eq!(differ, 0, "bundler and helm disagree:\n{table}");
}
