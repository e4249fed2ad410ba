//! The user's search text, parsed once in the style of `websearch_to_tsquery`:
//! words, `"quoted phrases"`, `-excluded` words or phrases and `or` between terms.
//!
//! PostgreSQL parses the raw text itself; SQLite gets an FTS5 expression built here
//! from the same parse, so both engines read a query the same way. The parse also
//! gives the words to highlight.

/// One term: a word or a phrase (its words in order).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    words: Vec<String>,
}

/// A parsed search: every group must match (a group matches when one of its terms
/// does), and no excluded term may.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchText {
    groups: Vec<Vec<Term>>,
    excluded: Vec<Term>,
}

/// Splits text into words the way both engines roughly do: runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

impl SearchText {
    /// Parses the user's text. Never fails: unmatched quotes close at the end.
    pub fn parse(raw: &str) -> Self {
        let mut out = Self::default();
        let mut chars = raw.chars().peekable();
        let mut join_next = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            let negated = c == '-';
            if negated {
                chars.next();
            }
            let quoted = chars.peek() == Some(&'"');
            let mut token = String::new();
            if quoted {
                chars.next();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    token.push(c);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '"' {
                        break;
                    }
                    token.push(c);
                    chars.next();
                }
            }
            if !quoted && !negated && token.eq_ignore_ascii_case("or") {
                join_next = !out.groups.is_empty();
                continue;
            }
            let term = Term {
                words: words(&token).map(str::to_owned).collect(),
            };
            if term.words.is_empty() {
                continue;
            }
            if negated {
                out.excluded.push(term);
            } else if join_next && let Some(last) = out.groups.last_mut() {
                last.push(term);
            } else {
                out.groups.push(vec![term]);
            }
            join_next = false;
        }
        out
    }

    /// True when nothing is required: such a search matches nothing (a query of
    /// only exclusions would otherwise read every listing).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The FTS5 expression: every term a quoted phrase, so no user text is read as
    /// FTS5 syntax.
    pub fn fts5(&self) -> String {
        let phrase = |t: &Term| {
            let text = t.words.join(" ").replace('"', "\"\"");
            format!("\"{text}\"")
        };
        let required = self
            .groups
            .iter()
            .map(|g| {
                let any: Vec<String> = g.iter().map(phrase).collect();
                format!("({})", any.join(" OR "))
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        self.excluded
            .iter()
            .fold(format!("({required})"), |acc, t| {
                format!("({acc} NOT {})", phrase(t))
            })
    }

    /// The words to highlight, folded (see [`fold`]), without repeats.
    pub fn highlight_words(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for word in self.groups.iter().flatten().flat_map(|t| &t.words) {
            let folded = fold(word);
            if !out.contains(&folded) {
                out.push(folded);
            }
        }
        out
    }
}

/// Lowercases and strips accents (NFD, then drops combining marks), as both
/// engines' indexes do, so "Café" and "cafe" compare equal.
pub fn fold(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{SearchText, fold};

    #[test]
    fn words_phrases_exclusions_and_or() {
        let q = SearchText::parse(r#"weather "air quality" -"old data" -paris"#);
        assert_eq!(
            q.fts5(),
            r#"(((("weather") AND ("air quality")) NOT "old data") NOT "paris")"#
        );
        assert_eq!(q.highlight_words(), ["weather", "air", "quality"]);
    }

    #[test]
    fn or_joins_neighbours() {
        let q = SearchText::parse("stocks or bonds fx");
        assert_eq!(q.fts5(), r#"(("stocks" OR "bonds") AND ("fx"))"#);
    }

    #[test]
    fn syntax_in_user_text_stays_text() {
        let q = SearchText::parse(r#"NEAR(a b) col:x "unclosed"#);
        assert_eq!(
            q.fts5(),
            r#"(("NEAR a") AND ("b") AND ("col x") AND ("unclosed"))"#
        );
        assert!(SearchText::parse("-only -exclusions").is_empty());
        assert!(SearchText::parse("!!! ???").is_empty());
    }

    #[test]
    fn folding_matches_the_indexes() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("ZÜRICH"), "zurich");
        assert_eq!(fold("Ελληνικά"), "ελληνικα");
    }
}
