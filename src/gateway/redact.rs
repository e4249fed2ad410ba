//! Masks the seller's key in an upstream's response body before it reaches the buyer.
//!
//! Upstreams echo what they were sent more often than one would hope: an error page
//! that prints the request, `{"error": "invalid key sk_live_…"}`, a debug endpoint.
//! The gateway injects the seller's key into every request, so any such echo would
//! hand the key to a buyer. [`Redacted`] streams the body through and overwrites each
//! occurrence of the key with `*`, byte for byte, so `Content-Length` stays true and
//! nothing is buffered beyond the few bytes that may begin the key at the end of a
//! chunk (held until the next chunk shows whether they do). The key is matched as
//! sent; the gateway asks the upstream for an uncompressed answer (`proxy.rs`), since
//! a compressed body could not be read here.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use memchr::memmem::Finder;

/// Keys shorter than this are not masked: masking would garble ordinary text (a
/// one-character key, every such character), and so short a key hides nothing.
pub(super) const MIN_MASKED_KEY: usize = 8;

/// The byte each byte of the key is overwritten with.
const MASK: u8 = b'*';

/// A response body with every occurrence of the key masked.
pub(super) struct Redacted<B> {
    inner: B,
    /// The key as sent, and as it reads once form-encoded (an echoed URL of a key
    /// sent in the query) or escaped inside a JSON string, where those differ.
    needles: Vec<Finder<'static>>,
    /// The end of the data so far that may begin the key: sent with the next chunk.
    held: Vec<u8>,
    /// A trailers frame read while bytes were still held: sent after them.
    trailers: Option<Frame<Bytes>>,
    /// Whether an occurrence was masked (logged once per response).
    masked: bool,
}

impl<B> Redacted<B> {
    /// Wraps `inner`; `key` is at least [`MIN_MASKED_KEY`] bytes.
    pub(super) fn new(inner: B, key: &str) -> Self {
        debug_assert!(key.len() >= MIN_MASKED_KEY);
        let form: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
        // The JSON string without its quotes; a key is never a quote itself.
        let quoted = serde_json::to_string(key).unwrap_or_default();
        let json = quoted
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or_default()
            .to_owned();
        let mut forms = vec![key.to_owned(), form, json];
        forms.sort_unstable();
        forms.dedup();
        Self {
            inner,
            needles: forms
                .iter()
                .filter(|form| !form.is_empty())
                .map(|form| Finder::new(form.as_bytes()).into_owned())
                .collect(),
            held: Vec::new(),
            trailers: None,
            masked: false,
        }
    }

    /// How many bytes at the end of `data` may begin one of the key's forms.
    fn may_begin_key(&self, data: &[u8]) -> usize {
        self.needles
            .iter()
            .map(|needle| key_prefix_ending(data, needle.needle()))
            .max()
            .unwrap_or(0)
    }

    /// Masks `data` (after what was held) and returns what can be sent now.
    fn pass(&mut self, data: Bytes) -> Bytes {
        if self.held.is_empty()
            && self.needles.iter().all(|n| n.find(&data).is_none())
            && self.may_begin_key(&data) == 0
        {
            return data;
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(&data);
        for needle in &self.needles {
            let found: Vec<usize> = needle.find_iter(&buf).collect();
            for at in found {
                buf[at..at + needle.needle().len()].fill(MASK);
                if !self.masked {
                    self.masked = true;
                    tracing::warn!("masked the seller's key in an upstream response body");
                    metrics::counter!("udam_gateway_key_masked_total").increment(1);
                }
            }
        }
        let keep = self.may_begin_key(&buf);
        self.held = buf.split_off(buf.len() - keep);
        Bytes::from(buf)
    }
}

/// The length of the longest proper prefix of `key` that `data` ends with: those
/// bytes may be the start of the key, finished by the next chunk.
fn key_prefix_ending(data: &[u8], key: &[u8]) -> usize {
    (1..key.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&key[..n]))
        .unwrap_or(0)
}

