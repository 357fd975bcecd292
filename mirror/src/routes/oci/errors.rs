//! Registered OCI error codes with their HTTP status, and the spec's error body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::API_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadUnknown,
    BlobUploadInvalid,
    /// A chunk that does not start where the upload ends (416, as the spec says).
    RangeInvalid,
    ManifestUnknown,
    ManifestInvalid,
    ManifestBlobUnknown,
    SizeInvalid,
    TagInvalid,
    Denied,
    NameUnknown,
    NameInvalid,
    DigestInvalid,
    PaginationNumberInvalid,
    Unsupported,
    /// A per-writer limit reached (distribution registers it with 429).
    TooManyRequests,
    Unknown,
}

impl Code {
    pub fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Code::BlobUnknown => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            Code::BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            Code::BlobUploadInvalid => (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            Code::RangeInvalid => (StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID"),
            Code::ManifestUnknown => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            Code::ManifestInvalid => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
            Code::ManifestBlobUnknown => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            Code::SizeInvalid => (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
            // Not in the OCI list; distribution registers it with this status.
            Code::TagInvalid => (StatusCode::BAD_REQUEST, "TAG_INVALID"),
            Code::Denied => (StatusCode::FORBIDDEN, "DENIED"),
            Code::NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
            Code::NameInvalid => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            Code::DigestInvalid => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            // Not in the OCI list; distribution registers it with this status.
            Code::PaginationNumberInvalid => (StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID"),
            Code::Unsupported => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            Code::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
            Code::Unknown => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
        }
    }
}

#[derive(Debug)]
pub struct OciError {
    pub code: Code,
    pub message: String,
    pub detail: serde_json::Value,
}

impl OciError {
    pub fn new(code: Code, message: impl Into<String>) -> OciError {
        OciError { code, message: message.into(), detail: serde_json::Value::Null }
    }
    pub fn with_detail(mut self, detail: serde_json::Value) -> OciError {
        self.detail = detail;
        self
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let (status, code) = self.code.parts();
        let body = serde_json::json!({"errors": [{"code": code, "message": self.message, "detail": self.detail}]});
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        resp.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
        if self.code == Code::Unsupported {
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if let Some(range) = self.detail.get("range").and_then(|r| r.as_str()).and_then(|r| HeaderValue::from_str(r).ok()) {
            resp.headers_mut().insert(header::RANGE, range);
        }
        resp
    }
}

/// Internals are logged, not shown to clients.
impl From<crate::store::StoreError> for OciError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!("store: {e}");
        OciError::new(Code::Unknown, "internal store error; see the mirror's log")
    }
}
