//! Search of `GET /api/matches?q=`: what a fan types becomes, word by word,
//! the words of the catalogue it may mean.
//!
//! - Case and accents do not matter (`normalize`): "sao" finds "São".
//! - Team names in fans' own languages and common short forms
//!   ([`SYNONYMS`]: Brasil, Deutschland, Maroc, USA, "South Korea", …) are
//!   read as the master list's names.
//! - Typos are forgiven: a word also means every catalogue word within one
//!   edit (two for words of six letters or more) of it, or of the start of
//!   it while the fan is still typing ("argentnia", "brazl", "portu").
//!
//! A match is found when each word of the query finds one of its meanings
//! in the match's teams or venue.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

pub fn normalize(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// Fans' names (normalised) → the master list's (normalised). Phrases are
/// replaced before the query is split into words.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("brasil", "brazil"),
    ("deutschland", "germany"),
    ("allemagne", "germany"),
    ("alemania", "germany"),
    ("maroc", "morocco"),
    ("marruecos", "morocco"),
    ("al maghrib", "morocco"),
    ("united states of america", "usa"),
    ("united states", "usa"),
    ("estados unidos", "usa"),
    ("etats-unis", "usa"),
    ("us", "usa"),
    ("south korea", "korea republic"),
    ("republic of korea", "korea republic"),
    ("coree du sud", "korea republic"),
    ("holland", "netherlands"),
    ("nederland", "netherlands"),
    ("pays-bas", "netherlands"),
    ("espana", "spain"),
    ("espagne", "spain"),
    ("suisse", "switzerland"),
    ("schweiz", "switzerland"),
    ("svizzera", "switzerland"),
    ("danmark", "denmark"),
    ("polska", "poland"),
    ("hrvatska", "croatia"),
    ("srbija", "serbia"),
    ("belgique", "belgium"),
    ("belgie", "belgium"),
    ("cameroun", "cameroon"),
    ("tunisie", "tunisia"),
    ("mexique", "mexico"),
    ("nippon", "japan"),
    ("japon", "japan"),
    ("angleterre", "england"),
    ("inglaterra", "england"),
    ("cymru", "wales"),
    ("pays de galles", "wales"),
    ("ir iran", "iran"),
    ("persia", "iran"),
    ("ksa", "saudi arabia"),
    ("arabie saoudite", "saudi arabia"),
    ("qatar 2022", "qatar"),
];

/// The query with fans' names replaced by the catalogue's.
fn with_synonyms(query: &str) -> String {
    let mut words: Vec<String> = normalize(query).split_whitespace().map(str::to_string).collect();
    // Longest phrases first, at word boundaries.
    let mut synonyms: Vec<&(&str, &str)> = SYNONYMS.iter().collect();
    synonyms.sort_by_key(|(from, _)| std::cmp::Reverse(from.split(' ').count()));
    let mut i = 0;
    let mut out: Vec<String> = Vec::new();
    'next: while i < words.len() {
        for (from, to) in &synonyms {
            let phrase: Vec<&str> = from.split(' ').collect();
            if words.len() >= i + phrase.len() && words[i..i + phrase.len()].iter().zip(&phrase).all(|(w, p)| w == p) {
                out.extend(to.split(' ').map(str::to_string));
                i += phrase.len();
                continue 'next;
            }
        }
        out.push(std::mem::take(&mut words[i]));
        i += 1;
    }
    out.join(" ")
}

/// Whether the typed `word` may mean the catalogue word `known` (besides
/// being found inside it).
fn close(word: &str, known: &str) -> bool {
    if known == word {
        return true;
    }
    let typed = word.chars().count();
    if typed < 4 {
        return false;
    }
    let allowed = if typed >= 6 { 2 } else { 1 };
    // Edits: insert, delete, substitute, swap of neighbours. The whole
    // word, or the start of it the fan has typed so far.
    let start: String = known.chars().take(typed).collect();
    strsim::osa_distance(word, known) <= allowed
        || (start.len() < known.len() && strsim::osa_distance(word, &start) <= allowed)
}

/// For each word of `query`, the text fragments it may mean in a match's
/// search text framed by spaces (`" brazil serbia lusail stadium "`): the
/// catalogue words it may mean, framed by spaces (whole words), plus the
/// typed word itself to be found inside words ("bay" in "bayt") — except a
/// short word that is a catalogue word of its own ("usa" is not the "usa"
/// in "lusail"). `catalogue`: the matches' normalised search texts.
pub fn meanings(query: &str, catalogue: &[String]) -> Vec<Vec<String>> {
    let mut vocabulary: Vec<&str> = catalogue.iter().flat_map(|t| t.split_whitespace()).collect();
    vocabulary.sort_unstable();
    vocabulary.dedup();
    with_synonyms(query)
        .split_whitespace()
        .map(|word| {
            let mut found: Vec<String> =
                vocabulary.iter().filter(|k| close(word, k)).map(|k| format!(" {k} ")).collect();
            let a_word_of_its_own = word.chars().count() < 4 && vocabulary.contains(&word);
            if !a_word_of_its_own {
                found.insert(0, word.to_string());
            }
            found
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Vec<String> {
        [
            "qatar ecuador al bayt stadium",
            "brazil serbia lusail stadium",
            "germany japan khalifa international stadium",
            "morocco croatia al bayt stadium",
            "usa wales ahmad bin ali stadium",
            "korea republic uruguay education city stadium",
            "argentina saudi arabia lusail stadium",
            "portugal ghana stadium 974",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn means(query: &str) -> Vec<Vec<String>> {
        meanings(query, &catalogue())
    }

    #[test]
    fn strips_accents_and_case() {
        assert_eq!(normalize("Estádio São Paulo"), "estadio sao paulo");
        assert_eq!(normalize("CÔTE d'Ivoire"), "cote d'ivoire");
    }

    #[test]
    fn fans_names_in_their_own_languages_mean_the_master_lists() {
        assert!(means("Brasil")[0].contains(&" brazil ".to_string()));
        assert!(means("Deutschland")[0].contains(&" germany ".to_string()));
        assert!(means("Maroc")[0].contains(&" morocco ".to_string()));
        assert_eq!(means("United States"), [[" usa "]], "the team, not the usa in lusail");
        assert_eq!(means("South Korea").len(), 2, "korea republic: two words");
        assert!(means("South Korea")[0].contains(&" korea ".to_string()));
        assert!(means("Korea Republic")[1].contains(&" republic ".to_string()));
    }

    #[test]
    fn typos_and_unfinished_words_are_forgiven() {
        assert!(means("argentnia")[0].contains(&" argentina ".to_string()));
        assert!(means("brazl")[0].contains(&" brazil ".to_string()));
        assert!(means("portu")[0].contains(&" portugal ".to_string()));
        assert!(means("Lusial")[0].contains(&" lusail ".to_string()));
        // Short words are not stretched to other words, but are found inside them.
        assert_eq!(means("bay"), [["bay"]]);
        assert_eq!(means("xyzzy"), [["xyzzy"]]);
    }
}
