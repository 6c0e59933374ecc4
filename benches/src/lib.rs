//! Bench targets live in `benches/`; this library is empty on purpose: setup code comes from
//! `perfgate::scenarios`, so `cargo bench` and `cargo perfgate check` measure the same situations.
