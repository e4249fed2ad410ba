//! The randomized model test of `model.rs`, paying through Stripe (issue 12, "Proof"):
//! both `udam serve` processes run the Stripe provider against the fake Stripe, and
//! the test plays Stripe's side. Buyers pay checkouts and settlements at Stripe; the
//! signed `checkout.session.completed` events are delivered at once, later (after an
//! expiry or a cancel: out of order), twice, or under a new event id; sessions expire
//! (`checkout.session.expired`, also crossing a payment whose event is still in
//! flight); payments are refunded in part or in full in the dashboard
//! (`charge.refunded`, cumulative, sometimes two reports delivered newest first).
//! A payment event is sometimes delivered to both processes at once. Some buyers pay
//! by a delayed method (`async_payment_succeeded` / `async_payment_failed`).
//!
//! The model predicts every webhook's outcome from the rules of docs/PAYMENTS.md: a
//! payment after a release takes the units again if they are there and is refunded
//! if not; a settlement paid after its lapse pays its own set if still whole, else it
//! is refunded; a partial refund keeps the grant, a full one revokes it and returns
//! the units; a settlement refunded in full makes its orders owed again, a partial
//! one is a mismatch. After every step it compares units and balances, and every 25
//! steps orders, grants and the ledger (`World::compare`).

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::common::{Backend, Client, Resp, TestDb};
use crate::fake_stripe::FakeStripe;
use crate::model::{Expect, SettlementState, World, seed_and_steps, world};

crate::dual_backend_tests!(random_money_operations_over_stripe_match_the_model);

const SECRET_KEY: &str = "sk_test_udam_model";
const WEBHOOK_SECRET: &str = "whsec_udam_model";

/// What a paid checkout's event pays for.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Order(String),
    Settlement(String),
}

/// A `checkout.session.completed` Stripe has sent (the session is paid at Stripe)
/// and the test has not delivered yet, or will deliver again.
#[derive(Clone, Debug)]
pub(crate) struct Inflight {
    body: String,
    target: Target,
    payment_intent: String,
}

impl World {
    fn fake(&self) -> FakeStripe {
        self.stripe
            .clone()
            .expect("the Stripe mode has a fake Stripe")
    }

    /// Delivers a signed event to either process.
    async fn deliver(&mut self, body: &str) -> Resp {
        post_event(self.server(), body).await
    }

    /// Delivers `body` and checks the outcome the model expects.
    async fn expect_outcome(&mut self, body: &str, expected: &str, what: &str) {
        let r = self.deliver(body).await;
        let kind = serde_json::from_str::<serde_json::Value>(body)
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        *self
            .outcomes
            .entry(format!("{kind} → {expected}"))
            .or_default() += 1;
        assert_eq!(
            (r.status, r.body["outcome"].as_str().unwrap_or_default()),
            (StatusCode::OK, expected),
            "seed {}, step {}: {what}: {:?}",
            self.seed,
            self.step,
            r.body
        );
    }

