//! perfgate's harness: the engine (`model`, `stats`, `measure`, `compare`, `analysis`, `baseline`,
//! `report`, `store`) that works on run records only, and the `scenarios` that drive the components.

pub mod ab;
pub mod analysis;
pub mod baseline;
pub mod changepoint;
pub mod compare;
pub mod config;
pub mod error;
pub mod history;
pub mod ingest;
pub mod inject;
pub mod machine;
pub mod measure;
pub mod merge;
pub mod model;
pub mod power;
pub mod report;
pub mod scenario;
pub mod scenarios;
pub mod selftest;
pub mod stats;
pub mod store;

#[cfg(test)]
mod testutil;
