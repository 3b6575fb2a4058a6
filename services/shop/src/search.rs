//! Text normalisation for search: lower case without accents, so "sao" finds
//! "São" and "ALBAYT" style queries need no database extension.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

pub fn normalize(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_accents_and_case() {
        assert_eq!(super::normalize("Estádio São Paulo"), "estadio sao paulo");
        assert_eq!(super::normalize("CÔTE d'Ivoire"), "cote d'ivoire");
    }
}
