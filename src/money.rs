//! Currencies: the ISO 4217 codes a listing may be priced in, and how to print amounts.
//!
//! Amounts are always an integer count of the currency's minor unit (cents for
//! `usd`, yen for `jpy`, fils for `bhd`), never a float. Codes are lowercase in
//! the API, as Stripe spells them.
//!
//! The table holds the active ISO 4217 currencies Stripe can charge in whose
//! ISO exponent is also the exponent Stripe's API expects, so an amount can be
//! passed to Stripe unchanged. Three Stripe currencies are left out on purpose
//! because the two disagree: `isk` and `ugx` (ISO 0 decimals, Stripe wants two)
//! and `mga` (ISO 2, Stripe wants none). Replaced codes (`hrk`, `sll`, `std`,
//! `ang`, `bgn`) are left out too.

/// A currency a price can be expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    /// ISO 4217 code, lowercase (`"usd"`).
    pub code: &'static str,
    /// Digits after the decimal point: one major unit is `10^exponent` minor units.
    pub exponent: u8,
    /// Symbol printed before the amount (`"$"`), or `""` to print the
    /// uppercase code after it instead. Only unambiguous symbols are used:
    /// `"$"` is the US dollar, other dollars get a prefix (`"CA$"`).
    pub symbol: &'static str,
    /// English name, for pickers in the UI.
    pub name: &'static str,
}

/// Currency code used when a listing does not name one.
pub const DEFAULT_CURRENCY_CODE: &str = "usd";

/// Shorthand for the table below.
const fn c(code: &'static str, exponent: u8, symbol: &'static str, name: &'static str) -> Currency {
    Currency {
        code,
        exponent,
        symbol,
        name,
    }
}

