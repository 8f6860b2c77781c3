//! Values put into translations.
//!
//! A translation with a value to show writes its place as `{name}`: "Au plus {max} à cette station.".
//! The translations' own interpolation (`{{ name }}` with `td!`) builds a view per language, and each
//! of them ends up in the islands' WebAssembly; a string filled here is smaller and reads the same.

use std::fmt::Display;

/// `template` with each `{name}` replaced by its value in `values`; a place without a value is kept as
/// written, so that a mistake shows rather than vanishes.
pub fn fill(template: &str, values: &[(&str, &dyn Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| values.iter().find(|(name, _)| *name == &after[..close]).map(|v| (close, v.1)));
        match value {
            Some((close, value)) => {
                out.push_str(&value.to_string());
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::fill;

    #[test]
    fn places_are_filled_and_unknown_ones_kept() {
        assert_eq!(
            fill("Au plus {max} à cette station.", &[("max", &"500.00 CHF")]),
            "Au plus 500.00 CHF à cette station."
        );
        assert_eq!(
            fill("{first} à {last} sur {total}", &[("first", &1), ("last", &30), ("total", &31)]),
            "1 à 30 sur 31"
        );
        assert_eq!(fill("{missing} {", &[("max", &1)]), "{missing} {");
        assert_eq!(fill("N° {id}{id}", &[("id", &7)]), "N° 77");
    }

    fn places(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            if let Some(close) = rest.find('}') {
                found.insert(rest[..close].to_owned());
            }
        }
        found
    }

    /// Every language has every message, with the same places as French, and none in the translations'
    /// own `{{ }}` form (which `fill` does not read).
    #[test]
    fn every_translation_has_the_places_of_the_french() {
        let read = |code: &str| -> BTreeMap<String, String> {
            let path = format!("{}/locales/{code}.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let fr = read("fr");
        for code in ["de", "it", "en"] {
            let other = read(code);
            assert_eq!(
                fr.keys().collect::<Vec<_>>(),
                other.keys().collect::<Vec<_>>(),
                "{code}: the same keys"
            );
            for (key, text) in &fr {
                assert!(!text.contains("{{"), "fr {key}: {{{{ }}}}");
                assert_eq!(places(text), places(&other[key]), "{code} {key}");
            }
        }
    }
}
