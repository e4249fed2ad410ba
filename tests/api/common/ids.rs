//! Typed ids for the tests: a helper that creates a listing returns a `ListingId`,
//! one that places an order an `OrderId`, so a test cannot hand one where the other
//! belongs. They deref to `&str` for URLs and SQL binds, and serialize as the bare
//! string for JSON bodies.

use std::fmt;
use std::ops::Deref;

macro_rules! test_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id the server returned.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as the API spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for serde_json::Value {
            fn eq(&self, other: &$name) -> bool {
                self.as_str() == Some(other.as_str())
            }
        }
    };
}

test_id!(
    /// A listing's id (`lst_…`).
    ListingId
);
test_id!(
    /// An order's id (`ord_…`).
    OrderId
);
