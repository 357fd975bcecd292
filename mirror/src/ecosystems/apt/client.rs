//! `mirror client-config apt`: a deb822 sources file for the mirror's apt repositories, with
//! its signing key.

use std::path::Path;

use anyhow::{bail, Context};

use crate::commands::client_config::{emit, get, Access, Generated};

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

/// The apt files for `url`: the sources (key inline), the binary key, and with a private CA or
/// read authentication the `apt.conf.d` line naming the CA for this host and the
/// `auth.conf.d` entry.
pub fn apt_files(url: &str, sources: String, key: Vec<u8>, access: Access) -> Vec<Generated> {
    let mut files = vec![Generated::config("apt/mirror.sources", sources), Generated::quiet("apt/mirror.gpg", key)];
    if let Some(pem) = access.ca {
        // Host-specific, so other https sources keep the system's CAs. apt 2.6 reads
        // `Acquire::https::HOST::CAInfo` (not the `CAInfo::HOST` its man page shows).
        let authority = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let host = authority.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h);
        files.push(Generated::config(
            "apt/apt.conf.d/60feas-mirror-ca",
            format!("// /etc/apt/apt.conf.d/60feas-mirror-ca: trust the mirror's CA for {host} only.\nAcquire::https::{host}::CAInfo \"{}\";\n", access.ca_path),
        ));
        files.push(Generated::ca("apt/mirror-ca.crt", pem));
    }
    if let Some((user, password)) = access.creds {
        // With the scheme: an entry without one matches https only (apt_auth.conf(5)).
        files.push(Generated::holding(
            "apt/auth.conf.d/feas-mirror.conf",
            format!("# /etc/apt/auth.conf.d/feas-mirror.conf (mode 0600, owned by root)\nmachine {url}/apt/ login {user} password {password}\n"),
            true,
        ));
    }
    files
}

pub(super) async fn apt(client: &reqwest::Client, url: &str, out: Option<&Path>, access: Access<'_>) -> anyhow::Result<()> {
    let listing: serde_json::Value = serde_json::from_slice(&get(client, &format!("{url}/apt/")).await?).context("the mirror's /apt/ listing is not JSON")?;
    let armored = String::from_utf8(get(client, &format!("{url}/apt/key.asc")).await?).context("the mirror's key is not text")?;
    let sources = apt_sources(url, &listing, &armored)?;
    let key = get(client, &format!("{url}/apt/key.gpg")).await?;
    let mut hint = String::from("on each client: copy apt/mirror.sources to /etc/apt/sources.list.d/");
    if access.ca.is_some() {
        hint.push_str(&format!(", apt/apt.conf.d/60feas-mirror-ca to /etc/apt/apt.conf.d/ and apt/mirror-ca.crt to {}", access.ca_path));
    }
    if access.creds.is_some() {
        hint.push_str(", apt/auth.conf.d/feas-mirror.conf to /etc/apt/auth.conf.d/ (mode 0600)");
    }
    hint.push_str(", then `apt-get update`");
    if out.is_none() {
        println!("# /etc/apt/sources.list.d/mirror.sources — the mirror's signing key is inline; then run `apt-get update`.");
        println!("# One-line alternative: curl -fsSL {url}/apt/key.gpg -o /etc/apt/keyrings/mirror.gpg and");
        println!("#   deb [signed-by=/etc/apt/keyrings/mirror.gpg] {url}/apt/<id> <suite> <components>");
    }
    emit(out, &apt_files(url, sources, key, access), &hint)
}
