//! `udam demo`: fills an empty database with a few sellers, listings in several
//! currencies and a buyer, so that the UI can be tried at once.
//!
//! It goes through the same services as the UI (accounts, listings), so demo data
//! is ordinary data: passwords hashed, seller keys sealed. Passwords are random and
//! printed once. It refuses to touch a database that already has users.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::Row;

use crate::accounts::create_user;
use crate::error::ApiError;
use crate::listings::model::CreateListing;
use crate::state::AppState;

/// A demo account, with the password to sign in.
pub struct DemoAccount {
    /// `seller` or `buyer`.
    pub role: &'static str,
    /// Sign-in email.
    pub email: String,
    /// Sign-in password (random, shown once).
    pub password: String,
}

impl std::fmt::Debug for DemoAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAccount")
            .field("role", &self.role)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// What `seed` created.
#[derive(Debug)]
pub struct DemoReport {
    /// Every account, sellers first.
    pub accounts: Vec<DemoAccount>,
    /// How many listings were created.
    pub listings: usize,
}

/// Why `seed` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database already has users.
    #[error(
        "the database already has {0} user(s); `udam demo` only fills an empty database \
         (point --database-url at a new one, or move ./udam-data away)"
    )]
    NotEmpty(i64),
    /// A service failed.
    #[error("creating demo data failed: {0}")]
    Failed(String),
}

impl From<ApiError> for DemoError {
    fn from(err: ApiError) -> Self {
        Self::Failed(format!("{} ({})", err.message(), err.code()))
    }
}

impl From<sqlx::Error> for DemoError {
    fn from(err: sqlx::Error) -> Self {
        Self::Failed(err.to_string())
    }
}

/// A listing of the demo: (seller index, name, description, unit, price in minor
/// units, currency, units). Prices straddle the instant limit, so that both instant
/// orders and checkout can be tried.
type DemoListing = (
    usize,
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static str,
    i64,
);

const LISTINGS: &[DemoListing] = &[
    (
        0,
        "Weather Now",
        "Current conditions and a 48-hour forecast for any city, updated every 10 minutes.",
        "per 1,000 requests",
        50,
        "usd",
        500,
    ),
    (
        0,
        "Historical Climate Archive",
        "Daily temperature and rainfall since 1950 for 12,000 stations, as CSV downloads.",
        "per dataset download",
        1200,
        "eur",
        40,
    ),
    (
        0,
        "Satellite Imagery Tiles",
        "Cloud-free 10 m imagery tiles, refreshed weekly.",
        "per 100 tiles",
        4900,
        "usd",
        20,
    ),
    (
        1,
        "Stock Quotes Stream",
        "Real-time quotes for 8,000 listed companies over a websocket.",
        "per day of access",
        250,
        "usd",
        100,
    ),
    (
        1,
        "Tokyo Transit Timetables",
        "Every train and bus departure in greater Tokyo, with live delays.",
        "per 10,000 requests",
        300,
        "jpy",
        1000,
    ),
    (
        1,
        "UK Postcode Lookup",
        "Address, coordinates and local authority for every UK postcode.",
        "per 1,000 lookups",
        99,
        "gbp",
        250,
    ),
];

/// A random password people can type: 16 URL-safe characters (96 bits).
fn random_password() -> String {
    URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<12>())
}

/// Fills an empty database with demo sellers, listings and a buyer.
pub async fn seed(state: &AppState) -> Result<DemoReport, DemoError> {
    let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(state.db.pool())
        .await?
        .try_get("n")?;
    if users > 0 {
        return Err(DemoError::NotEmpty(users));
    }
    let people = [
        ("seller", "ada.seller@example.com", "Ada's Data Co."),
        ("seller", "bo.seller@example.com", "Bo Feeds"),
        ("buyer", "cy.buyer@example.com", "Cy"),
    ];
    let mut accounts = Vec::new();
    let mut sellers = Vec::new();
    for (role, email, name) in people {
        let password = random_password();
        let user = create_user(state, email, password.clone(), Some(name.to_owned())).await?;
        if role == "seller" {
            sellers.push(user);
        }
        accounts.push(DemoAccount {
            role,
            email: email.to_owned(),
            password,
        });
    }
    for &(seller, name, description, unit, price, currency, units) in LISTINGS {
        let Some(seller) = sellers.get(seller) else {
            continue;
        };
        let api_key = format!("demo_{}", hex::encode(crate::ids::random_bytes::<12>()));
        crate::listings::create(
            state,
            seller,
            CreateListing {
                service_name: name.to_owned(),
                description: description.to_owned(),
                unit_description: Some(unit.to_owned()),
                price_cents: price,
                currency: Some(currency.to_owned()),
                available_units: units,
                api_key,
                delivery: None,
                gateway: None,
            },
        )
        .await?;
    }
    Ok(DemoReport {
        accounts,
        listings: LISTINGS.len(),
    })
}
