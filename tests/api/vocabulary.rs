//! The vocabulary is spelled once: no word of a status, kind or outcome enum appears
//! as a quoted SQL literal in `src/`, and no metric is labelled with a string typed
//! at its call site. Source checks, not behaviour: they keep issue 11's rule true as
//! code is added (words are bound from their enum, e.g. `.bind(PaymentStatus::Paid)`,
//! or, where an index needs the word in the statement's text, formatted from it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn words() -> BTreeSet<&'static str> {
    use udam::gateway::vocab::{GatewayOutcome, Meter, UsageGranularity};
    use udam::ledger::{AccountKind, TransactionKind};
    use udam::payments::earnings::EarningState;
    use udam::payouts::PayoutProviderKind;
    use udam::vocab::*;
    use udam::webhooks::{DeliveryStatus, DisabledReason, EventType};
    let mut words = BTreeSet::new();
    macro_rules! add {
        ($($vocabulary:ty),+ $(,)?) => {
            $(words.extend(<$vocabulary>::ALL.iter().map(|v| v.as_str()));)+
        };
    }
    add!(
        OrderStatus,
        PaymentStatus,
        ListingStatus,
        ListingAvailability,
        GrantStatus,
        SettlementStatus,
        PayoutStatus,
        ProviderName,
        EventOutcome,
        CheckoutKind,
        Delivery,
        AccountKind,
        TransactionKind,
        Meter,
        GatewayOutcome,
        UsageGranularity,
        EarningState,
        PayoutProviderKind,
        DeliveryStatus,
        DisabledReason,
        EventType,
        udam::error::ErrorCode,
    );
    words
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every non-comment line of every `src/` file, with the file's path from the root.
fn code_lines() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut lines = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("a UTF-8 source file");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            if !code.trim().is_empty() {
                lines.push((name.clone(), code.to_owned()));
            }
        }
    }
    lines
}

/// Every text between two single quotes of a line: its SQL literals, and some
/// stretches between them (a lifetime's quote would throw a strict pairing off).
/// Rust char literals hold one character, so no word is ever one.
fn quoted(line: &str) -> Vec<&str> {
    let parts: Vec<&str> = line.split('\'').collect();
    parts
        .get(1..parts.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec()
}

#[test]
fn no_vocabulary_word_is_quoted_in_sql() {
    let words = words();
    let mut found = BTreeSet::new();
    for (file, line) in code_lines() {
        for literal in quoted(&line) {
            if words.contains(literal) {
                found.insert((file.clone(), literal.to_owned()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "bind these words from their enum instead of quoting them (where an index \
         needs the word in the text, format it from the enum): {found:?}"
    );
}

#[test]
fn no_metric_label_is_a_string_literal() {
    let mut found = Vec::new();
    for (file, line) in code_lines() {
        let is_metric = ["counter!(", "gauge!(", "histogram!("]
            .iter()
            .any(|m| line.contains(m));
        if !is_metric {
            continue;
        }
        // `"label" => "value"`: the value must come from a label enum's `as_str()`.
        for value in line.split("=>").skip(1) {
            if value.trim_start().starts_with('"') {
                found.push(format!("{file}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "label these metrics from an enum of udam::telemetry::labels: {found:#?}"
    );
}
