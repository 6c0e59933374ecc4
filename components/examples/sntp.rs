//! Ask SNTP servers for the time with the parallel query over UDP, and print what each answered.
//!
//! `cargo run -p components --example sntp -- HOST[:PORT] ...` (port 123 by default), e.g.
//! `-- time.cloudflare.com pool.ntp.org:123 [2001:db8::1]:123`. Exit code 0 with a usable reply,
//! 1 without one, 2 on bad arguments.

use std::process::ExitCode;
use std::sync::Arc;

use components::clock::SystemClock;
use components::timesync::dns::SystemResolver;
use components::timesync::query::{ParallelQuery, QueryError, Server, SntpQuery, SyncConfig};
use components::timesync::udp::UdpTransport;

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

fn describe(e: &QueryError) -> String {
    match e {
        QueryError::Timeout(t) => format!("timeout: no reply within {} s", t.as_secs_f64()),
        QueryError::Packet(p) => match e.kiss_code() {
            Some(code) => format!("kiss-o'-death {code}: the server asks us to stop"),
            None => format!("bad reply: {p}"),
        },
        QueryError::Cancelled => "not needed: a good-enough reply came first".to_owned(),
        other => other.to_string(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: sntp HOST[:PORT] ... (port 123 by default; [IPV6]:PORT)");
        return ExitCode::from(2);
    }
    let mut servers = Vec::with_capacity(args.len());
    for a in &args {
        match Server::parse(a) {
            Ok(s) => servers.push(s),
            Err(e) => {
                eprintln!("sntp: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let query = ParallelQuery::new(
        UdpTransport::new(),
        SystemResolver,
        Arc::new(SystemClock::new()),
        SyncConfig::new(servers),
    );
    let report = query.sync().await;
    for o in &report.servers {
        // The address only when it says more than the name (a resolved host).
        let name = o.server.to_string();
        let addr = match o.addr.map(|a| a.to_string()) {
            Some(a) if a != name => format!(" ({a})"),
            _ => String::new(),
        };
        let what = match &o.result {
            Ok(m) => format!(
                "stratum {:>2}  offset {:>+12.3} ms  delay {:>9.3} ms",
                m.stratum,
                ms(m.offset_ns),
                ms(m.delay_ns)
            ),
            Err(e) => describe(e),
        };
        println!("{name}{addr} attempt {}: {what}", o.attempt + 1);
    }
    println!(
        "{} requests, {} lookups, {:.1} ms",
        report.packets_sent,
        report.lookups,
        report.elapsed.as_secs_f64() * 1e3
    );
    match &report.best {
        Ok(m) => {
            println!(
                "best: {} ({}) stratum {}  offset {:+.3} ms  delay {:.3} ms",
                m.server,
                m.addr,
                m.stratum,
                ms(m.offset_ns),
                ms(m.delay_ns)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sntp: {e}");
            ExitCode::from(1)
        }
    }
}
