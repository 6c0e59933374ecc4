//! Which hostnames of a folder file are new: the CPU-bound part of a sync, no I/O. The original
//! validates every hostname first (its pattern compiled per folder); the guide's ordered dedup skips
//! hostnames already known before validating, with the pattern compiled once. Both keep input order
//! and choose the same hostnames; only which reason an invalid, known hostname is counted under
//! differs.

use std::collections::HashSet;

use regex::Regex;

use super::{HOSTNAME_PATTERN, is_valid_hostname};

/// What a dedup dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Fail the hostname pattern.
    pub invalid: u64,
    /// Already in the profile.
    pub existing: u64,
    /// Seen earlier in this sync.
    pub duplicates: u64,
}

/// The original's pass over one folder's `hostnames`: compiles the pattern (per folder, as it did),
/// validates each hostname, then drops those in `existing` or already in `added` (earlier in this
/// sync), adding the rest to `added`. The new hostnames, in input order.
pub fn new_validating_first(
    hostnames: &[String],
    existing: &HashSet<String>,
    added: &mut HashSet<String>,
    dropped: &mut Dropped,
) -> Result<Vec<String>, regex::Error> {
    // Deliberately per call: the "before" has no precompiled pattern.
    let re = Regex::new(HOSTNAME_PATTERN)?;
    let mut new = Vec::new();
    for h in hostnames {
        if !re.is_match(h) {
            dropped.invalid += 1;
        } else if existing.contains(h) {
            dropped.existing += 1;
        } else if !added.insert(h.clone()) {
            dropped.duplicates += 1;
        } else {
            new.push(h.clone());
        }
    }
    Ok(new)
}

/// The guide's ordered dedup over one folder's `hostnames`: a hostname in `existing` or `added`
/// is skipped before it is validated (with the precompiled pattern); `added` borrows the folder
/// files' strings, so nothing is copied until a hostname is known to be new.
pub fn new_known_first<'a>(
    hostnames: &'a [String],
    existing: &HashSet<String>,
    added: &mut HashSet<&'a str>,
    dropped: &mut Dropped,
) -> Vec<String> {
    let mut new = Vec::new();
    for h in hostnames {
        if existing.contains(h) {
            dropped.existing += 1;
        } else if added.contains(h.as_str()) {
            dropped.duplicates += 1;
        } else if !is_valid_hostname(h) {
            dropped.invalid += 1;
        } else {
            added.insert(h);
            new.push(h.clone());
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// `folders` through the before and the after, each with its own added set: the new hostnames
    /// each chose, folder by folder, and what each dropped.
    fn both(
        folders: &[Vec<String>],
        existing: &HashSet<String>,
    ) -> ([Vec<Vec<String>>; 2], [Dropped; 2]) {
        let (mut before_added, mut before) = (HashSet::new(), Dropped::default());
        let (mut after_added, mut after) = (HashSet::new(), Dropped::default());
        let (mut before_new, mut after_new) = (Vec::new(), Vec::new());
        for f in folders {
            before_new.push(
                new_validating_first(f, existing, &mut before_added, &mut before)
                    .expect("the pattern compiles"),
            );
            after_new.push(new_known_first(f, existing, &mut after_added, &mut after));
        }
        ([before_new, after_new], [before, after])
    }

    #[test]
    fn both_keep_order_and_drop_the_same_hostnames_for_their_reasons() {
        let existing: HashSet<String> = strings(&["known.com", "bad host"]).into_iter().collect();
        let folders = [
            strings(&[
                "a.com",
                "known.com",
                "b.com",
                "a.com",
                "bad host",
                "no spaces!",
            ]),
            strings(&["b.com", "c.com", "*.ads.net"]),
        ];
        let ([before_new, after_new], [before, after]) = both(&folders, &existing);
        assert_eq!(after_new, before_new);
        // "bad host" is known and invalid: the original calls it invalid, the guide known.
        assert_eq!(
            before,
            Dropped {
                invalid: 2,
                existing: 1,
                duplicates: 2
            }
        );
        assert_eq!(
            after,
            Dropped {
                invalid: 1,
                existing: 2,
                duplicates: 2
            }
        );
    }

    proptest! {
        #[test]
        fn both_choose_the_same_new_hostnames(
            folders in prop::collection::vec(
                prop::collection::vec("[a-c]{1,2}(\\.com| x)?", 0..30), 0..4),
            existing in prop::collection::hash_set("[a-c]{1,2}(\\.com)?", 0..5),
        ) {
            let ([before_new, after_new], [before, after]) = both(&folders, &existing);
            prop_assert_eq!(after_new, before_new);
            let dropped = |d: Dropped| d.invalid + d.existing + d.duplicates;
            prop_assert_eq!(dropped(before), dropped(after));
        }
    }
}
