//! `mirror client-config apt`: a deb822 sources file for the mirror's apt repositories, with
//! its signing key.

use std::path::Path;

use anyhow::{bail, Context};

use crate::commands::client_config::get;

/// deb822 `.sources` stanzas with the mirror's key inline (`Signed-By:` accepts an armored
/// block since apt 2.3, i.e. Debian 12 and Ubuntu 22.04), so one file is the whole setup.
pub fn apt_sources(url: &str, listing: &serde_json::Value, armored_key: &str) -> anyhow::Result<String> {
    let sources = listing["sources"].as_array().context("the mirror's /apt/ listing has no `sources`")?;
    if sources.is_empty() {
        bail!("the mirror at {url} holds no apt repository yet; import a bundle with an `apt:` section first");
    }
    let key: Vec<String> = armored_key.trim_end().lines().map(|l| if l.trim().is_empty() { " .".to_string() } else { format!(" {l}") }).collect();
    let mut out = String::new();
    for s in sources {
        let id = s["id"].as_str().context("source without id")?;
        for suite in s["suites"].as_array().into_iter().flatten() {
            let components: Vec<&str> = suite["components"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            let archs: Vec<&str> = suite["architectures"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "Types: deb\nURIs: {url}/apt/{id}\nSuites: {}\nComponents: {}\nArchitectures: {}\nSigned-By:\n{}\n",
                suite["suite"].as_str().context("suite without name")?,
                components.join(" "),
                archs.join(" "),
                key.join("\n")
            ));
        }
    }
    Ok(out)
}

pub(super) async fn apt(client: &reqwest::Client, url: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let listing: serde_json::Value = serde_json::from_slice(&get(client, &format!("{url}/apt/")).await?).context("the mirror's /apt/ listing is not JSON")?;
    let armored = String::from_utf8(get(client, &format!("{url}/apt/key.asc")).await?).context("the mirror's key is not text")?;
    let sources = apt_sources(url, &listing, &armored)?;
    match out {
        Some(dir) => {
            let dir = dir.join("apt");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join("mirror.sources"), &sources)?;
            std::fs::write(dir.join("mirror.gpg"), get(client, &format!("{url}/apt/key.gpg")).await?)?;
            eprintln!("wrote {0}/mirror.sources and {0}/mirror.gpg; on each client: copy mirror.sources to /etc/apt/sources.list.d/, then `apt-get update`", dir.display());
        }
        None => {
            println!("# /etc/apt/sources.list.d/mirror.sources — the mirror's signing key is inline; then run `apt-get update`.");
            println!("# One-line alternative: curl -fsSL {url}/apt/key.gpg -o /etc/apt/keyrings/mirror.gpg and");
            println!("#   deb [signed-by=/etc/apt/keyrings/mirror.gpg] {url}/apt/<id> <suite> <components>");
            print!("{sources}");
        }
    }
    Ok(())
}