    /// Delivers `body` to both processes at once (Stripe retries while the first
    /// delivery is still running): one applies it, the other finds it done.
    async fn expect_once_of_two(&mut self, body: &str, expected: &str, what: &str) {
        let (a, b) = tokio::join!(
            post_event(&self.servers[0], body),
            post_event(&self.servers[1], body)
        );
        let mut outcomes: Vec<&str> = [&a, &b]
            .iter()
            .map(|r| {
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "seed {}: {what}: {:?}",
                    self.seed,
                    r.body
                );
                r.body["outcome"].as_str().unwrap_or_default()
            })
            .collect();
        outcomes.sort_unstable();
        let mut want = vec![expected, "duplicate"];
        want.sort_unstable();
        assert_eq!(
            outcomes, want,
            "seed {}, step {}: {what}, delivered twice at once",
            self.seed, self.step
        );
        *self
            .outcomes
            .entry(format!("concurrent delivery → {expected} + duplicate"))
            .or_default() += 1;
    }

    /// Sometimes Stripe reports again: the same event (its id already in the inbox),
    /// or the same state under a new event id. Either way nothing happens twice.
    async fn maybe_repeat(&mut self, body: &str, what: &str) {
        match self.rng.below(4) {
            0 => self.expect_outcome(body, "duplicate", what).await,
            1 => {
                self.events += 1;
                let again = body.replacen("\"evt_", &format!("\"evt_again{}_", self.events), 1);
                self.expect_outcome(&again, "duplicate", what).await;
            }
            _ => {}
        }
    }

    /// The checkout session on record for an order or a settlement.
    async fn session_of(&self, table: &str, id: &str) -> String {
        let sql = format!("SELECT provider_session_id FROM {table} WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(self.db.pool())
            .await
            .expect("a row")
            .get::<Option<String>, _>(0)
            .expect("a checkout session on record")
    }

    fn session_open(&self, session: &str) -> bool {
        self.fake()
            .session(session)
            .and_then(|s| s.status)
            .as_deref()
            == Some("open")
    }

    /// An `expired` event for a session the buyer has paid but whose `completed` is
    /// still in flight: Stripe's expiry and the payment crossed.
    fn crossing_expiry(&self, session: &str) -> String {
        self.fake().altered_session_event(
            "checkout.session.expired",
            session,
            json!({"status": "expired", "payment_status": "unpaid", "payment_intent": null, "url": null}),
        )
    }

    /// The buyer pays a pending order's checkout at Stripe; its event is delivered
    /// now or later.
    async fn stripe_pay_order(&mut self) {
        let mut open = Vec::new();
        for id in self.model.with_state(Expect::Pending) {
            let session = self.session_of("orders", &id).await;
            if self.session_open(&session) {
                open.push((id, session));
            }
        }
        let Some((id, session)) = self.rng.pick(&open).cloned() else {
            return;
        };
        if self.rng.below(5) == 0 {
            self.stripe_delayed_payment(&id, &session).await;
            return;
        }
        let paid = self.fake().complete_session(&session);
        self.inflight.push(Inflight {
            body: self.fake().checkout_completed_event(&session),
            target: Target::Order(id),
            payment_intent: paid.payment_intent.expect("a PaymentIntent"),
        });
        if self.rng.below(2) == 0 {
            self.deliver_inflight(self.inflight.len() - 1).await;
        }
    }

    /// The buyer pays by bank debit: `completed` says unpaid (nothing happens); the
    /// payment then succeeds (its event in flight like a card payment's) or fails
    /// (the reservation is released).
    async fn stripe_delayed_payment(&mut self, id: &str, session: &str) {
        let fake = self.fake();
        fake.complete_session_unpaid(session);
        let what = format!("delayed payment of {id}");
        let body = fake.checkout_completed_event(session);
        self.expect_outcome(&body, "awaiting_async_payment", &what)
            .await;
        if self.rng.below(3) != 0 {
            let settled = fake.settle_async_payment(session, true);
            self.inflight.push(Inflight {
                body: fake.async_payment_succeeded_event(session),
                target: Target::Order(id.to_owned()),
                payment_intent: settled.payment_intent.expect("a PaymentIntent"),
            });
            return;
        }
        fake.settle_async_payment(session, false);
        let o = self.model.orders.get_mut(id).expect("order");
        o.state = Expect::Failed;
        let (listing, units) = (o.listing, o.units);
        self.model.listings[listing].units_left += units;
        let body = fake.async_payment_failed_event(session);
        self.expect_outcome(&body, "released", &what).await;
        self.maybe_repeat(&body, &what).await;
    }

    /// Delivers one in-flight payment event (kept for a later repeat a third of the
    /// time) and checks what it did.
    async fn deliver_inflight(&mut self, i: usize) {
        let event = if self.rng.below(3) == 0 {
            self.inflight[i].clone()
        } else {
            self.inflight.remove(i)
        };
        let pi = event.payment_intent.clone();
        let (expected, what) = match &event.target {
            Target::Order(id) => (self.order_paid(id, &pi), format!("payment of {id}")),
            Target::Settlement(id) => (self.settlement_paid(id, &pi), format!("payment of {id}")),
        };
        if self.rng.below(4) == 0 {
            self.expect_once_of_two(&event.body, expected, &what).await;
        } else {
            self.expect_outcome(&event.body, expected, &what).await;
        }
        if expected == "refunded" {
            // It paid for nothing: refunded in full at Stripe, under the subject's key,
            // and Stripe's report of that refund changes nothing more.
            let subject = match &event.target {
                Target::Order(id) | Target::Settlement(id) => id.clone(),
            };
            let key = format!("udam-refund-{subject}");
            assert!(
                self.fake().api_refunds().contains(&(pi.clone(), key)),
                "seed {}: {subject}'s payment was refunded at Stripe",
                self.seed
            );
            let report = self.fake().charge_refunded_event(&pi);
            self.expect_outcome(&report, "duplicate", "report of a returned payment")
                .await;
        }
        self.maybe_repeat(&event.body, &what).await;
    }

    /// The model's effect of an order's checkout payment; its expected outcome.
    fn order_paid(&mut self, id: &str, pi: &str) -> &'static str {
        let o = self.model.orders.get_mut(id).expect("order");
        match o.state {
            Expect::Pending => {
                o.state = Expect::Paid;
            }
            Expect::Cancelled | Expect::Expired | Expect::Failed => {
                let listing = &mut self.model.listings[o.listing];
                if listing.units_left >= o.units {
                    listing.units_left -= o.units;
                    o.state = Expect::Paid;
                } else {
                    o.state = Expect::Refunded;
                    o.refunded = o.total;
                    o.payment_intent = Some(pi.to_owned());
                    return "refunded";
                }
            }
            Expect::Paid | Expect::Refunded | Expect::Deferred => return "duplicate",
        }
        o.payment_intent = Some(pi.to_owned());
        "fulfilled"
    }

    /// The model's effect of a settlement's payment; its expected outcome.
    fn settlement_paid(&mut self, id: &str, pi: &str) -> &'static str {
        let s = &self.model.all_settlements[id];
        let whole = s.set.iter().all(|o| {
            let o = &self.model.orders[o];
            o.state == Expect::Deferred && o.settlement.as_deref().is_none_or(|held| held == id)
        });
        let (state, set) = (s.state, s.set.clone());
        let s = self.model.all_settlements.get_mut(id).expect("settlement");
        match state {
            SettlementState::Pending | SettlementState::Lapsed if whole => {
                s.state = SettlementState::Paid;
                s.payment_intent = Some(pi.to_owned());
                for o in &set {
                    let o = self.model.orders.get_mut(o).expect("order");
                    o.state = Expect::Paid;
                    o.settlement = None;
                }
                self.model.settlements.retain(|_, (open, _)| open != id);
                "settled"
            }
            SettlementState::Pending => unreachable!("an open settlement's set is whole"),
            SettlementState::Lapsed => {
                s.state = SettlementState::Returned;
                s.payment_intent = Some(pi.to_owned());
                s.refunded = s.amount;
                "refunded"
            }
            SettlementState::Paid | SettlementState::Refunded | SettlementState::Returned => {
                "duplicate"
            }
        }
    }

    /// A pending order's session expires at Stripe (or crosses its payment).
    async fn stripe_expire_order(&mut self) {
        let Some(id) = self
            .rng
            .pick(&self.model.with_state(Expect::Pending))
            .cloned()
        else {
            return;
        };
        let session = self.session_of("orders", &id).await;
        let body = if self.session_open(&session) {
            self.fake().expire_session(&session);
            self.fake().session_expired_event(&session)
        } else {
            self.crossing_expiry(&session)
        };
        let o = self.model.orders.get_mut(&id).expect("order");
        o.state = Expect::Expired;
        let (listing, units) = (o.listing, o.units);
        self.model.listings[listing].units_left += units;
        let what = format!("expiry of {id}");
        self.expect_outcome(&body, "released", &what).await;
        self.maybe_repeat(&body, &what).await;
    }

    /// Part or all of an order's checkout payment is refunded in the dashboard.
    async fn stripe_refund_order(&mut self) {
        let paid = self
            .model
            .ids_where(|o| o.state == Expect::Paid && o.payment_intent.is_some());
        let Some(id) = self.rng.pick(&paid).cloned() else {
            return;
        };
        let (total, before) = (
            self.model.orders[&id].total,
            self.model.orders[&id].refunded,
        );
        let pi = self.model.orders[&id].payment_intent.clone().expect("pi");
        let remaining = total - before;
        let what = format!("refund of {id}");
        if remaining >= 2 && self.rng.below(3) == 0 {
            // Two refunds whose reports arrive newest first: the older posts nothing.
            let first = 1 + self.rng.below(usize::try_from(remaining - 1).unwrap_or(1)) as i64;
            self.fake().refund_in_dashboard(&pi, first);
            let older = self.fake().charge_refunded_event(&pi);
            let second = if self.rng.below(2) == 0 {
                remaining - first
            } else {
                1 + self
                    .rng
                    .below(usize::try_from(remaining - first).unwrap_or(1))
                    as i64
            };
            self.fake().refund_in_dashboard(&pi, second);
            let newer = self.fake().charge_refunded_event(&pi);
            let expected = self.order_refunded(&id, before + first + second);
            self.expect_outcome(&newer, expected, &what).await;
            self.expect_outcome(&older, "duplicate", &what).await;
        } else {
            let amount = if self.rng.below(2) == 0 {
                remaining
            } else {
                1 + self.rng.below(usize::try_from(remaining).unwrap_or(1)) as i64
            };
            self.fake().refund_in_dashboard(&pi, amount);
            let report = self.fake().charge_refunded_event(&pi);
            let expected = self.order_refunded(&id, before + amount);
            self.expect_outcome(&report, expected, &what).await;
            self.maybe_repeat(&report, &what).await;
        }
    }

    /// The model's effect of an order refunded up to `cumulative`; the outcome.
    fn order_refunded(&mut self, id: &str, cumulative: i64) -> &'static str {
        let o = self.model.orders.get_mut(id).expect("order");
        o.refunded = cumulative;
        if cumulative < o.total {
            return "partially_refunded";
        }
        o.state = Expect::Refunded;
        let (listing, units) = (o.listing, o.units);
        self.model.listings[listing].units_left += units;
        "revoked"
    }

    /// An open settlement whose checkout is still open, with its session.
    async fn open_settlement(&mut self, only_open_at_stripe: bool) -> Option<(String, String)> {
        let mut open = Vec::new();
        for (id, _) in self.model.settlements.values() {
            let session = self.session_of("settlements", id).await;
            if !only_open_at_stripe || self.session_open(&session) {
                open.push((id.clone(), session));
            }
        }
        self.rng.pick(&open).cloned()
    }

    /// The buyer pays an open settlement at Stripe; its event is delivered now or later.
    async fn stripe_pay_settlement(&mut self) {
        let Some((id, session)) = self.open_settlement(true).await else {
            return;
        };
        let paid = self.fake().complete_session(&session);
        self.inflight.push(Inflight {
            body: self.fake().checkout_completed_event(&session),
            target: Target::Settlement(id),
            payment_intent: paid.payment_intent.expect("a PaymentIntent"),
        });
        if self.rng.below(2) == 0 {
            self.deliver_inflight(self.inflight.len() - 1).await;
        }
    }

    /// An open settlement's session expires (or crosses its payment): its set is
    /// released for the next settlement.
    async fn stripe_expire_settlement(&mut self) {
        let Some((id, session)) = self.open_settlement(false).await else {
            return;
        };
        let body = if self.session_open(&session) {
            self.fake().expire_session(&session);
            self.fake().session_expired_event(&session)
        } else {
            self.crossing_expiry(&session)
        };
        self.model
            .all_settlements
            .get_mut(&id)
            .expect("settlement")
            .state = SettlementState::Lapsed;
        for o in self.model.orders.values_mut() {
            if o.settlement.as_deref() == Some(id.as_str()) {
                o.settlement = None;
            }
        }
        self.model.settlements.retain(|_, (open, _)| *open != id);
        let what = format!("expiry of {id}");
        self.expect_outcome(&body, "released", &what).await;
        self.maybe_repeat(&body, &what).await;
    }

    /// A paid settlement's payment is refunded in the dashboard: in full (its orders
    /// are owed again) or in part (a mismatch for an operator; nothing changes).
    async fn stripe_refund_settlement(&mut self) {
        // In the order they were opened, so that a seed replays the same choices.
        let mut paid: Vec<(usize, String)> = self
            .model
            .all_settlements
            .iter()
            .filter(|(_, s)| s.state == SettlementState::Paid)
            .map(|(id, s)| (s.seq, id.clone()))
            .collect();
        paid.sort_unstable();
        let paid: Vec<String> = paid.into_iter().map(|(_, id)| id).collect();
        let Some(id) = self.rng.pick(&paid).cloned() else {
            return;
        };
        let s = &self.model.all_settlements[&id];
        let (amount, before, set) = (s.amount, s.refunded, s.set.clone());
        let pi = s.payment_intent.clone().expect("pi");
        let remaining = amount - before;
        let part = if remaining >= 2 && self.rng.below(3) == 0 {
            1 + self.rng.below(usize::try_from(remaining - 1).unwrap_or(1)) as i64
        } else {
            remaining
        };
        self.fake().refund_in_dashboard(&pi, part);
        let report = self.fake().charge_refunded_event(&pi);
        let s = self.model.all_settlements.get_mut(&id).expect("settlement");
        s.refunded += part;
        let expected = if s.refunded < amount {
            "mismatched"
        } else {
            s.state = SettlementState::Refunded;
            for o in &set {
                let o = self.model.orders.get_mut(o).expect("order");
                o.state = Expect::Deferred;
                o.settlement = None;
            }
            "settlement_refunded"
        };
        let what = format!("refund of {id}");
        self.expect_outcome(&report, expected, &what).await;
        if expected == "settlement_refunded" {
            self.maybe_repeat(&report, &what).await;
        }
    }
}

