//! The embedded default: a key ring kept in a local file, created on first use.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::keyring::{KeyRing, KeyRingError, generate_key_spec};

/// Id given to the key that [`KeyRing::load_or_create`] generates.
pub const LOCAL_KEY_ID: &str = "local1";

impl KeyRing {
    /// Reads the ring from `path`, a file holding one spec line; when the file
    /// does not exist, generates a key with id [`LOCAL_KEY_ID`], writes it
    /// there with mode 0600 (creating parent directories) and returns
    /// `created = true`, so that the caller can warn that the key lives beside the data.
    ///
    /// Two processes starting at once end up with the same key: the new file
    /// appears atomically and complete, and the process that loses the race
    /// reads the winner's key instead of overwriting it.
    pub fn load_or_create(path: &Path) -> Result<(KeyRing, bool), KeyRingError> {
        if let Some(ring) = read_key_file(path)? {
            return Ok((ring, false));
        }
        let spec = Zeroizing::new(generate_key_spec(LOCAL_KEY_ID)?);
        let ring = KeyRing::parse(&spec)?;
        if publish_key_file(path, &spec)? {
            return Ok((ring, true));
        }
        match read_key_file(path)? {
            Some(ring) => Ok((ring, false)),
            // The winner's file vanished between its creation and our read.
            None => Err(io_error(
                "read",
                path,
                io::Error::from(io::ErrorKind::NotFound),
            )),
        }
    }
}

/// The ring stored at `path`, or `None` when there is no such file.
fn read_key_file(path: &Path) -> Result<Option<KeyRing>, KeyRingError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            KeyRing::parse(&text)
                .map(Some)
                .map_err(|source| KeyRingError::BadFile {
                    path: path.to_owned(),
                    source: Box::new(source),
                })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error("read", path, err)),
    }
}

/// Writes `spec` to `path` unless the file already exists.
///
/// Returns `false` when another process created `path` first. The spec is
/// written to a private temporary file, synced, then hard-linked into place:
/// unlike a rename, a link never replaces an existing key (which would strand
/// every secret sealed with it), and readers never see a half-written file.
fn publish_key_file(path: &Path, spec: &str) -> Result<bool, KeyRingError> {
    let file_name = path.file_name().ok_or_else(|| {
        io_error(
            "create",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|err| io_error("create the directory of", path, err))?;

    let suffix = getrandom::u64().map_err(KeyRingError::Random)?;
    let mut temp_name = file_name.to_owned();
    temp_name.push(format!(".{suffix:016x}.tmp"));
    let temp = dir.join(temp_name);
    write_private_file(&temp, spec).map_err(|err| io_error("write", &temp, err))?;

    let linked = fs::hard_link(&temp, path);
    // Best effort: a leftover temporary file is private (0600) and harmless.
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(&dir).map_err(|err| io_error("sync the directory of", path, err))?;
            Ok(true)
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io_error("create", path, err)),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, and
/// writes and syncs `spec` into it, so the key survives a crash that the
/// database rows sealed with it also survive.
fn write_private_file(path: &Path, spec: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(spec.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes a new directory entry durable (a no-op where directories cannot be synced).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> KeyRingError {
    KeyRingError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Purpose;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let suffix = getrandom::u64().expect("random");
            let dir = std::env::temp_dir().join(format!("udam-key-file-test-{suffix:016x}"));
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn creates_a_private_key_file_then_reads_the_same_ring() {
        let tmp = TempDir::new();
        let path = tmp.0.join("udam-data").join("master.key");

        let (first, created) = KeyRing::load_or_create(&path).expect("create");
        assert!(created);
        assert_eq!(first.current_key_id(), LOCAL_KEY_ID);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let (second, created) = KeyRing::load_or_create(&path).expect("load");
        assert!(!created);
        // Same key: what the first ring sealed, the second opens.
        let sealed = first
            .seal(Purpose::ListingApiKey, "lst_1", b"sk_test_1")
            .expect("seal");
        let opened = second
            .open(
                Purpose::ListingApiKey,
                "lst_1",
                &sealed.key_id,
                &sealed.blob,
            )
            .expect("open with reloaded ring");
        assert_eq!(opened.expose(), "sk_test_1");

        let leftovers: Vec<_> = fs::read_dir(path.parent().expect("parent"))
            .expect("list dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, ["master.key"]);
    }

    #[test]
    fn reads_an_operator_written_ring() {
        let tmp = TempDir::new();
        let path = tmp.0.join("keys");
        let spec = format!(
            "{},{}\n",
            generate_key_spec("k2").expect("keygen"),
            generate_key_spec("k1").expect("keygen")
        );
        fs::write(&path, spec).expect("write spec");
        let (ring, created) = KeyRing::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_the_file_not_the_key() {
        let tmp = TempDir::new();
        let path = tmp.0.join("master.key");
        fs::write(&path, "local1:c2VjcmV0LWJ1dC10b28tc2hvcnQ=\n").expect("write");
        let err = KeyRing::load_or_create(&path).expect_err("corrupt file");
        let message = err.to_string();
        assert!(matches!(err, KeyRingError::BadFile { .. }), "{err:?}");
        assert!(message.contains("master.key"), "{message}");
        assert!(!message.contains("c2VjcmV0"), "{message}");
        // The bad file is left for the operator, never replaced by a new key.
        assert!(
            fs::read_to_string(&path)
                .expect("read")
                .contains("c2VjcmV0")
        );
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let tmp = TempDir::new();
        let path = tmp.0.join("data").join("master.key");
        let results: Vec<(KeyRing, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| KeyRing::load_or_create(&path)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("load_or_create"))
                .collect()
        });
        let created = results.iter().filter(|(_, created)| *created).count();
        assert_eq!(created, 1, "exactly one start creates the key");
        let rings: Vec<KeyRing> = results.into_iter().map(|(ring, _)| ring).collect();
        let sealed = rings[0]
            .seal(Purpose::ListingApiKey, "lst_1", b"shared")
            .expect("seal");
        for ring in &rings {
            let opened = ring
                .open(
                    Purpose::ListingApiKey,
                    "lst_1",
                    &sealed.key_id,
                    &sealed.blob,
                )
                .expect("every process holds the same key");
            assert_eq!(opened.expose(), "shared");
        }
    }
}
