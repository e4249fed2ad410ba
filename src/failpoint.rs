//! Crash points for the crash tests (issue 12): a named place where a test can make a
//! real `udam serve` process abort, as a power cut or `kill -9` would, between two
//! steps of a money movement.
//!
//! Compiled in only with the `failpoints` feature, which the test command turns on;
//! in any other build [`crash_point!`](crate::crash_point) expands to nothing. A test
//! arms a point by starting the server with `FAILPOINTS=<name>=return` (the `fail`
//! crate's syntax; `<name>=1*return` aborts on the first pass only). Names are
//! `<capability>::<step>`, e.g. `purchase::after_commit`.

/// Reads `FAILPOINTS` once at start-up. Does nothing without the `failpoints` feature.
pub fn arm_from_env() {
    #[cfg(feature = "failpoints")]
    {
        // The scenario must outlive the process; it is never torn down.
        std::mem::forget(fail::FailScenario::setup());
    }
}

/// Aborts the process at this point when a test armed it (see the module doc).
///
/// `std::process::abort` rather than a panic: a panic would unwind through tokio and
/// axum, which catch it and keep serving; a crash must stop everything at once, with
/// nothing flushed and no transaction finished.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        {
            ::fail::fail_point!($name, |_| {
                eprintln!("crash point {} reached: aborting", $name);
                ::std::process::abort()
            });
        }
    };
}

#[cfg(test)]
mod tests {
    /// A step in a function that returns a value, as every money step does.
    fn step() -> Result<u8, String> {
        crate::crash_point!("test::unarmed");
        Ok(1)
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        assert_eq!(step(), Ok(1));
    }
}