/// Every accepted currency, sorted by code.
static CURRENCIES: &[Currency] = &[
    c("aed", 2, "", "UAE Dirham"),
    c("all", 2, "", "Albanian Lek"),
    c("amd", 2, "", "Armenian Dram"),
    c("aoa", 2, "", "Angolan Kwanza"),
    c("ars", 2, "", "Argentine Peso"),
    c("aud", 2, "A$", "Australian Dollar"),
    c("awg", 2, "", "Aruban Florin"),
    c("azn", 2, "", "Azerbaijani Manat"),
    c("bam", 2, "", "Bosnia-Herzegovina Convertible Mark"),
    c("bbd", 2, "", "Barbadian Dollar"),
    c("bdt", 2, "", "Bangladeshi Taka"),
    c("bhd", 3, "", "Bahraini Dinar"),
    c("bif", 0, "", "Burundian Franc"),
    c("bmd", 2, "", "Bermudian Dollar"),
    c("bnd", 2, "", "Brunei Dollar"),
    c("bob", 2, "", "Bolivian Boliviano"),
    c("brl", 2, "R$", "Brazilian Real"),
    c("bsd", 2, "", "Bahamian Dollar"),
    c("bwp", 2, "", "Botswana Pula"),
    c("bzd", 2, "", "Belize Dollar"),
    c("cad", 2, "CA$", "Canadian Dollar"),
    c("cdf", 2, "", "Congolese Franc"),
    c("chf", 2, "", "Swiss Franc"),
    c("clp", 0, "", "Chilean Peso"),
    c("cny", 2, "CN¥", "Chinese Yuan"),
    c("cop", 2, "", "Colombian Peso"),
    c("crc", 2, "", "Costa Rican Colón"),
    c("cve", 2, "", "Cape Verdean Escudo"),
    c("czk", 2, "", "Czech Koruna"),
    c("djf", 0, "", "Djiboutian Franc"),
    c("dkk", 2, "", "Danish Krone"),
    c("dop", 2, "", "Dominican Peso"),
    c("dzd", 2, "", "Algerian Dinar"),
    c("egp", 2, "", "Egyptian Pound"),
    c("etb", 2, "", "Ethiopian Birr"),
    c("eur", 2, "€", "Euro"),
    c("fjd", 2, "", "Fijian Dollar"),
    c("gbp", 2, "£", "British Pound"),
    c("gel", 2, "", "Georgian Lari"),
    c("gmd", 2, "", "Gambian Dalasi"),
    c("gnf", 0, "", "Guinean Franc"),
    c("gtq", 2, "", "Guatemalan Quetzal"),
    c("gyd", 2, "", "Guyanese Dollar"),
    c("hkd", 2, "HK$", "Hong Kong Dollar"),
    c("hnl", 2, "", "Honduran Lempira"),
    c("htg", 2, "", "Haitian Gourde"),
    c("huf", 2, "", "Hungarian Forint"),
    c("idr", 2, "", "Indonesian Rupiah"),
    c("ils", 2, "₪", "Israeli New Shekel"),
    c("inr", 2, "₹", "Indian Rupee"),
    c("jmd", 2, "", "Jamaican Dollar"),
    c("jod", 3, "", "Jordanian Dinar"),
    c("jpy", 0, "¥", "Japanese Yen"),
    c("kes", 2, "", "Kenyan Shilling"),
    c("kgs", 2, "", "Kyrgystani Som"),
    c("khr", 2, "", "Cambodian Riel"),
    c("kmf", 0, "", "Comorian Franc"),
    c("krw", 0, "₩", "South Korean Won"),
    c("kwd", 3, "", "Kuwaiti Dinar"),
    c("kyd", 2, "", "Cayman Islands Dollar"),
    c("kzt", 2, "", "Kazakhstani Tenge"),
    c("lak", 2, "", "Laotian Kip"),
    c("lbp", 2, "", "Lebanese Pound"),
    c("lkr", 2, "", "Sri Lankan Rupee"),
    c("lrd", 2, "", "Liberian Dollar"),
    c("lsl", 2, "", "Lesotho Loti"),
    c("mad", 2, "", "Moroccan Dirham"),
    c("mdl", 2, "", "Moldovan Leu"),
    c("mkd", 2, "", "Macedonian Denar"),
    c("mmk", 2, "", "Myanmar Kyat"),
    c("mnt", 2, "", "Mongolian Tugrik"),
    c("mop", 2, "", "Macanese Pataca"),
    c("mur", 2, "", "Mauritian Rupee"),
    c("mvr", 2, "", "Maldivian Rufiyaa"),
    c("mwk", 2, "", "Malawian Kwacha"),
    c("mxn", 2, "MX$", "Mexican Peso"),
    c("myr", 2, "", "Malaysian Ringgit"),
    c("mzn", 2, "", "Mozambican Metical"),
    c("nad", 2, "", "Namibian Dollar"),
    c("ngn", 2, "₦", "Nigerian Naira"),
    c("nio", 2, "", "Nicaraguan Córdoba"),
    c("nok", 2, "", "Norwegian Krone"),
    c("npr", 2, "", "Nepalese Rupee"),
    c("nzd", 2, "NZ$", "New Zealand Dollar"),
    c("omr", 3, "", "Omani Rial"),
    c("pab", 2, "", "Panamanian Balboa"),
    c("pen", 2, "", "Peruvian Sol"),
    c("pgk", 2, "", "Papua New Guinean Kina"),
    c("php", 2, "₱", "Philippine Peso"),
    c("pkr", 2, "", "Pakistani Rupee"),
    c("pln", 2, "", "Polish Zloty"),
    c("pyg", 0, "", "Paraguayan Guarani"),
    c("qar", 2, "", "Qatari Riyal"),
    c("ron", 2, "", "Romanian Leu"),
    c("rsd", 2, "", "Serbian Dinar"),
    c("rwf", 0, "", "Rwandan Franc"),
    c("sar", 2, "", "Saudi Riyal"),
    c("sbd", 2, "", "Solomon Islands Dollar"),
    c("scr", 2, "", "Seychellois Rupee"),
    c("sek", 2, "", "Swedish Krona"),
    c("sgd", 2, "", "Singapore Dollar"),
    c("sle", 2, "", "Sierra Leonean Leone"),
    c("sos", 2, "", "Somali Shilling"),
    c("srd", 2, "", "Surinamese Dollar"),
    c("szl", 2, "", "Swazi Lilangeni"),
    c("thb", 2, "", "Thai Baht"),
    c("tjs", 2, "", "Tajikistani Somoni"),
    c("tnd", 3, "", "Tunisian Dinar"),
    c("top", 2, "", "Tongan Paʻanga"),
    c("try", 2, "", "Turkish Lira"),
    c("ttd", 2, "", "Trinidad and Tobago Dollar"),
    c("twd", 2, "NT$", "New Taiwan Dollar"),
    c("tzs", 2, "", "Tanzanian Shilling"),
    c("uah", 2, "", "Ukrainian Hryvnia"),
    c("usd", 2, "$", "US Dollar"),
    c("uyu", 2, "", "Uruguayan Peso"),
    c("uzs", 2, "", "Uzbekistani Som"),
    c("vnd", 0, "₫", "Vietnamese Dong"),
    c("vuv", 0, "", "Vanuatu Vatu"),
    c("wst", 2, "", "Samoan Tala"),
    c("xaf", 0, "", "Central African CFA Franc"),
    c("xcd", 2, "EC$", "East Caribbean Dollar"),
    c("xof", 0, "", "West African CFA Franc"),
    c("xpf", 0, "", "CFP Franc"),
    c("yer", 2, "", "Yemeni Rial"),
    c("zar", 2, "", "South African Rand"),
    c("zmw", 2, "", "Zambian Kwacha"),
];

/// Every accepted currency, sorted by code (for pickers and API docs).
pub fn currencies() -> &'static [Currency] {
    CURRENCIES
}

/// Looks up a currency by ISO 4217 code, ignoring ASCII case (`"USD"` finds `usd`).
/// Returns `None` for unknown codes; surrounding whitespace is not trimmed.
pub fn currency(code: &str) -> Option<&'static Currency> {
    if code.len() != 3 {
        return None;
    }
    let lower = code.to_ascii_lowercase();
    CURRENCIES
        .binary_search_by(|known| known.code.cmp(lower.as_str()))
        .ok()
        .and_then(|index| CURRENCIES.get(index))
}

