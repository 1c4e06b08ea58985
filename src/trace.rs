//! `LAKEMIG_TRACE=1`: step timings of a sync or a migration, on stderr.

use std::time::Instant;

/// With `LAKEMIG_TRACE` set, print how long after `started` the step `step` ended (to stderr).
pub fn trace(started: Instant, step: &str) {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var_os("LAKEMIG_TRACE").is_some());
    if *ON {
        eprintln!(
            "lakemig: {:>8.1} ms  {step}",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}
