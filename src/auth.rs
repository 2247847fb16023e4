//! Caller authentication: `Authorization: Bearer <key>` against the configured keys.

use crate::error::ApiError;

/// Checks the caller's `Authorization` header value. Keys are compared in constant time so
/// response timing does not reveal how much of a guessed key matched.
pub fn authenticate(keys: &[String], authorization: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = authorization else {
        return Err(ApiError::unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
        ));
    };
    let presented = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    let mut ok = false;
    for key in keys {
        ok |= constant_time_eq(key.as_bytes(), presented.as_bytes());
    }
    if ok && !presented.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unauthorized("Incorrect API key provided."))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_bearer_keys() {
        let keys = vec!["sk-local-demo".to_string(), "sk-other-key".to_string()];
        assert!(authenticate(&keys, Some("Bearer sk-local-demo")).is_ok());
        assert!(authenticate(&keys, Some("Bearer sk-other-key")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("sk-local-demo"),
            Some("Bearer sk-local-dem"),
            Some("Basic sk-local-demo"),
            Some("Bearer sk-local-demoX"),
        ] {
            let e = authenticate(&keys, bad).unwrap_err();
            assert_eq!(e.status, 401, "{bad:?}");
            assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        }
    }
}