/// Formats an amount of minor units for people: `1234` usd is `"$12.34"`,
/// `500` jpy is `"¥500"`, `1234` bhd is `"1.234 BHD"`.
///
/// The major part is grouped in thousands with `,` (`"$1,234,567.89"`), and a
/// negative amount gets a leading `-` (`"-$12.34"`). Every `i64` is accepted.
pub fn format_minor(amount_minor: i64, currency: &Currency) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    // unsigned_abs handles i64::MIN, whose absolute value does not fit in an i64.
    let magnitude = amount_minor.unsigned_abs();
    let scale = 10u64.pow(u32::from(currency.exponent));
    let major = group_thousands(magnitude / scale);
    let number = if currency.exponent == 0 {
        major
    } else {
        let minor = magnitude % scale;
        let width = usize::from(currency.exponent);
        format!("{major}.{minor:0width$}")
    };
    if currency.symbol.is_empty() {
        format!("{sign}{number} {}", currency.code.to_ascii_uppercase())
    } else {
        format!("{sign}{}{number}", currency.symbol)
    }
}

/// A count as people read it: `-1234567` -> `"-1,234,567"`.
pub fn count(n: i64) -> String {
    let grouped = group_thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// `1234567` -> `"1,234,567"`.
fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(code: &str) -> &'static Currency {
        currency(code).unwrap_or_else(|| panic!("{code} should be known"))
    }

    #[test]
    fn lookup_ignores_case() {
        for code in ["usd", "USD", "Usd"] {
            let usd = known(code);
            assert_eq!(usd.code, "usd");
            assert_eq!(usd.exponent, 2);
            assert_eq!(usd.symbol, "$");
        }
    }

    #[test]
    fn unknown_codes_are_none() {
        for code in [
            "", "us", "usdd", "xxx", "zzz", " usd", "usd ", "isk", "hrk", "€",
        ] {
            assert_eq!(currency(code), None, "{code:?}");
        }
    }

    #[test]
    fn the_default_currency_is_known() {
        assert_eq!(known(DEFAULT_CURRENCY_CODE).code, "usd");
    }

    #[test]
    fn exponents_match_iso_4217_and_stripe() {
        for code in ["jpy", "krw", "vnd", "clp", "pyg", "xaf", "xof", "bif"] {
            assert_eq!(known(code).exponent, 0, "{code}");
        }
        for code in ["bhd", "kwd", "jod", "omr", "tnd"] {
            assert_eq!(known(code).exponent, 3, "{code}");
        }
        for code in [
            "usd", "eur", "gbp", "cad", "aud", "chf", "inr", "huf", "twd", "idr",
        ] {
            assert_eq!(known(code).exponent, 2, "{code}");
        }
    }

    #[test]
    fn the_table_is_sorted_unique_lowercase_iso_codes() {
        assert!(currencies().len() >= 40);
        for pair in currencies().windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} / {}",
                pair[0].code,
                pair[1].code
            );
        }
        for known in currencies() {
            assert_eq!(known.code.len(), 3);
            assert!(known.code.bytes().all(|b| b.is_ascii_lowercase()));
            assert!(known.exponent <= 3);
            assert!(!known.name.is_empty());
            // Every entry must be reachable through the binary-search lookup.
            assert_eq!(currency(known.code), Some(known));
        }
    }

    #[test]
    fn formats_two_decimal_currencies() {
        let usd = known("usd");
        assert_eq!(format_minor(1234, usd), "$12.34");
        assert_eq!(format_minor(5, usd), "$0.05");
        assert_eq!(format_minor(0, usd), "$0.00");
        assert_eq!(format_minor(123_456_789, usd), "$1,234,567.89");
        assert_eq!(format_minor(-1234, usd), "-$12.34");
        assert_eq!(format_minor(1999, known("eur")), "€19.99");
        assert_eq!(format_minor(1999, known("chf")), "19.99 CHF");
    }

    #[test]
    fn formats_zero_decimal_currencies() {
        let jpy = known("jpy");
        assert_eq!(format_minor(500, jpy), "¥500");
        assert_eq!(format_minor(1_500_000, jpy), "¥1,500,000");
        assert_eq!(format_minor(-500, jpy), "-¥500");
        assert_eq!(format_minor(2500, known("clp")), "2,500 CLP");
    }

    #[test]
    fn formats_three_decimal_currencies() {
        let bhd = known("bhd");
        assert_eq!(format_minor(1234, bhd), "1.234 BHD");
        assert_eq!(format_minor(5, bhd), "0.005 BHD");
        assert_eq!(format_minor(-1_234_567, bhd), "-1,234.567 BHD");
    }

    #[test]
    fn formats_the_extremes_of_i64() {
        let usd = known("usd");
        assert_eq!(format_minor(i64::MAX, usd), "$92,233,720,368,547,758.07");
        assert_eq!(format_minor(i64::MIN, usd), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(100_000), "100,000");
        assert_eq!(group_thousands(1_000_000), "1,000,000");
        assert_eq!(count(-12_345), "-12,345");
        assert_eq!(count(999), "999");
    }
}