/// Signs `body` as Stripe would now and posts it to `server`'s webhook.
async fn post_event(server: &Client, body: &str) -> Resp {
    let signature = FakeStripe::signed_header(body, WEBHOOK_SECRET);
    server
        .send(
            server
                .http
                .post(format!("{}/api/v1/webhooks/stripe", server.base))
                .header("stripe-signature", signature)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
}

async fn random_money_operations_over_stripe_match_the_model(backend: Backend) {
    // 800 steps take about 20 s on PostgreSQL in a debug build (1000: 26 s).
    let (seed, steps) = seed_and_steps(800);
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let base = stripe.base_url();
    let db = TestDb::new(backend).await;
    let args = [
        "--stripe-secret-key",
        SECRET_KEY,
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--stripe-api-base",
        &base,
    ];
    let mut world = world(&db, &args, Some(stripe), seed).await;

    for step in 0..steps {
        world.step = step;
        let buyer = world.rng.below(3);
        let op = world.rng.below(100);
        // Shown only when the test fails: the operations leading up to it.
        eprintln!("step {step}: op {op}, buyer {buyer}");
        match op {
            0..=24 => {
                let (listing, units) = if world.rng.below(2) == 0 {
                    (0, 1 + world.rng.below(3))
                } else {
                    (2, 1 + world.rng.below(4))
                };
                world.buy(buyer, listing, units as i64).await;
            }
            25..=36 => {
                let units = 1 + world.rng.below(2) as i64;
                world.buy(buyer, 1, units).await;
            }
            37 => {
                let listing = world.rng.below(3);
                let over = world.model.listings[listing].units_left + 1;
                world.buy(buyer, listing, over).await;
            }
            38..=40 => world.replay().await,
            41..=49 => world.stripe_pay_order().await,
            50..=55 => {
                if !world.inflight.is_empty() {
                    let i = world.rng.below(world.inflight.len());
                    world.deliver_inflight(i).await;
                }
            }
            56..=60 => {
                let candidates = world.model.ids_where(|_| true);
                if let Some(id) = world.rng.pick(&candidates).cloned() {
                    world.cancel(&id).await;
                }
            }
            61..=64 => world.stripe_expire_order().await,
            65..=69 => world.stripe_refund_order().await,
            70..=75 => {
                let currency = if world.rng.below(3) == 0 {
                    "eur"
                } else {
                    "usd"
                };
                world.settle(buyer, currency, None).await;
            }
            76..=78 => world.settle(buyer, "usd", Some(0)).await,
            79..=84 => world.stripe_pay_settlement().await,
            85..=87 => world.stripe_expire_settlement().await,
            88..=91 => world.stripe_refund_settlement().await,
            _ => world.revoke().await,
        }
        world.compare(step % 25 == 24).await;
    }
    // Stripe delivers everything in the end.
    while !world.inflight.is_empty() {
        world.deliver_inflight(0).await;
    }
    world.compare(true).await;
    crate::common::assert_ledger_clean(&world.db).await;
    eprintln!("webhook outcomes seen: {:#?}", world.outcomes);
}
