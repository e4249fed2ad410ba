//! A randomized model test of the money paths (issue 12): thousands of random
//! operations against two `udam serve` processes sharing one database, each answer
//! compared with a small in-memory model, and the whole state (units, balances,
//! orders) compared after every step, and the ledger verified every 25 steps.
//!
//! Operations: small (instant, owed) and large (checkout) buys, replays of an
//! idempotency key, buys past the stock, paying and cancelling checkouts, paying a
//! released checkout, settling a balance (also concurrently with a buy), paying the
//! settlement, revoking a grant. Reservation and settlement expiry are left to the
//! sweeper tests: they need a clock the processes do not share with this test.
//!
//! A failure prints the seed; `UDAM_MODEL_SEED=<seed>` replays it, and
//! `UDAM_MODEL_STEPS` runs longer (default 300 per backend).
//!
//! The same world runs a second time with the Stripe provider (`model_stripe.rs`):
//! checkouts paid, expired and refunded through signed webhooks from the fake Stripe,
//! delivered late, twice and out of order.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::process::ServerProcess;
use crate::common::{Backend, Resp, TestDb, create_listing, fixtures, listing_body};
use crate::fake_stripe::FakeStripe;

crate::dual_backend_tests!(random_money_operations_match_the_model);

/// Settings both processes run with, so the model knows the thresholds.
pub(crate) const INSTANT_LIMIT: i64 = 500;
pub(crate) const UNPAID_CAP: i64 = 2000;

/// splitmix64: a seeded, reproducible sequence; enough for choosing operations.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n ≥ 1).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Expect {
    /// Fulfilled at once, owed on the balance.
    Deferred,
    /// Reserved, awaiting its checkout.
    Pending,
    /// Fulfilled and paid (checkout or settlement).
    Paid,
    Cancelled,
    /// Its checkout was paid after the reservation was released and the units were
    /// gone: the payment is given back and nothing is fulfilled; or its payment was
    /// refunded in full at the provider (grant revoked, units returned).
    Refunded,
    /// Its checkout session expired (Stripe mode): units back, nothing paid.
    Expired,
    /// Its delayed payment failed (Stripe mode): units back, nothing paid.
    Failed,
}

#[derive(Debug)]
pub(crate) struct ModelOrder {
    pub(crate) buyer: usize,
    pub(crate) listing: usize,
    pub(crate) units: i64,
    pub(crate) total: i64,
    pub(crate) state: Expect,
    pub(crate) checkout_url: Option<String>,
    /// The settlement that claimed it, while unpaid.
    pub(crate) settlement: Option<String>,
    /// The PaymentIntent its own checkout was paid by (Stripe mode).
    pub(crate) payment_intent: Option<String>,
    /// Refunded so far at the provider (cumulative), minor units.
    pub(crate) refunded: i64,
    /// Its grant was revoked by the seller.
    pub(crate) revoked: bool,
    /// Its place in the order of purchases: random choices pick by it, not by the
    /// server's random ids, so a seed replays the same operations.
    pub(crate) seq: usize,
}

pub(crate) struct ModelListing {
    pub(crate) id: String,
    pub(crate) price: i64,
    pub(crate) currency: &'static str,
    pub(crate) units_left: i64,
}

pub(crate) struct OpenSettlement {
    pub(crate) amount: i64,
    pub(crate) checkout_url: String,
}

/// Where a settlement stands, in the model (Stripe mode).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SettlementState {
    Pending,
    /// Expired before its payment was applied; its set was released.
    Lapsed,
    Paid,
    /// Paid, then refunded in full: its orders are owed again.
    Refunded,
    /// Paid after the lapse when its set was no longer whole: given back.
    Returned,
}

/// Every settlement ever opened, with the set it claimed (Stripe mode).
pub(crate) struct ModelSettlement {
    pub(crate) amount: i64,
    pub(crate) set: BTreeSet<String>,
    pub(crate) state: SettlementState,
    pub(crate) payment_intent: Option<String>,
    /// Refunded so far at the provider (cumulative), minor units.
    pub(crate) refunded: i64,
    /// Its place in the order of settlements (see `ModelOrder::seq`).
    pub(crate) seq: usize,
}

