//! API keys, the one place they are handled: the `Authorization: Bearer` parser, key digests
//! and the digest table every key lookup goes through (configured tenants in
//! [`crate::auth::tenant`], the table kept in AWS in [`crate::auth::key_source`]).
//!
//! Keys are held only as SHA-256 digests. A presented key is hashed once and compared with
//! every digest of the table in constant time, without stopping at a match, so neither the
//! timing nor the key's length tells a caller how close a guess was.

use sha2::{Digest, Sha256};

pub(crate) type KeyDigest = [u8; 32];

/// SHA-256 of a key.
pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// `"3f…"` (64 hex digits, any case, surrounding space ignored) → digest.
pub(crate) fn parse_digest(hex_digest: &str) -> Option<KeyDigest> {
    let bytes = hex::decode(hex_digest.trim()).ok()?;
    bytes.try_into().ok()
}

/// `[A-Za-z0-9_-]{1,64}`: tenant names go into metric names, log fields and shared-data keys.
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `Bearer <token>` (or `bearer <token>`) → the token, trimmed; anything else → `""`.
pub fn bearer(authorization: &str) -> &str {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("")
}

/// Compares two digests in constant time.
pub fn digests_equal(a: &KeyDigest, b: &KeyDigest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Key digests → their owner (a tenant, or a tenant's name); a digest has one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestTable<T> {
    keys: Vec<(KeyDigest, usize)>,
    owners: Vec<T>,
}

impl<T> Default for DigestTable<T> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            owners: Vec::new(),
        }
    }
}

/// A digest given to [`DigestTable::push`] that the table already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateKey {
    pub digest: KeyDigest,
    /// Its position in the digests being pushed.
    pub position: usize,
    /// The index (in [`DigestTable::owners`]) of the owner already holding it; `None` when
    /// it was listed twice for the owner being pushed.
    pub other: Option<usize>,
}

impl<T> DigestTable<T> {
    /// Adds an owner and its digests; a digest already in the table is an error (the table
    /// is then not to be used).
    pub fn push(
        &mut self,
        owner: T,
        digests: impl IntoIterator<Item = KeyDigest>,
    ) -> Result<(), DuplicateKey> {
        let index = self.owners.len();
        for (position, d) in digests.into_iter().enumerate() {
            if let Some((_, other)) = self.keys.iter().find(|(k, _)| *k == d) {
                return Err(DuplicateKey {
                    digest: d,
                    position,
                    other: (*other != index).then_some(*other),
                });
            }
            self.keys.push((d, index));
        }
        self.owners.push(owner);
        Ok(())
    }

    pub fn owners(&self) -> &[T] {
        &self.owners
    }

    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The owner of a presented key (`None` for the empty key, whatever is configured).
    /// Every digest is compared, in constant time, without stopping at a match.
    pub(crate) fn lookup(&self, presented: &str) -> Option<&T> {
        if presented.is_empty() {
            return None;
        }
        let d = digest(presented);
        let mut found = None;
        for (k, index) in &self.keys {
            let same = digests_equal(k, &d);
            found = if same { Some(*index) } else { found };
        }
        found.and_then(|i| self.owners.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer("Bearer sk-x"), "sk-x");
        assert_eq!(bearer("bearer  sk-x "), "sk-x");
        for bad in ["", "sk-x", "Basic sk-x", "BEARER sk-x", "Bearer"] {
            assert_eq!(bearer(bad), "", "{bad}");
        }
    }

    #[test]
    fn table_lookup_and_duplicates() {
        let mut t = DigestTable::default();
        t.push("a", [digest("k1"), digest("k2")]).unwrap();
        t.push("b", [digest("k3")]).unwrap();
        assert_eq!(t.lookup("k2"), Some(&"a"));
        assert_eq!(t.lookup("k3"), Some(&"b"));
        assert_eq!(t.lookup("k4"), None);
        assert_eq!(t.key_count(), 3);
        let e = t.push("c", [digest("k5"), digest("k1")]).unwrap_err();
        assert_eq!((e.position, e.other), (1, Some(0)));
        let mut t = DigestTable::default();
        let e = t.push("a", [digest("k"), digest("k")]).unwrap_err();
        assert_eq!((e.position, e.other), (1, None));
        let mut t = DigestTable::default();
        t.push("x", [digest("")]).unwrap();
        assert_eq!(t.lookup(""), None);
    }
}
