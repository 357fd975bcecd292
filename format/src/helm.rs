//! Helm wire types and rules both sides apply.

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// index.json annotation listing the images a chart references (for `bundler inspect`).
pub const IMAGES_ANNOTATION: &str = "dev.feas.helm.images";

/// OCI tags cannot hold `+`; helm writes `_` instead.
pub fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}
