//! Streaming a stored file as an HTTP body with single-range support (RFC 9110 §14), shared
//! by every protocol that serves blobs. Files are streamed, never read whole.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// No usable Range header (absent, malformed or multi-range, which we may ignore): 200.
    Whole,
    /// Inclusive byte positions.
    Part(u64, u64),
    /// Syntactically fine but outside the file: 416.
    Unsatisfiable,
}

pub fn parse_range(value: Option<&HeaderValue>, size: u64) -> Range {
    let Some(spec) = value.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else { return Range::Whole };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if size > 0 => Range::Part(size.saturating_sub(n), size - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Whole,
        },
        (false, true) => match num(a) {
            Some(s) if s < size => Range::Part(s, size - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Whole,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s > e => Range::Whole,
            (Some(s), Some(_)) if s >= size => Range::Unsatisfiable,
            (Some(s), Some(e)) => Range::Part(s, e.min(size - 1)),
            _ => Range::Whole,
        },
        (true, true) => Range::Whole,
    }
}

#[derive(Debug)]
pub enum FileError {
    NotFound,
    Io(std::io::Error),
}

/// 200/206/416 response for `path`; the caller adds its protocol's headers.
pub async fn file_response(path: &Path, head: bool, request: &HeaderMap, content_type: &'static str) -> Result<Response, FileError> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FileError::NotFound),
        Err(e) => return Err(FileError::Io(e)),
    };
    let size = file.metadata().await.map_err(FileError::Io)?.len();
    let (status, start, len) = match parse_range(request.get(header::RANGE), size) {
        Range::Whole => (StatusCode::OK, 0, size),
        Range::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Range::Unsatisfiable => {
            let mut r = Response::new(Body::from(format!("range not satisfiable: the blob has {size} bytes\n")));
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return Ok(r);
        }
    };
    let body = if head {
        Body::empty()
    } else {
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(FileError::Io)?;
        }
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1)).expect("ascii"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |v: &'static str, size| parse_range(Some(&HeaderValue::from_static(v)), size);
        assert_eq!(parse_range(None, 10), Range::Whole);
        assert_eq!(r("bytes=0-3", 10), Range::Part(0, 3));
        assert_eq!(r("bytes=5-", 10), Range::Part(5, 9));
        assert_eq!(r("bytes=-4", 10), Range::Part(6, 9));
        assert_eq!(r("bytes=-40", 10), Range::Part(0, 9));
        assert_eq!(r("bytes=8-100", 10), Range::Part(8, 9));
        assert_eq!(r("bytes=10-", 10), Range::Unsatisfiable);
        assert_eq!(r("bytes=10-12", 10), Range::Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Range::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Range::Unsatisfiable);
        assert_eq!(r("bytes=4-2", 10), Range::Whole);
        assert_eq!(r("bytes=0-1,3-4", 10), Range::Whole);
        assert_eq!(r("items=0-1", 10), Range::Whole);
    }
}
