//! Issue 7, the mirror on a cluster: its Helm chart (`mirror/chart/`) passes `helm lint` and
//! renders with the real helm: a StatefulSet with the store on a PVC, /healthz probes, non-root
//! with a read-only root filesystem; TLS, credentials, Ingress, NetworkPolicy and a
//! ServiceMonitor for /metrics when asked.

use std::path::PathBuf;

use e2e::helm::Helm;

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mirror/chart")
}

#[test]
fn mirror_chart_lints_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let helm = Helm::new(dir.path());
    let c = chart();
    let lint = helm.run(&["lint", c.to_str().unwrap()]).ok();
    assert!(lint.stdout.contains("1 chart(s) linted, 0 chart(s) failed"), "{}", lint.stdout);

    let plain = helm.run(&["template", "m", c.to_str().unwrap()]).ok().stdout;
    for needle in [
        "kind: StatefulSet",
        "volumeClaimTemplates:",
        "storage: 200Gi",
        "path: /healthz",
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "- --no-tls",
        "kind: Service",
        "containerPort: 5000",
    ] {
        assert!(plain.contains(needle), "default render lacks {needle:?}:\n{plain}");
    }
    for absent in ["kind: Ingress", "kind: NetworkPolicy", "kind: ServiceMonitor", "--htpasswd", "--tls-cert"] {
        assert!(!plain.contains(absent), "default render has {absent:?}");
    }

    let full = helm
        .run(&[
            "template",
            "m",
            c.to_str().unwrap(),
            "--set",
            "tls.secretName=mirror-tls",
            "--set",
            "auth.htpasswdSecret=mirror-auth",
            "--set",
            "ingress.enabled=true",
            "--set",
            "ingress.host=mirror.site",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.labels.release=kps",
            "--set",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ])
        .ok()
        .stdout;
    // Publisher keys in the values: the server's trust file, and NOTES that import by streaming
    // the bundle into the pod (its image has no tar for `kubectl cp`).
    let trust = dir.path().join("trust.toml");
    std::fs::write(&trust, "[[key]]\nkey = \"RWQ6F1NWrBauOtDr8+GePWjZ4HBOzl39v7QWyzFoOXO0oeMIymfbaEL1\"\nnames = [\"*\"]\n").unwrap();
    let with_trust = helm.run(&["template", "m", c.to_str().unwrap(), "--set-file", &format!("trust.file={}", trust.display())]).ok().stdout;
    for needle in ["- --trust-file=/etc/feas/trust/trust.toml", "name: m-feas-mirror-trust", "trust.toml: |", "names = [\"*\"]", "mountPath: /etc/feas/trust"] {
        assert!(with_trust.contains(needle), "render with trust.file lacks {needle:?}:\n{with_trust}");
    }
    assert!(!plain.contains("--trust-file") && !plain.contains("-trust"), "{plain}");
    // `helm template` does not render NOTES (and `install --dry-run` wants a cluster): the
    // import it gives is the one `store::operate` runs against a real server.
    let notes = std::fs::read_to_string(c.join("templates/NOTES.txt")).unwrap();
    assert!(notes.contains("exec -i {{ include \"mirror.fullname\" . }}-0 -- mirror import - --store /var/lib/feas < stack.bundle") && !notes.contains("kubectl cp "), "{notes}");
    for needle in [
        "- --tls-cert=/etc/feas/tls/tls.crt",
        "secretName: mirror-tls",
        "- --htpasswd=/etc/feas/auth/htpasswd",
        "scheme: HTTPS",
        "kind: Ingress",
        "host: \"mirror.site\"",
        "kind: NetworkPolicy",
        "egress: []",
        "@sha256:0123456789abcdef",
        "kind: ServiceMonitor",
        "path: /metrics",
        "scheme: https",
        "release: kps",
    ] {
        assert!(full.contains(needle), "full render lacks {needle:?}:\n{full}");
    }
}
