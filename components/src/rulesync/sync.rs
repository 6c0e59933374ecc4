//! The two sync workflows over [`Api`]: [`SequentialSync`] (the original) and [`PooledSync`] (the
//! guide's), the same steps in the same order of effects, so both leave the same end state.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::time::Instant;

use super::api::{Api, Group};
use super::dedup::{self, Dropped};
use super::transport::{BoxFuture, Connector};
use super::{BATCH_SIZE, FolderFile, RuleSync, SyncConfig, SyncError, SyncReport};
use crate::named::named_impl;

/// Makes `$ty` (with its `config` and `connector` fields) a [`RuleSync`] named `$name` (also its
/// `NAME`) whose sync is its own `run`, and gives it `new`.
macro_rules! rule_sync {
    ($ty:ty, $name:literal) => {
        impl $ty {
            /// A sync with `config`, building its HTTP clients with `connector`.
            pub fn new(config: SyncConfig, connector: Arc<dyn Connector>) -> Self {
                Self { config, connector }
            }
        }

        named_impl! {
            RuleSync for $ty = $name {
                fn sync<'a>(
                    &'a self,
                    folder_urls: &'a [String],
                ) -> BoxFuture<'a, Result<SyncReport, SyncError>> {
                    Box::pin(self.run(folder_urls))
                }
            }
        }
    };
}

/// The original: a new HTTP client for every call, every step one after the other, every rule
/// validated (the pattern compiled per folder), then filtered against what is known.
pub struct SequentialSync {
    config: SyncConfig,
    connector: Arc<dyn Connector>,
}

impl SequentialSync {
    async fn run(&self, urls: &[String]) -> Result<SyncReport, SyncError> {
        let api = Api::per_call(
            self.config.endpoint.clone(),
            Arc::clone(&self.connector),
            self.config.retry,
        );
        let mut report = SyncReport::default();

        let t = Instant::now();
        let mut folders = Vec::with_capacity(urls.len());
        for url in urls {
            folders.push(api.fetch_folder(url).await?);
        }
        report.stages.fetch = t.elapsed();

        let t = Instant::now();
        let groups = api.list_groups().await?;
        let (replaced, kept) = split_groups(&groups, &folders);
        for g in replaced {
            api.delete_group(&g.pk).await?;
            report.deleted += 1;
        }
        let mut existing = HashSet::new();
        for g in kept {
            existing.extend(api.list_rules(&g.pk).await?);
        }
        report.stages.delete = t.elapsed();

        let mut added: HashSet<String> = HashSet::new();
        let mut dropped = Dropped::default();
        for f in &folders {
            let t = Instant::now();
            let pk = api.create_group(&f.name, f.action, f.status).await?;
            report.stages.create += t.elapsed();

            let t = Instant::now();
            report.rules_in += f.hostnames.len() as u64;
            let new =
                dedup::new_validating_first(&f.hostnames, &existing, &mut added, &mut dropped)
                    .map_err(|e| SyncError::Client(e.to_string()))?;
            for batch in new.chunks(BATCH_SIZE) {
                report.pushed += api.push_batch(&pk, f.action, f.status, batch).await?;
                report.batches += 1;
            }
            report.stages.push += t.elapsed();
        }
        report.folders = folders.len();
        report.record_dropped(dropped);
        report.calls = api.calls();
        report.log(self.name());
        Ok(report)
    }
}

rule_sync!(SequentialSync, "sequential");

/// The guide's: one client (its pool keeps connections open), folder files fetched concurrently,
/// deletes (3 workers) overlapping the reads of the rules already present (5 workers), ordered
/// dedup with known hostnames skipped before validation, then every batch through a shared pool of
/// 3 workers (a single batch inline).
pub struct PooledSync {
    config: SyncConfig,
    connector: Arc<dyn Connector>,
}

impl PooledSync {
    async fn run(&self, urls: &[String]) -> Result<SyncReport, SyncError> {
        let w = self.config.workers;
        let api = Api::pooled(
            self.config.endpoint.clone(),
            self.connector.as_ref(),
            self.config.retry,
        )?;
        let api = &api;
        let mut report = SyncReport::default();

        let t = Instant::now();
        // Indices, not references, go through the streams: closures over borrowed items trip the
        // compiler's higher-ranked lifetime check when the future must be `Send`.
        let folders: Vec<FolderFile> = stream::iter(0..urls.len())
            .map(|i| api.fetch_folder(&urls[i]))
            .buffered(w.fetch.max(1))
            .try_collect()
            .await?;
        report.stages.fetch = t.elapsed();

        let t = Instant::now();
        let groups = api.list_groups().await?;
        let (replaced, kept) = split_groups(&groups, &folders);
        report.deleted = replaced.len() as u64;
        let (replaced, kept) = (&replaced, &kept);
        let deletes = stream::iter(0..replaced.len())
            .map(|i| api.delete_group(&replaced[i].pk))
            .buffer_unordered(w.delete.max(1))
            .try_collect::<Vec<()>>();
        let reads = stream::iter(0..kept.len())
            .map(|i| api.list_rules(&kept[i].pk))
            .buffered(w.rules.max(1))
            .try_collect::<Vec<Vec<String>>>();
        let (deleted, read) = tokio::join!(deletes, reads);
        deleted?;
        let existing: HashSet<String> = read?.into_iter().flatten().collect();
        report.stages.delete = t.elapsed();

        // Ordered dedup: a hostname already known (present, or earlier in this sync) is skipped
        // before it is validated.
        let mut added: HashSet<&str> = HashSet::new();
        let mut dropped = Dropped::default();
        let mut new_per_folder: Vec<Vec<String>> = Vec::with_capacity(folders.len());
        for f in &folders {
            report.rules_in += f.hostnames.len() as u64;
            new_per_folder.push(dedup::new_known_first(
                &f.hostnames,
                &existing,
                &mut added,
                &mut dropped,
            ));
        }
        report.record_dropped(dropped);
        drop(added);
        drop(existing);

        let t = Instant::now();
        let mut pks = Vec::with_capacity(folders.len());
        for f in &folders {
            pks.push(api.create_group(&f.name, f.action, f.status).await?);
        }
        report.stages.create = t.elapsed();

        let t = Instant::now();
        let batches: Vec<(&str, &FolderFile, &[String])> = folders
            .iter()
            .zip(&pks)
            .zip(&new_per_folder)
            .flat_map(|((f, pk), new)| new.chunks(BATCH_SIZE).map(move |b| (pk.as_str(), f, b)))
            .collect();
        report.batches = batches.len() as u64;
        report.pushed = if let [(pk, f, b)] = batches.as_slice() {
            api.push_batch(pk, f.action, f.status, b).await?
        } else {
            let batches = &batches;
            stream::iter(0..batches.len())
                .map(|i| {
                    let (pk, f, b) = batches[i];
                    api.push_batch(pk, f.action, f.status, b)
                })
                .buffer_unordered(w.push.max(1))
                .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
                .await?
        };
        report.stages.push = t.elapsed();

        report.folders = folders.len();
        report.calls = api.calls();
        report.log(self.name());
        Ok(report)
    }
}

rule_sync!(PooledSync, "pooled");

/// The profile's folders split into those replaced by a folder file of the same name and those
/// kept (whose rules count as already present), each in the profile's order.
fn split_groups<'g>(
    groups: &'g [Group],
    folders: &[FolderFile],
) -> (Vec<&'g Group>, Vec<&'g Group>) {
    let names: HashSet<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    groups.iter().partition(|g| names.contains(g.name.as_str()))
}
