//! Media bytes in an object store (a directory under the data directory by default, or an
//! S3-compatible bucket), and expiring signed download links.

use std::path::PathBuf;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use rand::RngCore;
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
    public_url: String,
    signing_key: Vec<u8>,
}

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
        Ok(MediaStore { store, local_root, public_url, signing_key })
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
