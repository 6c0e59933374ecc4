//! Reading and writing run records and reports: strict on read (schema name and version checked, the
//! file named in every error), atomic on write (temp file in the same directory, then rename).

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::model::{OLDEST_READ_VERSION, RunRecord, SCHEMA_NAME, SCHEMA_VERSION, readable_version};

/// Reads a run record or baseline; `fix` tells the user how to produce a good one.
pub fn load_record(path: &Path, fix: &str) -> Result<RunRecord, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Missing {
                path: path.to_owned(),
                fix: fix.to_owned(),
            });
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse_record(&bytes, path, fix)
}

/// A run record from the bytes of `path` (named in every error, with the field at fault).
pub fn parse_record(bytes: &[u8], path: &Path, fix: &str) -> Result<RunRecord, Error> {
    let bad = |what: String| Error::BadRecord {
        path: path.to_owned(),
        what,
        fix: fix.to_owned(),
    };
    // Check the envelope first, so a record from another version gets that message, not a field error.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            bad(format!("truncated JSON ({e})"))
        } else {
            bad(format!("not JSON ({e})"))
        }
    })?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA_NAME) => {}
        Some(other) => return Err(bad(format!("schema is {other:?}, not {SCHEMA_NAME:?}"))),
        None => {
            return Err(bad(format!(
                "not a perfgate run record (no \"schema\": {SCHEMA_NAME:?})"
            )));
        }
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if readable_version(v) => {}
        Some(v) => {
            return Err(bad(format!(
                "schema_version {v}, this perfgate reads versions {OLDEST_READ_VERSION} to \
                 {SCHEMA_VERSION}"
            )));
        }
        None => return Err(bad("no schema_version".to_owned())),
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        bad(format!(
            "does not match schema v{SCHEMA_VERSION}: at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Writes a record as pretty JSON, atomically.
pub fn save_record(path: &Path, record: &RunRecord) -> Result<(), Error> {
    let mut json = serde_json::to_vec_pretty(record).map_err(|e| Error::BadRecord {
        path: path.to_owned(),
        what: format!("cannot serialize: {e}"),
        fix: "report this as a bug".to_owned(),
    })?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so readers see the
/// old content or the new, never half of it. Creates the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // The pid in the name says whose it is, so a later write can remove what a killed writer left.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    // Temp files are created 0600; a baseline or report is an ordinary file others read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sweep_stale_temp_files(dir);
    Ok(())
}

const TEMP_PREFIX: &str = ".perfgate-";
const TEMP_SUFFIX: &str = ".tmp";
/// A temp file without a pid in its name (an older perfgate's) is stale after this long.
const STALE_UNNAMED: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temp files writers killed mid-write left in `dir` (issue 18: 20 kills of `bless` left
/// them in `baselines/`, where `git add` would pick them up): those whose writer, the pid in the name,
/// no longer runs. Best effort: a file that cannot be removed stays.
fn sweep_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        else {
            continue;
        };
        let stale = match rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        {
            Some(pid) => pid != std::process::id() && !process_runs(pid),
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_UNNAMED),
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` runs (`/proc` on Linux; elsewhere assumed, so nothing is swept).
fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_leaves_a_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("smoke.json");
        write_atomic(&path, b"old").expect("first write");
        write_atomic(&path, b"new").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != "smoke.json")
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn a_write_removes_temp_files_of_dead_writers_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("smoke.json");
        // pid 0 never names a user process; our own pid runs; a name without a pid is recent.
        let dead = dir.path().join(".perfgate-0-abc.tmp");
        let ours = dir
            .path()
            .join(format!(".perfgate-{}-abc.tmp", std::process::id()));
        let unnamed = dir.path().join(".perfgate-abcdef.tmp");
        for p in [&dead, &ours, &unnamed] {
            std::fs::write(p, "half").expect("write");
        }
        write_atomic(&path, b"new").expect("write");
        assert!(!dead.exists(), "a dead writer's temp file is swept");
        assert!(ours.exists() && unnamed.exists());
    }

    #[test]
    fn older_readable_versions_load_and_newer_ones_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.json");
        let mut record = crate::testutil::record(
            "m",
            vec![("a/b", "count", crate::model::Metric::count(3, "calls"))],
        );
        record.schema_version = OLDEST_READ_VERSION;
        save_record(&path, &record).expect("save");
        let back = load_record(&path, "fix").expect("an old committed baseline still loads");
        assert_eq!(back.schema_version, OLDEST_READ_VERSION);
        assert_eq!(back.scenarios, record.scenarios);

        record.schema_version = SCHEMA_VERSION + 1;
        save_record(&path, &record).expect("save");
        let err = load_record(&path, "fix").expect_err("a newer record is refused");
        let text = err.to_string();
        assert!(text.contains("run.json"), "{text}");
        assert!(
            text.contains(&format!("schema_version {}", SCHEMA_VERSION + 1)),
            "{text}"
        );
    }
}
