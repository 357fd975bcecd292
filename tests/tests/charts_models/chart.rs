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
