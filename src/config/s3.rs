//! `s3_buckets` (top level and per tenant) and `s3_bucket_owners`: the S3 buckets a
//! request's `s3://` URLs may name, and the account that owns each bucket of another account.

use std::collections::BTreeMap;

use super::{err, ConfigError};
use crate::openai::chat::valid_bucket;
use crate::translate::request::S3Access;

/// `s3_bucket_owners`: bucket → 12-digit account id, each checked.
pub(super) fn bucket_owners(
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    for (bucket, owner) in &raw {
        if !valid_bucket(bucket) {
            return Err(err(
                "`s3_bucket_owners` names something that is not an S3 bucket name (3-63 characters of a-z, 0-9, `.` and `-`)",
            ));
        }
        if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(format!(
                "`s3_bucket_owners.{bucket}` must be a 12-digit AWS account id"
            )));
        }
    }
    Ok(raw)
}

/// An `s3_buckets` list at `field`, with the owners of `owners`; `None` is `fallback`.
pub(super) fn access(
    field: &str,
    raw: Option<Vec<String>>,
    owners: &BTreeMap<String, String>,
    fallback: &S3Access,
) -> Result<S3Access, ConfigError> {
    let Some(names) = raw else {
        return Ok(fallback.clone());
    };
    let mut buckets = BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        if !valid_bucket(&name) {
            return Err(err(format!(
                "`{field}[{i}]` is not an S3 bucket name (3-63 characters of a-z, 0-9, `.` and `-`, starting and ending with a letter or digit)"
            )));
        }
        let owner = owners.get(&name).cloned();
        buckets.insert(name, owner);
    }
    Ok(S3Access::new(buckets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const SHA: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(
            format!(
                r#"{{"region":"us-east-1","credentials":{{"access_key_id":"AKID","secret_access_key":"s"}},
                    "api_keys":["sk-local-x"],{extra}}}"#
            )
            .as_bytes(),
            &|_| None,
        )
    }

    #[test]
    fn tenants_take_their_own_buckets_or_the_top_levels() {
        let c = parse(&format!(
            r#""s3_buckets":["shared"],"s3_bucket_owners":{{"own":"123456789012"}},
               "tenants":{{"a":{{"key_sha256":["{SHA}"],"s3_buckets":["own"]}},
                          "b":{{"key_sha256":["{}"]}},
                          "c":{{"key_sha256":["{}"],"s3_buckets":[]}}}}"#,
            "1".repeat(64),
            "2".repeat(64)
        ))
        .unwrap();
        assert_eq!(c.s3.owner_of("shared"), Some(None));
        let t = |n: &str| c.tenants.get(n).unwrap().s3.clone();
        assert_eq!(t("a").owner_of("own"), Some(Some("123456789012")));
        assert_eq!(t("a").owner_of("shared"), None);
        assert_eq!(t("b").owner_of("shared"), Some(None));
        assert_eq!(t("c"), S3Access::default());
        assert_eq!(t("default").owner_of("shared"), Some(None));
        assert!(parse(r#""s3_buckets":["UPPER"]"#)
            .unwrap_err()
            .0
            .contains("`s3_buckets[0]`"));
        assert!(
            parse(r#""s3_bucket":["x"]"#).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn buckets_and_owners_are_checked() {
        let owners = bucket_owners(BTreeMap::from([(
            "bucket-b".to_string(),
            "123456789012".to_string(),
        )]))
        .unwrap();
        let a = access(
            "s3_buckets",
            Some(vec!["bucket-a".into(), "bucket-b".into()]),
            &owners,
            &S3Access::default(),
        )
        .unwrap();
        assert_eq!(a.owner_of("bucket-a"), Some(None));
        assert_eq!(a.owner_of("bucket-b"), Some(Some("123456789012")));
        assert_eq!(a.owner_of("bucket-c"), None);
        assert_eq!(
            access("t", None, &owners, &a).unwrap(),
            a,
            "absent: the fallback"
        );
        let e = access("t.s3_buckets", Some(vec!["Bad_Bucket".into()]), &owners, &a).unwrap_err();
        assert!(
            e.0.contains("`t.s3_buckets[0]`") && !e.0.contains("Bad_Bucket"),
            "{}",
            e.0
        );
        for (bucket, owner) in [("bucket-b", "1234"), ("Bad", "123456789012")] {
            let raw = BTreeMap::from([(bucket.to_string(), owner.to_string())]);
            let e = bucket_owners(raw).unwrap_err();
            assert!(
                e.0.contains("s3_bucket_owners") && !e.0.contains(owner),
                "{}",
                e.0
            );
        }
    }
}
