//! The user's search text, parsed once in the style of `websearch_to_tsquery`:
//! words, `"quoted phrases"`, `-excluded` words or phrases and `or` between terms.
//!
//! PostgreSQL parses the raw text itself; SQLite gets an FTS5 expression built here
//! from the same parse, so both engines read a query the same way. The parse also
//! gives the words to highlight.

/// One term: a word or a phrase (its words in order), and its text as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    words: Vec<String>,
    typed: String,
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
                typed: token,
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
        self.without_excluded(format!("({})", self.fts5_required()))
    }

    /// The FTS5 expression of the name tier: every required group matches in the
    /// name (`{service_name} :` filters the columns), and no excluded term anywhere.
    pub fn fts5_in_name(&self) -> String {
        self.without_excluded(format!("({{service_name}} : ({}))", self.fts5_required()))
    }

    /// The FTS5 expression of the other tier: matches, but not in the name alone.
    pub fn fts5_not_in_name(&self) -> String {
        format!(
            "({} NOT ({{service_name}} : ({})))",
            self.fts5(),
            self.fts5_required()
        )
    }

    /// Every required group, each an `OR` of phrases, joined by `AND`.
    fn fts5_required(&self) -> String {
        self.groups
            .iter()
            .map(|g| {
                let any: Vec<String> = g.iter().map(fts5_phrase).collect();
                format!("({})", any.join(" OR "))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn without_excluded(&self, expression: String) -> String {
        self.excluded.iter().fold(expression, |acc, t| {
            format!("({acc} NOT {})", fts5_phrase(t))
        })
    }

    /// Every piece of text the user asked for (not the excluded ones), each quoted,
    /// joined by `or`, for `websearch_to_tsquery`: a listing that matches the search
    /// but not by its name alone has one of these in its description. The pieces are
    /// the typed text split at spaces (not [`words`]), so PostgreSQL's parser makes
    /// of each the same tokens it made of the whole search ("1.5" stays one token).
    pub fn websearch_any(&self) -> String {
        self.groups
            .iter()
            .flatten()
            .flat_map(|t| t.typed.split_whitespace())
            .map(|piece| format!("\"{piece}\""))
            .collect::<Vec<_>>()
            .join(" or ")
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

/// A term as an FTS5 phrase: its words quoted, quotes doubled.
fn fts5_phrase(term: &Term) -> String {
    let text = term.words.join(" ").replace('"', "\"\"");
    format!("\"{text}\"")
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
        assert_eq!(
            q.fts5_in_name(),
            r#"((({service_name} : (("weather") AND ("air quality"))) NOT "old data") NOT "paris")"#
        );
        assert_eq!(
            q.fts5_not_in_name(),
            r#"((((("weather") AND ("air quality")) NOT "old data") NOT "paris") NOT ({service_name} : (("weather") AND ("air quality"))))"#
        );
        assert_eq!(q.websearch_any(), r#""weather" or "air" or "quality""#);
    }

    #[test]
    fn typed_tokens_reach_postgresql_whole() {
        let q = SearchText::parse("v1.5 or café-bar -old");
        assert_eq!(q.websearch_any(), r#""v1.5" or "café-bar""#);
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
