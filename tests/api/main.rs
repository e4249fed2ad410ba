mod fake_stripe;
mod stripe_client;
