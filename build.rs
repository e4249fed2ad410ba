//! Rebuilds the server when a migration is added or changed: `sqlx::migrate!` embeds
//! the files of `migrations/`, but on stable Rust a macro cannot ask cargo to watch a
//! folder, so without this an incremental build keeps the old set.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
