//! Joining the records of a sharded run (`run --shard I/N` in a CI matrix) into one record that
//! `compare` and `report` take: scenarios side by side, growth fits and claims recomputed.

use std::path::PathBuf;

use crate::analysis;
use crate::error::Error;
use crate::model::{Claim, RunRecord};

/// Merges `records` (with the files they came from, for errors). Every record must be of the same
/// suite and no scenario may appear twice. When the shards ran on different machines the merged
/// machine fingerprint says so, so absolute wall times do not gate against any one baseline.
pub fn merge(records: Vec<(PathBuf, RunRecord)>) -> Result<RunRecord, Error> {
    let mut iter = records.into_iter();
    let (first_path, mut merged) = iter
        .next()
        .ok_or_else(|| Error::Usage("merge needs at least one run record".to_owned()))?;
    let mut claims: Vec<Claim> = merged.claims.iter().map(|c| c.claim.clone()).collect();
    let mut fingerprints = vec![merged.machine.fingerprint.clone()];
    for (path, record) in iter {
        if record.suite != merged.suite {
            return Err(Error::BadRecord {
                path,
                what: format!(
                    "suite {:?}, but {} is suite {:?}",
                    record.suite,
                    first_path.display(),
                    merged.suite
                ),
                fix: "merge shards of the same suite".to_owned(),
            });
        }
        for s in record.scenarios {
            if merged.scenario(&s.id).is_some() {
                return Err(Error::BadRecord {
                    path,
                    what: format!("scenario {} is also in another record", s.id),
                    fix: "merge the shards of one run (`run --shard I/N` for each I), each once"
                        .to_owned(),
                });
            }
            merged.scenarios.push(s);
        }
        for c in record.claims {
            if !claims.contains(&c.claim) {
                claims.push(c.claim);
            }
        }
        if !fingerprints.contains(&record.machine.fingerprint) {
            fingerprints.push(record.machine.fingerprint.clone());
        }
        merged.duration_s = merged.duration_s.max(record.duration_s);
        merged.git.dirty |= record.git.dirty;
    }
    if fingerprints.len() > 1 {
        merged.machine.fingerprint = format!("mixed: {}", fingerprints.join(" + "));
    }
    merged.growth = analysis::growth(&merged);
    merged.claims = analysis::check_claims(&claims, &merged, &merged.growth);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;
    use crate::testutil::record;

    fn shard(machine: &str, ids: &[&str]) -> (PathBuf, RunRecord) {
        let rows = ids
            .iter()
            .map(|id| (*id, "visits", Metric::count(1, "entries")))
            .collect();
        (
            PathBuf::from(format!("{machine}-{}.json", ids.len())),
            record(machine, rows),
        )
    }

    #[test]
    fn shards_join_and_growth_is_refitted() {
        let merged = merge(vec![
            shard("m", &["a/s/x/n=10", "a/s/x/n=100"]),
            shard("m", &["b/s/y/n=1"]),
        ])
        .expect("merge");
        assert_eq!(merged.scenarios.len(), 3);
        assert_eq!(merged.machine.fingerprint, "m");
        assert!(merged.growth.iter().any(|g| g.family == "a/s/x"));
    }

    #[test]
    fn duplicates_suites_and_machines_are_handled() {
        let err = merge(vec![shard("m", &["a/s/x/n=1"]), shard("m", &["a/s/x/n=1"])])
            .expect_err("duplicate")
            .to_string();
        assert!(
            err.contains("a/s/x/n=1") && err.contains("m-1.json"),
            "{err}"
        );
        let mut full = shard("m", &["b/s/y/n=1"]);
        full.1.suite = "full".to_owned();
        let err = merge(vec![shard("m", &["a/s/x/n=1"]), full])
            .expect_err("suite")
            .to_string();
        assert!(err.contains("suite"), "{err}");
        let mixed = merge(vec![
            shard("m1", &["a/s/x/n=1"]),
            shard("m2", &["b/s/y/n=1"]),
        ])
        .expect("mixed");
        assert_eq!(mixed.machine.fingerprint, "mixed: m1 + m2");
        assert!(merge(Vec::new()).is_err());
    }
}
