//! Names that become URL path segments, file names and repository components: the rules the
//! bundler checks a manifest against and the mirror checks a bundle against.

/// Chart names become URL path segments and OCI repository components.
pub fn valid_chart_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// A served file name: one path segment of safe characters.
pub fn valid_file_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 255 && !n.starts_with('.') && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+~".contains(&b))
}

/// Ids, suites, components and architectures become URL path segments on the mirror.
pub fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+~".contains(&b))
}
