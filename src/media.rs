//! Media bytes in an object store (a directory under the data directory by default, or an
//! S3-compatible bucket), expiring signed download links, and pre-signed upload forms (an S3 POST
//! policy signed with AWS Signature Version 4, or Parley's own signed form for a local store).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Where the bytes live.
#[derive(Debug, Clone)]
pub enum Backing {
    /// Files under this directory (created when missing).
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Endpoint of an S3-compatible server (MinIO, Ceph, R2…); AWS's when `None`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Credentials; when absent they come from the environment (`AWS_*`, instance metadata).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
}

/// Where media bytes live and how links to them are signed.
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store, whose files are flushed to disk after writing.
    local_root: Option<PathBuf>,
    /// The bucket of an S3 store, whose upload forms are S3 POST policies.
    s3: Option<S3Settings>,
    public_url: String,
    signing_key: Vec<u8>,
}

/// What a pre-signed upload form allows: one file of a type starting with `type_prefix` (the form
/// proposes `content_type`), of at most `max_bytes`.
pub struct UploadLimits {
    pub type_prefix: &'static str,
    pub content_type: &'static str,
    pub max_bytes: u64,
}

/// A pre-signed upload: POST `url` as `multipart/form-data` with every field of `fields` (a
/// different `Content-Type` may be given within the allowed type), then the file as `file`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadForm {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

/// The policy of a local store's upload form, carried in it signed.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalPolicy {
    pub key: String,
    pub type_prefix: String,
    pub max_bytes: u64,
    /// Unix seconds.
    pub expires: i64,
}

/// Field of a local store's upload form that signs its policy.
pub const LOCAL_SIGNATURE_FIELD: &str = "x-parley-signature";

/// Path of a local store's upload forms.
pub const LOCAL_UPLOAD_PATH: &str = "/uploads";

/// The `Cache-Control` uploads are stored with.
const UPLOAD_CACHE_CONTROL: &str = "private, max-age=86400";

/// A failure to store or read media bytes.
pub type StoreError = object_store::Error;

/// The bytes of a stored file, chunk by chunk.
pub type ByteStream = futures::stream::BoxStream<'static, Result<bytes::Bytes, StoreError>>;

impl MediaStore {
    /// A store over `backing` whose links start with `public_url`.
    pub fn new(backing: &Backing, public_url: String, signing_key: Vec<u8>) -> Result<MediaStore, StoreError> {
        let store: Arc<dyn ObjectStore> = match backing {
            Backing::Local(root) => {
                std::fs::create_dir_all(root)
                    .map_err(|e| StoreError::Generic { store: "local", source: Box::new(e) })?;
                Arc::new(LocalFileSystem::new_with_prefix(root)?)
            }
            Backing::S3(s3) => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                    builder = builder.with_access_key_id(id).with_secret_access_key(secret);
                }
                Arc::new(builder.build()?)
            }
        };
        let local_root = match backing {
            Backing::Local(root) => Some(root.clone()),
            Backing::S3(_) => None,
        };
        let s3 = match backing {
            Backing::S3(s3) => Some(s3.clone()),
            Backing::Local(_) => None,
        };
        Ok(MediaStore { store, local_root, s3, public_url, signing_key })
    }

    /// A fresh, unguessable media key shaped like `b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93`.
    pub fn new_key() -> String {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex = hex::encode(bytes);
        format!("{}/{}/{}", &hex[..8], &hex[8..16], &hex[16..])
    }

    /// Whether `key` has the shape of a media key (so it is safe as an object path).
    pub fn is_valid_key(key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        parts.len() == 3
            && [8, 8, 32]
                .iter()
                .zip(&parts)
                .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Stores bytes under `key`, durably, before returning (a local file appears whole or not
    /// at all, and is flushed to disk).
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.store.put(&Path::from(key), PutPayload::from(bytes.to_vec())).await?;
        if let Some(root) = &self.local_root {
            let flush = async { tokio::fs::File::open(root.join(key)).await?.sync_all().await };
            flush.await.map_err(|e| StoreError::Generic { store: "local", source: Box::new(e) })?;
        }
        Ok(())
    }

    /// Reads the bytes stored under `key`.
    pub async fn get(&self, key: &str) -> Result<bytes::Bytes, StoreError> {
        self.store.get(&Path::from(key)).await?.bytes().await
    }

    /// Opens the bytes stored under `key` as a stream, with their length.
    pub async fn open(&self, key: &str) -> Result<(u64, ByteStream), StoreError> {
        let result = self.store.get(&Path::from(key)).await?;
        Ok((result.meta.size, result.into_stream()))
    }

    /// A pre-signed form to upload one file under `key` until `expires` (Unix seconds).
    pub fn upload_form(&self, key: &str, limits: &UploadLimits, expires: i64) -> Result<UploadForm, String> {
        if let Some(s3) = &self.s3 {
            return s3_post_form(s3, key, limits, expires, chrono::Utc::now());
        }
        let policy = LocalPolicy {
            key: key.to_owned(),
            type_prefix: limits.type_prefix.to_owned(),
            max_bytes: limits.max_bytes,
            expires,
        };
        let policy = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&policy).map_err(|e| e.to_string())?);
        let fields = BTreeMap::from([
            ("key".to_owned(), key.to_owned()),
            ("success_action_status".to_owned(), "201".to_owned()),
            ("Content-Type".to_owned(), limits.content_type.to_owned()),
            ("Cache-Control".to_owned(), UPLOAD_CACHE_CONTROL.to_owned()),
            (LOCAL_SIGNATURE_FIELD.to_owned(), self.mac_hex(&format!("upload\n{policy}"))),
            ("policy".to_owned(), policy),
        ]);
        Ok(UploadForm { url: format!("{}{LOCAL_UPLOAD_PATH}", self.public_url), fields })
    }

    /// The policy of a local upload form whose signature matches (expiry is the caller's check).
    pub fn upload_policy(&self, policy: &str, signature: &str) -> Option<LocalPolicy> {
        let expected = self.mac_hex(&format!("upload\n{policy}"));
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes())) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(policy).ok()?).ok()
    }

    fn mac_hex(&self, text: &str) -> String {
        // HMAC accepts keys of any length, so construction cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).unwrap_or_else(|_| unreachable!());
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        // HMAC accepts keys of any length, so construction cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{key}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A download link for `key` valid until `expires` (Unix seconds).
    pub fn signed_url(&self, key: &str, expires: i64) -> String {
        format!("{}/media/{key}?expires={expires}&signature={}", self.public_url, self.signature(key, expires))
    }

    /// Whether a link's signature matches `key` and `expires` (expiry is checked by the caller).
    pub fn verify(&self, key: &str, expires: i64, signature: &str) -> bool {
        let expected = self.signature(key, expires);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into()
    }
}

