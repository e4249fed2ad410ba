//! Prices typed by people (`2.50` dollars) to and from the integer count of minor
//! units that the services store (`250` cents). Integer arithmetic only.

use crate::error::ApiError;
use crate::money::Currency;

/// Parses a price typed in major units (`2`, `2.5`, `2.50`, `1,250.00`) for
/// `currency`. At most the currency's number of decimals; never negative.
pub fn parse_price(raw: &str, currency: &Currency) -> Result<i64, ApiError> {
    let decimals = usize::from(currency.exponent);
    let invalid = || {
        let example = if decimals == 0 {
            "300".to_owned()
        } else {
            format!("2.{}", "5".repeat(decimals))
        };
        ApiError::validation(
            "price",
            format!(
                "enter an amount like {example} ({} allows {decimals} decimal place{})",
                currency.code.to_ascii_uppercase(),
                if decimals == 1 { "" } else { "s" }
            ),
        )
    };
    let text: String = raw.trim().chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > decimals
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    let too_large = || ApiError::validation("price", "is too large");
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let scale = 10i64.pow(u32::from(currency.exponent));
    let padded = format!("{fraction:0<decimals$}");
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| invalid())?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(too_large)
}

/// A stored price as a form shows it for editing: `250` cents is `2.50`.
pub fn price_text(amount_minor: i64, currency: &Currency) -> String {
    let decimals = usize::from(currency.exponent);
    if decimals == 0 {
        return amount_minor.to_string();
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    let magnitude = amount_minor.unsigned_abs();
    let scale = 10u64.pow(u32::from(currency.exponent));
    format!(
        "{sign}{}.{:0decimals$}",
        magnitude / scale,
        magnitude % scale
    )
}

/// Parses a whole number of units typed in a form.
pub fn parse_units(raw: &str, field: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::validation(field, "enter a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::currency;

    #[test]
    fn prices_parse_in_the_currency_exponent() {
        let usd = currency("usd").unwrap();
        let jpy = currency("jpy").unwrap();
        let bhd = currency("bhd").unwrap();
        assert_eq!(parse_price("2.50", usd).unwrap(), 250);
        assert_eq!(parse_price(" 2.5 ", usd).unwrap(), 250);
        assert_eq!(parse_price("2", usd).unwrap(), 200);
        assert_eq!(parse_price(".99", usd).unwrap(), 99);
        assert_eq!(parse_price("1,234.56", usd).unwrap(), 123_456);
        assert_eq!(parse_price("0", usd).unwrap(), 0);
        assert_eq!(parse_price("300", jpy).unwrap(), 300);
        assert_eq!(parse_price("1.250", bhd).unwrap(), 1250);
        for bad in ["", ".", "2.", "-1", "2.505", "abc", "1e3", "2..5", "+2"] {
            assert!(parse_price(bad, usd).is_err(), "{bad:?} accepted");
        }
        assert!(parse_price("3.5", jpy).is_err());
        assert!(parse_price("99999999999999999999", usd).is_err());
        assert!(parse_price("92233720368547758.08", usd).is_err());
    }

    #[test]
    fn prices_show_for_editing() {
        assert_eq!(price_text(250, currency("usd").unwrap()), "2.50");
        assert_eq!(price_text(5, currency("usd").unwrap()), "0.05");
        assert_eq!(price_text(300, currency("jpy").unwrap()), "300");
        assert_eq!(price_text(1250, currency("bhd").unwrap()), "1.250");
        for minor in [0, 1, 99, 100, 123_456] {
            let usd = currency("usd").unwrap();
            assert_eq!(parse_price(&price_text(minor, usd), usd).unwrap(), minor);
        }
    }

    #[test]
    fn units_parse() {
        assert_eq!(parse_units(" 3 ", "units").unwrap(), 3);
        assert!(parse_units("3.5", "units").is_err());
        assert!(parse_units("", "units").is_err());
    }
}
