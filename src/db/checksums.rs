//! An applied migration never changes (test only): sqlx records each migration's
//! SHA-384 when it applies it and refuses to start on a database whose recorded
//! checksum differs from the file's (`VersionMismatch`), so editing an applied
//! migration, even a comment, would lock out every database an earlier release
//! migrated. The upgrade tests cannot see it: they build the old schema from the
//! current files. `migrations/checksums.txt` holds each file's checksum as released.

use std::collections::BTreeMap;

use sqlx::migrate::Migrator;

use super::{POSTGRES_MIGRATOR, SQLITE_MIGRATOR};

/// (backend, version) → hex checksum, from the committed list.
fn released() -> BTreeMap<(String, i64), String> {
    include_str!("../../migrations/checksums.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut parts = line.split_whitespace();
            let (Some(backend), Some(version), Some(sum)) =
                (parts.next(), parts.next(), parts.next())
            else {
                panic!("checksums.txt: malformed line {line:?}");
            };
            let version = version.parse().expect("checksums.txt: a numeric version");
            ((backend.to_owned(), version), sum.to_owned())
        })
        .collect()
}

fn check(backend: &str, migrator: &Migrator, released: &BTreeMap<(String, i64), String>) {
    for migration in migrator.iter() {
        let sum = hex::encode(&migration.checksum);
        match released.get(&(backend.to_owned(), migration.version)) {
            Some(expected) => assert_eq!(
                &sum, expected,
                "{backend} migration {} ({}) changed after it was released: a database \
                 it already migrated would refuse to start. Put the change in a new \
                 migration instead.",
                migration.version, migration.description
            ),
            None => panic!(
                "{backend} migration {} ({}) is not in migrations/checksums.txt; add:\n\
                 {backend} {:04} {sum}",
                migration.version, migration.description, migration.version
            ),
        }
    }
}

#[test]
fn applied_migrations_never_change() {
    let released = released();
    check("postgres", &POSTGRES_MIGRATOR, &released);
    check("sqlite", &SQLITE_MIGRATOR, &released);
    let known = POSTGRES_MIGRATOR.iter().count() + SQLITE_MIGRATOR.iter().count();
    assert_eq!(
        released.len(),
        known,
        "checksums.txt lists a migration that is gone"
    );
}
