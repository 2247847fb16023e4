//! A header map read from Envoy in one host call and written back in one.
//!
//! Under V8 every host call costs about a microsecond (the host often calls back into the
//! module to allocate the answer), and a request used to make some twenty header calls. The
//! shell now reads a whole map once per phase (`proxy_get_header_map_pairs`), lets the
//! request and response logic read and edit this copy, and writes it back once
//! (`proxy_set_header_map_pairs`) when something changed.
//!
//! Envoy hands header names over in lowercase; lookups here ignore ASCII case anyway, so a
//! name written in any case finds its header.

/// Headers in Envoy's order (pseudo-headers first), duplicates kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    entries: Vec<(String, String)>,
    changed: bool,
}

impl HeaderList {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Self {
            entries,
            changed: false,
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every `name` header with one of `value` (added at the end if it was absent;
    /// kept in place if it was there).
    pub fn set(&mut self, name: &str, value: &str) {
        let mut found = false;
        self.entries.retain_mut(|(k, v)| {
            if !k.eq_ignore_ascii_case(name) {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            value.clone_into(v);
            true
        });
        if !found {
            self.entries
                .push((name.to_ascii_lowercase(), value.to_string()));
        }
        self.changed = true;
    }

    /// Removes every `name` header.
    pub fn remove(&mut self, name: &str) {
        self.retain(|k| !k.eq_ignore_ascii_case(name));
    }

    /// Keeps the headers whose name passes `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| keep(k));
        self.changed |= self.entries.len() != before;
    }

    /// Whether [`set`](Self::set), [`remove`](Self::remove) or [`retain`](Self::retain)
    /// changed anything since [`new`](Self::new) or [`written`](Self::written).
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The shell wrote the headers back to Envoy.
    pub fn written(&mut self) {
        self.changed = false;
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> HeaderList {
        HeaderList::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn get_finds_the_first_value_in_any_case() {
        let h = list(&[(":path", "/v1"), ("accept", "a"), ("accept", "b")]);
        assert_eq!(h.get("Accept"), Some("a"));
        assert_eq!(h.get(":path"), Some("/v1"));
        assert_eq!(h.get("content-type"), None);
        assert!(!h.is_changed());
    }

    #[test]
    fn set_replaces_all_values_in_place_or_appends() {
        let mut h = list(&[
            (":path", "/v1"),
            ("accept", "a"),
            ("x", "1"),
            ("accept", "b"),
        ]);
        h.set("ACCEPT", "c");
        h.set("content-length", "7");
        assert_eq!(
            h,
            HeaderList {
                entries: list(&[
                    (":path", "/v1"),
                    ("accept", "c"),
                    ("x", "1"),
                    ("content-length", "7")
                ])
                .entries,
                changed: true
            }
        );
    }

    #[test]
    fn remove_and_retain_mark_a_change_only_when_something_went() {
        let mut h = list(&[
            ("authorization", "Bearer k"),
            ("x-api-key", "k"),
            ("a", "1"),
        ]);
        h.remove("cookie");
        assert!(!h.is_changed());
        h.retain(|k| !k.starts_with("x-"));
        assert!(h.is_changed());
        h.written();
        assert!(!h.is_changed());
        h.remove("Authorization");
        assert!(h.is_changed());
        assert_eq!(h.entries(), list(&[("a", "1")]).entries());
    }
}
