//! The domain's vocabularies: one enum per set of words the system stores or sends
//! (statuses, kinds, providers, outcomes), each spelled once.
//!
//! Every vocabulary is stored as TEXT and serialized in snake_case. The
//! [`vocabulary!`](crate::vocabulary) macro gives each enum `as_str`, `FromStr`,
//! serde, an OpenAPI schema listing every value with its meaning, and sqlx
//! encoding for the `Any` driver, so SQL binds the enum itself instead of a literal.
//! Hand-written instead of a derive crate: the needs are small and fixed.

/// Declares a vocabulary enum: `Variant = "text"`, each with a doc comment.
///
/// The doc comments become the enum's OpenAPI description, one line per value, so
/// a value cannot exist undocumented. An optional `#[derive(...)]` after the docs adds
/// derives (e.g. `PartialOrd, Ord` for a vocabulary used as a map key).
#[macro_export]
macro_rules! vocabulary {
    (
        $(#[doc = $enum_doc:literal])*
        $(#[derive($($extra:path),+ $(,)?)])?
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])+ $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[doc = $enum_doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash $($(, $extra)+)?)]
        $vis enum $name {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's stored and serialized text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// What the value means (its doc comment).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!($($doc),+).trim_start(),)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::vocab::UnknownWord;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::vocab::UnknownWord {
                        vocabulary: stringify!($name),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|_| {
                    ::serde::de::Error::unknown_variant(&text, &[$($text),+])
                })
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::vocab::string_enum_schema(
                    concat!($($enum_doc, "\n"),*),
                    Self::ALL.iter().map(|v| (v.as_str(), v.meaning())),
                )
            }
        }

        impl ::utoipa::ToSchema for $name {}

        impl ::sqlx::Type<::sqlx::Any> for $name {
            fn type_info() -> ::sqlx::any::AnyTypeInfo {
                <str as ::sqlx::Type<::sqlx::Any>>::type_info()
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <::sqlx::Any as ::sqlx::Database>::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'q, ::sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Any> for $name {
            fn decode(
                value: <::sqlx::Any as ::sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<'r, ::sqlx::Any>>::decode(value)?;
                Ok(text.parse()?)
            }
        }

        // Read straight from PostgreSQL rows by the native pool's hot reads.
        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

/// A stored or received word that its vocabulary does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    /// The vocabulary's name, e.g. `OrderStatus`.
    pub vocabulary: &'static str,
    /// The words it holds.
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not a {}: expected one of {}",
            self.vocabulary,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownWord {}

/// The OpenAPI schema of a vocabulary: a string enum whose description lists
/// every value and what it means.
pub fn string_enum_schema<'a>(
    summary: &str,
    values: impl Iterator<Item = (&'a str, &'a str)>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut description = summary.trim().replace("\n ", "\n");
    let mut names = Vec::new();
    for (value, meaning) in values {
        description.push_str(&format!("\n- `{value}`: {meaning}"));
        names.push(value.to_owned());
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

crate::vocabulary! {
    /// Where an order stands.
    pub enum OrderStatus {
        /// Units are reserved while the buyer pays at the provider's checkout.
        PendingPayment = "pending_payment",
        /// Paid or billed to the balance; the buyer holds an access grant.
        Fulfilled = "fulfilled",
        /// The buyer cancelled before paying; the units went back.
        Cancelled = "cancelled",
        /// The reservation lapsed unpaid; the units went back.
        Expired = "expired",
        /// The payment failed or the provider was unreachable; the units went back.
        Failed = "failed",
        /// The payment was refunded; the grant was revoked.
        Refunded = "refunded",
    }
}

crate::vocabulary! {
    /// How an order's money stands.
    pub enum PaymentStatus {
        /// Fulfilled now and owed on the buyer's balance (small orders).
        Deferred = "deferred",
        /// Waiting for the checkout to be paid.
        Unpaid = "unpaid",
        /// Paid, at checkout or by settling the balance.
        Paid = "paid",
        /// Paid, then refunded.
        Refunded = "refunded",
    }
}

crate::vocabulary! {
    /// Whether a listing sells.
    pub enum ListingStatus {
        /// For sale.
        Active = "active",
        /// Hidden from buyers by its seller for now.
        Paused = "paused",
        /// Withdrawn for good; existing grants keep working.
        Archived = "archived",
    }
}

crate::vocabulary! {
    /// Whether a listing sells, as buyers see it.
    pub enum ListingAvailability {
        /// For sale, with units left.
        Active = "active",
        /// For sale, but no units are left.
        SoldOut = "sold_out",
        /// Hidden from buyers by its seller for now.
        Paused = "paused",
        /// Withdrawn for good.
        Archived = "archived",
    }
}

crate::vocabulary! {
    /// Whether a buyer's access grant (token) works.
    pub enum GrantStatus {
        /// The buyer may use the seller's key.
        Active = "active",
        /// Revoked by the buyer, the seller or a refund.
        Revoked = "revoked",
    }
}

crate::vocabulary! {
    /// Where a settlement of a buyer's balance stands.
    pub enum SettlementStatus {
        /// Waiting for the checkout to be paid.
        Pending = "pending",
        /// Paid: the orders it covers are paid.
        Paid = "paid",
        /// The checkout lapsed unpaid.
        Expired = "expired",
        /// The checkout failed, or the provider was unreachable.
        Failed = "failed",
        /// The buyer cancelled the checkout.
        Cancelled = "cancelled",
        /// Paid, then its payment was refunded in full: the orders it paid are owed
        /// again. (A partial refund leaves it `paid`.)
        Refunded = "refunded",
    }
}

crate::vocabulary! {
    /// Where a payout stands.
    pub enum PayoutStatus {
        /// Recorded (the amount left the seller's payable), not yet confirmed sent by
        /// the payout provider; retried with the same idempotency key until it is.
        Pending = "pending",
        /// Sent by the payout provider (or, with the dev provider, simulated).
        Paid = "paid",
        /// Refused for good by the provider; the amount is available again.
        Failed = "failed",
        /// Sent, then reversed by the provider; the amount is available again.
        Reversed = "reversed",
    }
}

crate::vocabulary! {
    /// The payment provider an order or settlement went through.
    pub enum ProviderName {
        /// The built-in dev checkout (never in production).
        Dev = "dev",
        /// Stripe Checkout.
        Stripe = "stripe",
    }
}

crate::vocabulary! {
    /// What a payment event (webhook, sweeper check, dev checkout button) did.
    pub enum EventOutcome {
        /// A pending order was paid and fulfilled.
        Fulfilled = "fulfilled",
        /// A settlement was paid; the orders it covers are paid.
        Settled = "settled",
        /// A payment arrived for units already gone; it was refunded.
        Refunded = "refunded",
        /// A charge refunded in full revoked its order's tokens and returned its units.
        Revoked = "revoked",
        /// Part of a charge was refunded; the order keeps its tokens.
        PartiallyRefunded = "partially_refunded",
        /// A settlement's payment was refunded; the orders it paid are owed again.
        SettlementRefunded = "settlement_refunded",
        /// The event does not match the checkout on record (session, amount or
        /// currency); it was stored with its reason and changed nothing.
        Mismatched = "mismatched",
        /// A lapsed checkout released what it reserved.
        Released = "released",
        /// Already applied before; nothing changed.
        Duplicate = "duplicate",
        /// The event names no order this server knows.
        UnknownOrder = "unknown_order",
        /// Completed, but the payment is still on its way (delayed methods).
        AwaitingAsyncPayment = "awaiting_async_payment",
        /// The checkout is still processing at the provider.
        Processing = "processing",
        /// A seller's connected account state was brought up to date (Connect).
        AccountUpdated = "account_updated",
        /// Part or all of a payout's transfer was reversed; the amount is owed to
        /// the seller again.
        PayoutReversed = "payout_reversed",
        /// An event this server does not act on (or older than what it applied).
        Ignored = "ignored",
    }
}

crate::vocabulary! {
    /// What a checkout pays for (sent to the provider as metadata).
    pub enum CheckoutKind {
        /// One order that must be paid before it is fulfilled.
        Order = "order",
        /// A settlement of the buyer's balance of deferred orders.
        Settlement = "settlement",
    }
}

/// Why a checkout ended unpaid: the order's or the settlement's new status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lapse {
    /// The payer cancelled.
    Cancelled,
    /// The reservation or checkout timed out.
    Expired,
    /// The payment failed, or the provider was unreachable.
    Failed,
}

impl Lapse {
    /// The status a pending order moves to.
    pub const fn order_status(self) -> OrderStatus {
        match self {
            Self::Cancelled => OrderStatus::Cancelled,
            Self::Expired => OrderStatus::Expired,
            Self::Failed => OrderStatus::Failed,
        }
    }

    /// The status a pending settlement moves to.
    pub const fn settlement_status(self) -> SettlementStatus {
        match self {
            Self::Cancelled => SettlementStatus::Cancelled,
            Self::Expired => SettlementStatus::Expired,
            Self::Failed => SettlementStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr + std::fmt::Display,
    {
        for v in all {
            assert_eq!(v.to_string().parse::<T>().ok(), Some(*v));
        }
    }

    #[test]
    fn every_vocabulary_round_trips() {
        round_trips(OrderStatus::ALL);
        round_trips(PaymentStatus::ALL);
        round_trips(ListingStatus::ALL);
        round_trips(ListingAvailability::ALL);
        round_trips(GrantStatus::ALL);
        round_trips(SettlementStatus::ALL);
        round_trips(PayoutStatus::ALL);
        round_trips(ProviderName::ALL);
        round_trips(CheckoutKind::ALL);
        round_trips(EventOutcome::ALL);
        assert!("bogus".parse::<OrderStatus>().is_err());
        let json = serde_json::to_string(&OrderStatus::PendingPayment).unwrap_or_default();
        assert_eq!(json, "\"pending_payment\"");
    }
}

crate::vocabulary! {
    /// How buyers of a listing reach the service.
    pub enum Delivery {
        /// Buyers receive the seller's API key itself (the original mode).
        Key = "key",
        /// Buyers receive their own UDAM key and call through the metered gateway,
        /// which injects the seller's key upstream.
        Gateway = "gateway",
    }
}
