//! The file-timestamp fallback: when no NTP server answers, the newest plausible file mtime bounds the
//! current time from below. `GlobScan` walks every root once per pattern (the original's recursive
//! globs); `TargetedScan` reads trusted files first, then a few shallow roots within a file budget.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Mtimes at or before this (2001-09-09) are not plausible: unset clocks and archive defaults.
pub const MIN_PLAUSIBLE_MTIME_S: u64 = 1_000_000_000;
/// The original's recursive glob patterns.
pub const ORIGINAL_PATTERNS: [&str; 6] = ["*.tmp", "*.log", "*.txt", "*.json", "*.py", "*cache*"];
/// Deepest level `TargetedScan` looks at below each root.
pub const TARGETED_MAX_DEPTH: usize = 2;
/// Files `TargetedScan` examines at most.
pub const TARGETED_FILE_BUDGET: usize = 100;
/// Directory entries any scan visits at most, so a huge or looping tree still ends.
pub const MAX_ENTRIES: u64 = 10_000_000;

/// The answer: the newest plausible mtime and where it came from, with what the scan cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOutcome {
    /// The newest plausible mtime, seconds since the Unix epoch, if any file had one.
    pub newest_unix_s: Option<u64>,
    /// The file it came from.
    pub newest_path: Option<PathBuf>,
    /// Directory entries visited (files and directories), the cost the scans differ in.
    pub entries_visited: u64,
    /// Files whose mtime was read.
    pub files_examined: u64,
}

impl ScanOutcome {
    fn consider(&mut self, path: &Path) {
        self.files_examined += 1;
        let Some(secs) = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
        else {
            return;
        };
        if secs > MIN_PLAUSIBLE_MTIME_S && self.newest_unix_s.is_none_or(|n| secs > n) {
            self.newest_unix_s = Some(secs);
            self.newest_path = Some(path.to_path_buf());
        }
    }
}

/// Answers "newest plausible mtime"; unreadable files and directories are skipped, as the
/// originals did, so a scan never fails.
pub trait TimestampScan {
    /// Scans and answers.
    fn scan(&self) -> ScanOutcome;
}

/// The original: for each pattern, for each root, a full recursive walk matching file names.
#[derive(Clone, Debug)]
pub struct GlobScan {
    /// Where to look.
    pub roots: Vec<PathBuf>,
    /// File-name patterns (`*` and `?`), each walked separately as the original's globs were.
    pub patterns: Vec<glob::Pattern>,
}

impl GlobScan {
    /// A scan of `roots` for `patterns`; a bad pattern is an error naming it.
    pub fn new(roots: Vec<PathBuf>, patterns: &[&str]) -> Result<Self, glob::PatternError> {
        Ok(Self {
            roots,
            patterns: patterns
                .iter()
                .map(|p| glob::Pattern::new(p))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TimestampScan for GlobScan {
    fn scan(&self) -> ScanOutcome {
        let mut out = ScanOutcome::default();
        for pattern in &self.patterns {
            for root in &self.roots {
                for entry in walkdir::WalkDir::new(root)
                    .into_iter()
                    .filter_map(Result::ok)
                {
                    out.entries_visited += 1;
                    if out.entries_visited >= MAX_ENTRIES {
                        return out;
                    }
                    let name = entry.file_name().to_string_lossy();
                    if entry.file_type().is_file() && pattern.matches(&name) {
                        out.consider(entry.path());
                    }
                }
            }
        }
        out
    }
}

/// The intended scan: trusted files, then each root to a shallow depth, within a file budget.
#[derive(Clone, Debug)]
pub struct TargetedScan {
    /// Files read first (`/etc/adjtime`, `/etc/localtime` on a real system).
    pub trusted: Vec<PathBuf>,
    /// Roots scanned in order after them.
    pub roots: Vec<PathBuf>,
    /// Deepest level below each root.
    pub max_depth: usize,
    /// Most files examined, trusted ones included; the scan stops there.
    pub file_budget: usize,
}

impl TargetedScan {
    /// The original's intent: depth 2, 100 files.
    pub fn new(trusted: Vec<PathBuf>, roots: Vec<PathBuf>) -> Self {
        Self {
            trusted,
            roots,
            max_depth: TARGETED_MAX_DEPTH,
            file_budget: TARGETED_FILE_BUDGET,
        }
    }
}

impl TimestampScan for TargetedScan {
    fn scan(&self) -> ScanOutcome {
        let mut out = ScanOutcome::default();
        for file in &self.trusted {
            if out.files_examined as usize >= self.file_budget {
                return out;
            }
            out.entries_visited += 1;
            if file.is_file() {
                out.consider(file);
            }
        }
        for root in &self.roots {
            let walk = walkdir::WalkDir::new(root)
                .max_depth(self.max_depth)
                .into_iter()
                .filter_map(Result::ok);
            for entry in walk {
                if out.files_examined as usize >= self.file_budget
                    || out.entries_visited >= MAX_ENTRIES
                {
                    return out;
                }
                out.entries_visited += 1;
                if entry.file_type().is_file() {
                    out.consider(entry.path());
                }
            }
        }
        out
    }
}