impl<B> Body for Redacted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        loop {
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None if this.held.is_empty() => return Poll::Ready(None),
                // The body ended on what looked like the key's start: it was not.
                None => {
                    let rest = std::mem::take(&mut this.held);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
            };
            match frame.into_data() {
                Ok(data) => {
                    let out = this.pass(data);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Err(trailers) if this.held.is_empty() => return Poll::Ready(Some(Ok(trailers))),
                Err(trailers) => {
                    this.trailers = Some(trailers);
                    let rest = std::mem::take(&mut this.held);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        // Masking keeps every byte's place: what is left is the upstream's remainder
        // plus what is held. The upper bound goes first: `set_lower` checks against it.
        let inner = self.inner.size_hint();
        let held = self.held.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint.set_lower(inner.lower().saturating_add(held));
        hint
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.held.is_empty() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body as AxumBody;

    use super::*;

    const KEY_STR: &str = "sk_live_abc123";
    const KEY: &[u8] = KEY_STR.as_bytes();

    /// The body `chunks` make once `key` is masked, read as the buyer reads it.
    async fn masked(key: &str, chunks: &[&[u8]]) -> Vec<u8> {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let upstream = AxumBody::from_stream(futures::stream::iter(chunks));
        let body = AxumBody::new(Redacted::new(upstream, key));
        axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    async fn redacted(chunks: &[&[u8]]) -> Vec<u8> {
        masked(KEY_STR, chunks).await
    }

    #[tokio::test]
    async fn the_key_is_masked_however_the_chunks_split_it() {
        let text =
            b"{\"error\":\"bad key sk_live_abc123\",\"again\":\"sk_live_abc123sk_live_abc123\"}";
        let expected =
            b"{\"error\":\"bad key **************\",\"again\":\"****************************\"}";
        assert_eq!(redacted(&[text]).await, expected);
        // Every split into two chunks, and one byte at a time.
        for at in 0..=text.len() {
            assert_eq!(
                redacted(&[&text[..at], &text[at..]]).await,
                expected,
                "{at}"
            );
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(redacted(&bytes).await, expected);
    }

    #[tokio::test]
    async fn what_only_looks_like_the_key_passes_unchanged() {
        let text = b"sk_live_abc12 and sk_live_ and at the end: sk_live_ab";
        assert_eq!(redacted(&[text]).await, text);
        let bytes: Vec<&[u8]> = text.chunks(3).collect();
        assert_eq!(redacted(&bytes).await, text);
        assert_eq!(redacted(&[]).await, b"");
    }

    #[tokio::test]
    async fn the_key_is_masked_form_encoded_and_json_escaped_too() {
        let key = r#"k3y/with+"odd"\chars"#;
        let text = br#"{"url": "/v1?api_key=k3y%2Fwith%2B%22odd%22%5Cchars", "sent": "k3y/with+\"odd\"\\chars", "raw": k3y/with+"odd"\chars}"#;
        let out = masked(key, &text.chunks(5).collect::<Vec<_>>()).await;
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.len(), text.len(), "masked in place");
        assert!(!out.contains("k3y"), "{out}");
        assert!(out.contains("api_key=*"), "{out}");
    }

    #[test]
    fn the_size_hint_counts_held_bytes_without_panicking() {
        // An exact upstream length, with bytes held mid-stream: the hint stays exact.
        let upstream = AxumBody::from("0123456789");
        let mut body = Redacted::new(upstream, KEY_STR);
        body.held = b"sk_li".to_vec();
        let hint = body.size_hint();
        assert_eq!(hint.exact(), Some(15));
    }

    #[test]
    fn only_a_proper_prefix_of_the_key_is_held() {
        assert_eq!(key_prefix_ending(b"xx sk_li", KEY), 5);
        assert_eq!(key_prefix_ending(b"xx s", KEY), 1);
        assert_eq!(key_prefix_ending(b"xx", KEY), 0);
        assert_eq!(
            key_prefix_ending(b"sk_live_abc123", KEY),
            0,
            "a whole key is masked, not held"
        );
        assert_eq!(key_prefix_ending(b"", KEY), 0);
    }
}
