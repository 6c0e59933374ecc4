//! The engine's errors. Each names the file or field at fault and what to do about it; the binary maps
//! every one of them to exit code 2 ("bad input or usage").

use std::path::PathBuf;

/// Everything that can go wrong reading, checking or writing perfgate's files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A run record or baseline that is missing.
    #[error("{}: no such file. {fix}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// What to run to create it.
        fix: String,
    },
    /// A run record or baseline that is not what perfgate writes.
    #[error("{}: {what}. {fix}", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
        /// What to do.
        fix: String,
    },
    /// `perfgate.toml` is invalid.
    #[error("{}: {what}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the field.
        what: String,
    },
    /// A command-line argument is invalid.
    #[error("{0}")]
    Usage(String),
    /// A chart could not be drawn.
    #[error("drawing the chart “{chart}” failed: {what}; this is a bug, please report it")]
    Chart {
        /// The chart's title.
        chart: String,
        /// What the plotting library said.
        what: String,
    },
    /// The registered scenarios and claims do not fit together.
    #[error(
        "the scenario registry has {} problem(s):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    )]
    Registry {
        /// One line each, naming the claim and the fix.
        problems: Vec<String>,
    },
    /// A scenario failed to run.
    #[error("scenario {id}: {what}")]
    Scenario {
        /// The scenario.
        id: String,
        /// What went wrong.
        what: String,
    },
}
