//! The systems under test: one module per seed system, each with its "before" and "after" variants
//! behind one trait, named for their mechanism. No I/O clock: time comes in through [`clock::Clock`].

pub mod clock;
mod counters;
pub mod flowcache;
mod named;
pub mod ntpstatus;
pub mod pool;
pub mod ratelimit;
pub mod rulesync;
pub mod timesync;
pub mod watch;
