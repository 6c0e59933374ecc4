//! Syncs a Control D profile with folder files using the pooled sync, then prints the stage timings
//! and the API call counts. Works against any server speaking the API (the real one needs the `tls`
//! feature for HTTPS). `--help` for the options.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use components::rulesync::{Endpoint, PooledSync, ReqwestConnector, RuleSync, SyncConfig, Workers};

/// Sync a Control D profile with folder files (pooled client, bounded workers).
#[derive(Parser, Debug)]
#[command(
    name = "rulesync",
    after_help = "example: cargo run -p components --example rulesync -- --api-base http://127.0.0.1:8080/profiles \\\n    --profile P --token T http://127.0.0.1:8080/folders/ads.json\n\nexit: 0 synced, 1 sync failed, 2 usage error"
)]
struct Args {
    /// API base, e.g. https://api.controld.com/profiles (HTTPS needs `--features tls`).
    #[arg(long, default_value = "https://api.controld.com/profiles")]
    api_base: String,
    /// Profile id.
    #[arg(long)]
    profile: String,
    /// API token (Bearer).
    #[arg(long)]
    token: String,
    /// Folder files to sync, in order.
    #[arg(required = true)]
    folder_urls: Vec<String>,
    /// Batches pushed at once.
    #[arg(long, default_value_t = 3)]
    push_workers: usize,
    /// Folders deleted at once.
    #[arg(long, default_value_t = 3)]
    delete_workers: usize,
    /// Folders' rules read at once.
    #[arg(long, default_value_t = 5)]
    rule_workers: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rulesync: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut config = SyncConfig::new(Endpoint {
        api_base: args.api_base,
        profile: args.profile,
        token: args.token,
    });
    config.workers = Workers {
        push: args.push_workers.max(1),
        delete: args.delete_workers.max(1),
        rules: args.rule_workers.max(1),
        ..Workers::default()
    };
    let sync = PooledSync::new(
        config,
        Arc::new(ReqwestConnector::new(Duration::from_secs(args.timeout_s))),
    );
    match runtime.block_on(sync.sync(&args.folder_urls)) {
        Ok(r) => {
            let s = r.stages;
            println!(
                "stages: fetch {:?}, delete {:?}, create {:?}, push {:?}, total {:?}",
                s.fetch,
                s.delete,
                s.create,
                s.push,
                s.total()
            );
            println!(
                "rules: {} read, {} pushed in {} batches, {} already present, {} duplicates, {} invalid; {} folders, {} replaced",
                r.rules_in,
                r.pushed,
                r.batches,
                r.skipped_existing,
                r.duplicates,
                r.invalid,
                r.folders,
                r.deleted
            );
            println!(
                "{} ({:.2} per 1,000 rules)",
                r.calls.summary(),
                r.calls_per_1000_rules()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rulesync: {e}");
            ExitCode::from(1)
        }
    }
}