/// An S3 browser-based upload (POST policy) for one object, signed with AWS Signature Version 4
/// at `now`. Credentials come from the settings, else `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
fn s3_post_form(
    s3: &S3Settings,
    key: &str,
    limits: &UploadLimits,
    expires: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UploadForm, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let access_key = s3.access_key_id.clone().or_else(|| env("AWS_ACCESS_KEY_ID"));
    let secret = s3.secret_access_key.clone().or_else(|| env("AWS_SECRET_ACCESS_KEY"));
    let (Some(access_key), Some(secret)) = (access_key, secret) else {
        return Err("the S3 store has no access key to sign upload forms with".to_owned());
    };
    let token = env("AWS_SESSION_TOKEN");
    let day = now.format("%Y%m%d").to_string();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{access_key}/{day}/{}/s3/aws4_request", s3.region);
    let expiration =
        chrono::DateTime::from_timestamp(expires, 0).ok_or("bad expiry")?.format("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let mut fields = BTreeMap::from([
        ("key".to_owned(), key.to_owned()),
        ("success_action_status".to_owned(), "201".to_owned()),
        ("Content-Type".to_owned(), limits.content_type.to_owned()),
        ("Cache-Control".to_owned(), UPLOAD_CACHE_CONTROL.to_owned()),
        ("acl".to_owned(), "private".to_owned()),
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), amz_date),
    ]);
    if let Some(token) = token {
        fields.insert("x-amz-security-token".to_owned(), token);
    }
    let mut conditions = vec![
        serde_json::json!({ "bucket": s3.bucket }),
        serde_json::json!(["starts-with", "$Content-Type", limits.type_prefix]),
        serde_json::json!(["content-length-range", 1, limits.max_bytes]),
    ];
    conditions.extend(
        fields
            .iter()
            .filter(|(name, _)| name.as_str() != "Content-Type")
            .map(|(name, value)| serde_json::json!({ name: value })),
    );
    let policy = STANDARD.encode(serde_json::json!({ "expiration": expiration, "conditions": conditions }).to_string());
    let mut signing_key = format!("AWS4{secret}").into_bytes();
    for part in [day.as_str(), s3.region.as_str(), "s3", "aws4_request"] {
        signing_key = hmac_sha256(&signing_key, part.as_bytes());
    }
    fields.insert("x-amz-signature".to_owned(), hex::encode(hmac_sha256(&signing_key, policy.as_bytes())));
    fields.insert("policy".to_owned(), policy);
    let url = match (&s3.endpoint, s3.path_style) {
        (Some(endpoint), true) => format!("{}/{}", endpoint.trim_end_matches('/'), s3.bucket),
        (Some(endpoint), false) => match endpoint.split_once("://") {
            Some((scheme, host)) => format!("{scheme}://{}.{}", s3.bucket, host.trim_end_matches('/')),
            None => format!("https://{}.{}", s3.bucket, endpoint.trim_end_matches('/')),
        },
        (None, _) => format!("https://{}.s3.{}.amazonaws.com", s3.bucket, s3.region),
    };
    Ok(UploadForm { url, fields })
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let key = MediaStore::new_key();
        assert!(MediaStore::is_valid_key(&key), "{key}");
        assert!(!MediaStore::is_valid_key("../../etc/passwd"));
        assert!(!MediaStore::is_valid_key("b394ab72/efd4987c/../x"));
    }

    #[test]
    fn signatures_bind_key_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(&Backing::Local(dir.path().into()), "http://x".into(), vec![7; 32]).unwrap();
        let url = store.signed_url("a/b/c", 100);
        let signature = url.rsplit("signature=").next().unwrap();
        assert!(store.verify("a/b/c", 100, signature));
        assert!(!store.verify("a/b/c", 101, signature));
        assert!(!store.verify("a/b/d", 100, signature));
    }
}
