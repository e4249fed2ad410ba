//! Highlights: which words of a listing matched the search.
//!
//! Computed here rather than by each engine (`ts_headline`, FTS5 `snippet`) so both
//! backends mark the same words and the text never passes through an HTML-producing
//! function of the database. The API gets an HTML fragment whose mark syntax is
//! `<mark>word</mark>` with every other character HTML-escaped; the web pages render
//! the [`Segment`]s themselves and escape all text.

use serde::Serialize;
use utoipa::ToSchema;

use super::query::fold;

/// Characters of description kept around the first match.
const SNIPPET_CHARS: usize = 180;

/// A run of text, marked when it is a matched word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The text, as stored (not escaped).
    pub text: String,
    /// Whether this run is a matched word.
    pub mark: bool,
}

/// Highlights of one search result.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Highlight {
    /// The service name with matched words as `<mark>…</mark>`; all other text is
    /// HTML-escaped (`&amp; &lt; &gt; &quot; &#39;`), so the fragment is safe to insert.
    #[schema(example = "<mark>Weather</mark> API")]
    pub service_name: String,
    /// Up to about 180 characters of the description around its first matched word,
    /// with `…` where it was cut; same mark syntax.
    #[schema(example = "Hourly <mark>weather</mark> for 40,000 cities…")]
    pub snippet: String,
}

impl Highlight {
    /// Highlights of a listing for the given folded words.
    pub fn new(service_name: &str, description: &str, words: &[String]) -> Self {
        Self {
            service_name: to_html(&mark(service_name, words)),
            snippet: to_html(&snippet(description, words)),
        }
    }
}

/// Splits `text` into marked and unmarked runs.
pub fn mark(text: &str, words: &[String]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut push = |text: &str, mark: bool| match out.last_mut() {
        Some(last) if last.mark == mark => last.text.push_str(text),
        _ if text.is_empty() => {}
        _ => out.push(Segment {
            text: text.to_owned(),
            mark,
        }),
    };
    let mut rest = text;
    while let Some(start) = rest.find(char::is_alphanumeric) {
        push(&rest[..start], false);
        let word_len = rest[start..]
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        push(word, words.contains(&fold(word)));
        rest = &rest[start + word_len..];
    }
    push(rest, false);
    out
}

/// The part of a description around its first match (or its start), marked.
pub fn snippet(description: &str, words: &[String]) -> Vec<Segment> {
    let marked = mark(description, words);
    let first = marked.iter().position(|s| s.mark);
    // Start a little before the first match, at a segment boundary.
    let mut start = 0;
    if let Some(first) = first {
        let mut before = 0;
        start = first;
        while start > 0 && before + marked[start - 1].text.chars().count() <= SNIPPET_CHARS / 3 {
            start -= 1;
            before += marked[start].text.chars().count();
        }
    }
    let mut out = Vec::new();
    let mut used = 0;
    if start > 0 {
        out.push(plain("…"));
        // Keep the end of the text just before the match, cut at a space.
        let lead: Vec<char> = marked[start - 1].text.chars().collect();
        if !marked[start - 1].mark && lead.len() > SNIPPET_CHARS / 3 {
            let tail: String = lead[lead.len() - SNIPPET_CHARS / 3..].iter().collect();
            let tail = tail.split_once(' ').map_or(tail.as_str(), |(_, t)| t);
            used += tail.chars().count();
            out.push(plain(tail));
        }
    }
    for segment in &marked[start..] {
        let len = segment.text.chars().count();
        if used + len > SNIPPET_CHARS {
            if !segment.mark {
                let room: String = segment.text.chars().take(SNIPPET_CHARS - used).collect();
                out.push(plain(room.trim_end()));
            }
            out.push(plain("…"));
            return out;
        }
        used += len;
        out.push(segment.clone());
    }
    out
}

fn plain(text: &str) -> Segment {
    Segment {
        text: text.to_owned(),
        mark: false,
    }
}

/// Renders segments as an HTML fragment: escaped text, marks as `<mark>`.
pub fn to_html(segments: &[Segment]) -> String {
    let mut html = String::new();
    for segment in segments {
        if segment.mark {
            html.push_str("<mark>");
        }
        for c in segment.text.chars() {
            match c {
                '&' => html.push_str("&amp;"),
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                '"' => html.push_str("&quot;"),
                '\'' => html.push_str("&#39;"),
                c => html.push(c),
            }
        }
        if segment.mark {
            html.push_str("</mark>");
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::{Highlight, mark, snippet, to_html};

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn marks_folded_words_and_escapes_the_rest() {
        let h = Highlight::new(
            "Café <b>Zürich</b>",
            "Menus & prices of every cafe",
            &words(&["cafe"]),
        );
        assert_eq!(
            h.service_name,
            "<mark>Café</mark> &lt;b&gt;Zürich&lt;/b&gt;"
        );
        assert_eq!(h.snippet, "Menus &amp; prices of every <mark>cafe</mark>");
    }

    #[test]
    fn snippet_centres_on_the_first_match() {
        let long = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let html = to_html(&snippet(&long, &words(&["needle"])));
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>needle</mark>"), "{html}");
        assert!(html.chars().count() < 240, "{html}");
    }

    #[test]
    fn no_match_keeps_text_whole() {
        let segments = mark("plain text", &words(&["zebra"]));
        assert_eq!(segments.len(), 1);
        assert!(!segments[0].mark);
    }
}
