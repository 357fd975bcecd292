//! PEP 508 requirements as the manifest, requirements files and wheel METADATA spell them.

/// Parse a PEP 508 requirement. pep508_rs 0.9 panics when its parser accepts a name that
/// its own name type then rejects (`torch7.`, found by fuzzing), so the name's PEP 508 shape
/// — letters and digits at both ends, `._-` inside — is checked first.
pub fn parse_requirement(s: &str) -> Result<pep508_rs::Requirement, String> {
    let t = s.trim_start();
    let name: &str = &t[..t.find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))).unwrap_or(t.len())];
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let well_formed = alnum(name.chars().next()) && alnum(name.chars().last());
    if !name.is_empty() && !well_formed {
        return Err(format!("{name:?} is not a valid project name: it must start and end with a letter or digit"));
    }
    s.parse::<pep508_rs::Requirement>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_are_checked_before_pep508_rs() {
        assert!(parse_requirement("torch7.").unwrap_err().contains("torch7."));
        assert!(parse_requirement("_x>=1").is_err());
        assert_eq!(parse_requirement("requests[socks]>=2; python_version>'3'").unwrap().name.to_string(), "requests");
        assert!(parse_requirement("").is_err());
    }
}
