//! Media bytes on disk under the data directory, and expiring signed download links.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Where media bytes live and how links to them are signed.
pub struct MediaStore {
    root: PathBuf,
    public_url: String,
    signing_key: Vec<u8>,
}

impl MediaStore {
    /// A store rooted at `root` whose links start with `public_url`.
    pub fn new(root: PathBuf, public_url: String, signing_key: Vec<u8>) -> MediaStore {
        MediaStore { root, public_url, signing_key }
    }

    /// A fresh, unguessable media key shaped like `b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93`.
    pub fn new_key() -> String {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex = hex::encode(bytes);
        format!("{}/{}/{}", &hex[..8], &hex[8..16], &hex[16..])
    }

    /// Whether `key` has the shape of a media key (so it is safe as a relative path).
    pub fn is_valid_key(key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        parts.len() == 3
            && [8, 8, 32]
                .iter()
                .zip(&parts)
                .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Stores bytes under `key`, durably, before returning.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = path.with_extension("partial");
        let mut file = tokio::fs::File::create(&partial).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, &path).await
    }

    /// Reads the bytes stored under `key`.
    pub async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(key)).await
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
        let store = MediaStore::new(PathBuf::from("/tmp"), "http://x".into(), vec![7; 32]);
        let url = store.signed_url("a/b/c", 100);
        let signature = url.rsplit("signature=").next().unwrap();
        assert!(store.verify("a/b/c", 100, signature));
        assert!(!store.verify("a/b/c", 101, signature));
        assert!(!store.verify("a/b/d", 100, signature));
    }
}