#[derive(Default)]
pub(crate) struct Model {
    pub(crate) listings: Vec<ModelListing>,
    pub(crate) orders: BTreeMap<String, ModelOrder>,
    /// (buyer, currency) → the open settlement.
    pub(crate) settlements: BTreeMap<(usize, &'static str), (String, OpenSettlement)>,
    /// Settlement id → its history, for late and repeated events.
    pub(crate) all_settlements: BTreeMap<String, ModelSettlement>,
    /// (buyer, key) → (body, order id) of each answered purchase.
    pub(crate) keys: Vec<(usize, String, Value, String)>,
}

impl Model {
    pub(crate) fn owed(&self, buyer: usize, currency: &str) -> i64 {
        self.orders
            .values()
            .filter(|o| o.buyer == buyer && o.state == Expect::Deferred)
            .filter(|o| self.listings[o.listing].currency == currency)
            .map(|o| o.total)
            .sum()
    }

    fn unclaimed(&self, buyer: usize, currency: &str) -> BTreeSet<String> {
        self.orders
            .iter()
            .filter(|(_, o)| o.buyer == buyer && o.state == Expect::Deferred)
            .filter(|(_, o)| o.settlement.is_none())
            .filter(|(_, o)| self.listings[o.listing].currency == currency)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(crate) fn with_state(&self, state: Expect) -> Vec<String> {
        self.ids_where(|o| o.state == state)
    }

    /// The orders `keep` accepts, in the order they were bought.
    pub(crate) fn ids_where(&self, keep: impl Fn(&ModelOrder) -> bool) -> Vec<String> {
        let mut ids: Vec<(usize, String)> = self
            .orders
            .iter()
            .filter(|(_, o)| keep(o))
            .map(|(id, o)| (o.seq, id.clone()))
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

pub(crate) struct World {
    pub(crate) servers: [ServerProcess; 2],
    pub(crate) db: udam::db::Db,
    /// The seller of every listing; sellers revoke grants.
    pub(crate) seller: String,
    pub(crate) buyers: Vec<String>,
    pub(crate) model: Model,
    pub(crate) rng: Rng,
    /// The seed the run started from, printed by every failed comparison.
    pub(crate) seed: u64,
    pub(crate) step: usize,
    /// The fake Stripe both processes pay through (Stripe mode), else the dev checkout.
    pub(crate) stripe: Option<FakeStripe>,
    /// Signed events Stripe has sent and not yet delivered (or will deliver again).
    pub(crate) inflight: Vec<crate::model_stripe::Inflight>,
    /// Makes event ids of repeated reports unique.
    pub(crate) events: u64,
    /// How often each webhook outcome was seen (Stripe mode), printed at the end so a
    /// run shows what it exercised.
    pub(crate) outcomes: BTreeMap<String, usize>,
}

impl World {
    pub(crate) fn server(&mut self) -> &ServerProcess {
        let i = self.rng.below(2);
        &self.servers[i]
    }

    /// Places an order with an Idempotency-Key, through either process.
    pub(crate) async fn buy(&mut self, buyer: usize, listing: usize, units: i64) {
        let key = format!("model-{}-{}", self.step, self.rng.next());
        let body = json!({"listing_id": self.model.listings[listing].id, "units": units});
        let token = self.buyers[buyer].clone();
        let r = post_keyed(self.server(), &token, &key, &body).await;
        self.expect_purchase(buyer, listing, units, &r);
        if r.status == StatusCode::CREATED {
            let id = r.body["order"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.model.keys.push((buyer, key, body, id));
        }
    }

    /// Checks a purchase's answer against the model and applies it.
    fn expect_purchase(&mut self, buyer: usize, listing: usize, units: i64, r: &Resp) {
        let seed = self.seed;
        let l = &self.model.listings[listing];
        let total = units * l.price;
        if l.units_left < units {
            assert_eq!(r.status, StatusCode::CONFLICT, "seed {seed}: {:?}", r.body);
            assert_eq!(r.error_code(), "insufficient_units");
            return;
        }
        assert_eq!(r.status, StatusCode::CREATED, "seed {seed}: {:?}", r.body);
        let instant =
            total <= INSTANT_LIMIT && self.model.owed(buyer, l.currency) + total <= UNPAID_CAP;
        let order = &r.body["order"];
        let (state, status) = if instant {
            (Expect::Deferred, "fulfilled")
        } else {
            (Expect::Pending, "pending_payment")
        };
        assert_eq!(order["status"], status, "seed {seed}: {:?}", r.body);
        assert_eq!(order["total_cents"], total, "seed {seed}");
        let id = order["id"].as_str().expect("order id").to_owned();
        let checkout_url = r.body["checkout_url"].as_str().map(str::to_owned);
        assert_eq!(
            checkout_url.is_some(),
            !instant,
            "seed {seed}: {:?}",
            r.body
        );
        self.model.listings[listing].units_left -= units;
        self.model.orders.insert(
            id,
            ModelOrder {
                buyer,
                listing,
                units,
                total,
                state,
                checkout_url,
                settlement: None,
                payment_intent: None,
                refunded: 0,
                revoked: false,
                seq: self.model.orders.len(),
            },
        );
    }

    pub(crate) async fn replay(&mut self) {
        let Some((buyer, key, body, id)) = self.rng.pick(&self.model.keys).cloned() else {
            return;
        };
        let token = self.buyers[buyer].clone();
        let r = post_keyed(self.server(), &token, &key, &body).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "seed {}: {:?}",
            self.seed,
            r.body
        );
        assert_eq!(
            r.body["order"]["id"],
            id.as_str(),
            "a replay answers the same order"
        );
    }

    async fn pay_checkout(&mut self, id: &str) {
        let url = self.model.orders[id]
            .checkout_url
            .clone()
            .expect("a checkout");
        let paid = self
            .server()
            .http
            .post(format!("{url}/pay"))
            .send()
            .await
            .expect("pay");
        assert!(
            !paid.status().is_server_error(),
            "pay {id}: {}",
            paid.status()
        );
        let order = self.model.orders.get_mut(id).expect("order");
        if order.state == Expect::Pending {
            assert_eq!(paid.status(), StatusCode::SEE_OTHER);
            order.state = Expect::Paid;
        } else if order.state == Expect::Cancelled {
            // A payment after the release takes the units again if they are still
            // there, and is given back if they are gone.
            let listing = &mut self.model.listings[order.listing];
            if listing.units_left >= order.units {
                listing.units_left -= order.units;
                order.state = Expect::Paid;
            } else {
                order.state = Expect::Refunded;
            }
        }
    }

    pub(crate) async fn cancel(&mut self, id: &str) {
        let token = self.buyers[self.model.orders[id].buyer].clone();
        let r = self
            .server()
            .post(
                &format!("/api/v1/orders/{id}/cancel"),
                &json!({}),
                Some(&token),
            )
            .await;
        let order = self.model.orders.get_mut(id).expect("order");
        if order.state == Expect::Pending {
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            order.state = Expect::Cancelled;
            let (listing, units) = (order.listing, order.units);
            self.model.listings[listing].units_left += units;
        } else {
            assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
            assert_eq!(r.error_code(), "order_not_pending");
        }
    }

    /// `POST /balance/settle`, optionally racing a small buy by the same buyer.
    pub(crate) async fn settle(
        &mut self,
        buyer: usize,
        currency: &'static str,
        racing_buy: Option<usize>,
    ) {
        let token = self.buyers[buyer].clone();
        let before = self.model.unclaimed(buyer, currency);
        let open = self
            .model
            .settlements
            .get(&(buyer, currency))
            .map(|(id, s)| (id.clone(), s.amount));
        let settle_body = json!({"currency": currency});
        let settle = self.servers[0].post("/api/v1/balance/settle", &settle_body, Some(&token));
        let (r, bought) = match racing_buy {
            Some(listing) => {
                let key = format!("model-race-{}", self.step);
                let body = json!({"listing_id": self.model.listings[listing].id, "units": 1});
                let buy = post_keyed(&self.servers[1], &token, &key, &body);
                let (r, b) = tokio::join!(settle, buy);
                (r, Some((listing, b)))
            }
            None => (settle.await, None),
        };
        let mut new_order = None;
        if let Some((listing, b)) = bought {
            let known: BTreeSet<String> = self.model.orders.keys().cloned().collect();
            self.expect_purchase(buyer, listing, 1, &b);
            new_order = self
                .model
                .orders
                .keys()
                .find(|id| !known.contains(*id))
                .cloned();
        }
        let seed = self.seed;
        if let Some((id, amount)) = open {
            assert_eq!(r.status, StatusCode::CREATED, "seed {seed}: {:?}", r.body);
            assert_eq!(
                r.body["id"],
                id.as_str(),
                "seed {seed}: the open settlement is returned"
            );
            assert_eq!(r.body["amount_cents"], amount, "seed {seed}");
            return;
        }
        // The claimed set is what was unclaimed before, plus the racing order if the
        // settlement's claim saw it; never anything else.
        let instant_new = new_order.filter(|id| self.model.orders[id].state == Expect::Deferred);
        if r.status == StatusCode::CONFLICT {
            assert_eq!(r.error_code(), "nothing_owed", "seed {seed}");
            assert!(
                before.is_empty(),
                "seed {seed}: nothing owed while {before:?} were"
            );
            return;
        }
        assert_eq!(r.status, StatusCode::CREATED, "seed {seed}: {:?}", r.body);
        let id = r.body["id"].as_str().expect("settlement id").to_owned();
        let claimed: BTreeSet<String> =
            sqlx::query("SELECT id FROM orders WHERE settlement_id = $1")
                .bind(&id)
                .fetch_all(self.db.writes())
                .await
                .expect("claimed orders")
                .iter()
                .map(|row| row.get::<String, _>("id"))
                .collect();
        let mut with_new = before.clone();
        with_new.extend(instant_new);
        assert!(
            claimed == before || claimed == with_new,
            "seed {seed}: claimed {claimed:?}, expected {before:?} or {with_new:?}"
        );
        let amount: i64 = claimed.iter().map(|o| self.model.orders[o].total).sum();
        assert_eq!(
            r.body["amount_cents"], amount,
            "seed {seed}: a settlement charges what it claimed"
        );
        for o in &claimed {
            self.model.orders.get_mut(o).expect("order").settlement = Some(id.clone());
        }
        self.model.all_settlements.insert(
            id.clone(),
            ModelSettlement {
                amount,
                set: claimed.clone(),
                state: SettlementState::Pending,
                payment_intent: None,
                refunded: 0,
                seq: self.model.all_settlements.len(),
            },
        );
        let checkout_url = r.body["checkout_url"]
            .as_str()
            .expect("checkout url")
            .to_owned();
        self.model.settlements.insert(
            (buyer, currency),
            (
                id,
                OpenSettlement {
                    amount,
                    checkout_url,
                },
            ),
        );
    }

    async fn pay_settlement(&mut self) {
        let open: Vec<(usize, &'static str)> = self.model.settlements.keys().copied().collect();
        let Some(&key) = self.rng.pick(&open) else {
            return;
        };
        let (id, s) = self.model.settlements.remove(&key).expect("open");
        let paid = self
            .server()
            .http
            .post(format!("{}/pay", s.checkout_url))
            .send()
            .await
            .expect("pay");
        assert_eq!(paid.status(), StatusCode::SEE_OTHER, "pay settlement {id}");
        for order in self.model.orders.values_mut() {
            if order.settlement.as_deref() == Some(id.as_str()) {
                order.state = Expect::Paid;
                order.settlement = None;
            }
        }
    }

    pub(crate) async fn revoke(&mut self) {
        let fulfilled = self
            .model
            .ids_where(|o| matches!(o.state, Expect::Deferred | Expect::Paid));
        let Some(order) = self.rng.pick(&fulfilled).cloned() else {
            return;
        };
        let grant: String =
            sqlx::query("SELECT id FROM grants WHERE order_id = $1 AND status = 'active'")
                .bind(&order)
                .fetch_optional(self.db.pool())
                .await
                .expect("grant")
                .map(|row| row.get("id"))
                .unwrap_or_default();
        if grant.is_empty() {
            return; // revoked earlier
        }
        self.model.orders.get_mut(&order).expect("order").revoked = true;
        let token = self.seller.clone();
        let r = self
            .server()
            .post(
                &format!("/api/v1/tokens/{grant}/revoke"),
                &json!({}),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["status"], "revoked");
    }

    /// Compares units, balances and (every 25 steps, or for `touched`) orders.
    pub(crate) async fn compare(&mut self, full: bool) {
        let seed = self.seed;
        for l in &self.model.listings {
            let left: i64 = sqlx::query("SELECT available_units FROM listings WHERE id = $1")
                .bind(&l.id)
                .fetch_one(self.db.pool())
                .await
                .expect("listing")
                .get("available_units");
            assert_eq!(
                left, l.units_left,
                "seed {seed}, step {}: units of {}",
                self.step, l.id
            );
        }
        for (b, token) in self.buyers.clone().iter().enumerate() {
            let r = self.server().get("/api/v1/balance", Some(token)).await;
            let api: BTreeMap<String, i64> = r.body["items"]
                .as_array()
                .expect("balance items")
                .iter()
                .map(|i| {
                    (
                        i["currency"].as_str().unwrap_or_default().to_owned(),
                        i["owed_cents"].as_i64().unwrap_or(-1),
                    )
                })
                .filter(|(_, owed)| *owed != 0)
                .collect();
            let model: BTreeMap<String, i64> = ["usd", "eur"]
                .iter()
                .map(|c| ((*c).to_owned(), self.model.owed(b, c)))
                .filter(|(_, owed)| *owed != 0)
                .collect();
            assert_eq!(
                api, model,
                "seed {seed}, step {}: balance of buyer {b}",
                self.step
            );
        }
        if !full {
            return;
        }
        crate::common::assert_ledger_clean(&self.db).await;
        for (id, o) in &self.model.orders {
            let r = self.servers[0]
                .get(&format!("/api/v1/orders/{id}"), Some(&self.buyers[o.buyer]))
                .await;
            let (status, payment) = match o.state {
                Expect::Deferred => ("fulfilled", Some("deferred")),
                Expect::Pending => ("pending_payment", Some("unpaid")),
                Expect::Paid => ("fulfilled", Some("paid")),
                Expect::Cancelled => ("cancelled", None),
                Expect::Refunded => ("refunded", None),
                Expect::Expired => ("expired", None),
                Expect::Failed => ("failed", None),
            };
            assert_eq!(
                r.body["status"], status,
                "seed {seed}, step {}: order {id}",
                self.step
            );
            if let Some(payment) = payment {
                assert_eq!(r.body["payment_status"], payment, "seed {seed}: order {id}");
            }
        }
        // One active grant for every fulfilled order not revoked nor refunded.
        let active: BTreeMap<String, i64> = sqlx::query(
            "SELECT order_id, COUNT(*) AS n FROM grants WHERE status = 'active' GROUP BY order_id",
        )
        .fetch_all(self.db.pool())
        .await
        .expect("grants")
        .iter()
        .map(|row| (row.get::<String, _>("order_id"), row.get::<i64, _>("n")))
        .collect();
        for (id, o) in &self.model.orders {
            let expected =
                i64::from(matches!(o.state, Expect::Deferred | Expect::Paid) && !o.revoked);
            assert_eq!(
                active.get(id).copied().unwrap_or(0),
                expected,
                "seed {seed}, step {}: active grants of order {id} ({:?})",
                self.step,
                o.state
            );
        }
    }
}

pub(crate) async fn post_keyed(
    server: &ServerProcess,
    token: &str,
    key: &str,
    body: &Value,
) -> Resp {
    let req = server
        .http
        .post(format!("{}/api/v1/orders", server.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body);
    server.send(req).await
}

/// The seed (`UDAM_MODEL_SEED`, else a fresh one) and step count (`UDAM_MODEL_STEPS`,
/// else `default_steps`) of a run, announced so that a failure can be replayed.
pub(crate) fn seed_and_steps(default_steps: usize) -> (u64, usize) {
    let seed = std::env::var("UDAM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) ^ udam::clock::now_ms().unsigned_abs());
    let steps: usize = std::env::var("UDAM_MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_steps);
    eprintln!("model test seed {seed} ({steps} steps); replay with UDAM_MODEL_SEED={seed}");
    (seed, steps)
}

/// Two `udam serve` processes on one database (`args` added to both), a seller with
/// three listings and three buyers; with `stripe`, the world pays through it.
pub(crate) async fn world(
    db: &TestDb,
    args: &[&str],
    stripe: Option<FakeStripe>,
    seed: u64,
) -> World {
    let limits = [
        ("UDAM_INSTANT_LIMIT_CENTS", INSTANT_LIMIT.to_string()),
        ("UDAM_UNPAID_CAP_CENTS", UNPAID_CAP.to_string()),
    ];
    let env: Vec<(&str, &str)> = limits.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let one = ServerProcess::start(&db.url, args, &env).await;
    let two = ServerProcess::start(&db.url, args, &env).await;
    let seller = one.signup("model-seller@example.com").await;
    let mut listings = Vec::new();
    for (name, price, currency, units) in [
        ("ticks", 100, "usd", 300),
        ("bulk", 700, "usd", 40),
        ("euro", 50, "eur", 200),
    ] {
        let mut body = listing_body(name, price, units);
        body["currency"] = json!(currency);
        let id = create_listing(&one, &seller, &body).await;
        listings.push(ModelListing {
            id: id.to_string(),
            price,
            currency,
            units_left: units,
        });
    }
    let mut buyers = Vec::new();
    for b in 0..3 {
        buyers.push(two.signup(&format!("model-buyer{b}@example.com")).await);
    }
    World {
        servers: [one, two],
        db: fixtures::connect(&db.url).await,
        seller,
        buyers,
        model: Model {
            listings,
            ..Model::default()
        },
        rng: Rng(seed),
        seed,
        step: 0,
        stripe,
        inflight: Vec::new(),
        events: 0,
        outcomes: BTreeMap::new(),
    }
}

async fn random_money_operations_match_the_model(backend: Backend) {
    let (seed, steps) = seed_and_steps(300);
    let db = TestDb::new(backend).await;
    let mut world = world(&db, &[], None, seed).await;

    for step in 0..steps {
        world.step = step;
        let buyer = world.rng.below(3);
        let op = world.rng.below(100);
        // Shown only when the test fails: the operations leading up to it.
        eprintln!("step {step}: op {op}, buyer {buyer}");
        match op {
            0..=29 => {
                let (listing, units) = if world.rng.below(2) == 0 {
                    (0, 1 + world.rng.below(3))
                } else {
                    (2, 1 + world.rng.below(4))
                };
                world.buy(buyer, listing, units as i64).await;
            }
            30..=39 => {
                let units = 1 + world.rng.below(2) as i64;
                world.buy(buyer, 1, units).await;
            }
            40..=41 => {
                let listing = world.rng.below(3);
                let over = world.model.listings[listing].units_left + 1;
                world.buy(buyer, listing, over).await;
            }
            42..=46 => world.replay().await,
            47..=58 => {
                if let Some(id) = world
                    .rng
                    .pick(&world.model.with_state(Expect::Pending))
                    .cloned()
                {
                    world.pay_checkout(&id).await;
                }
            }
            59..=66 => {
                let candidates = world.model.ids_where(|_| true);
                if let Some(id) = world.rng.pick(&candidates).cloned() {
                    world.cancel(&id).await;
                }
            }
            67..=68 => {
                let paid_by_checkout: Vec<String> = world
                    .model
                    .with_state(Expect::Cancelled)
                    .into_iter()
                    .filter(|id| world.model.orders[id].checkout_url.is_some())
                    .collect();
                if let Some(id) = world.rng.pick(&paid_by_checkout).cloned() {
                    world.pay_checkout(&id).await;
                }
            }
            69..=78 => {
                let currency = if world.rng.below(3) == 0 {
                    "eur"
                } else {
                    "usd"
                };
                world.settle(buyer, currency, None).await;
            }
            79..=84 => world.settle(buyer, "usd", Some(0)).await,
            85..=94 => world.pay_settlement().await,
            _ => world.revoke().await,
        }
        world.compare(step % 25 == 24).await;
    }
    world.compare(true).await;
}
