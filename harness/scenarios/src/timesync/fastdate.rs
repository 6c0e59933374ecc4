//! FastDate64 (seed `timesync-plan.md`, Phase 7): encode + decode through float seconds (the
//! original's `time.time()` path) against integer nanoseconds: ns per round trip and how many of a
//! fixed set of times each encodes exactly.

use std::collections::BTreeMap;

use components::timesync::fastdate::FastDate64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SEED;
use perfgate::measure;
use perfgate::model::{Claim, Metric, MetricName};
use perfgate::scenario::{Registry, RunContext, WALL_TIME};

/// Times encoded per scenario for the exactness count.
pub const TIMES: usize = 10_000;
const TIMES_SEED: u64 = 0xFA57_DA7E;
/// Times drawn from 2026 (1,767,225,600 s) over one year, in nanoseconds.
const FROM_NS: i128 = 1_767_225_600 * 1_000_000_000;
const SPAN_NS: i128 = 365 * 86_400 * 1_000_000_000;

/// Encodings that differ from the exact 34.30 value.
pub const INEXACT_ENCODINGS: MetricName = MetricName::new("inexact_encodings");
/// Largest round-trip error, ns.
pub const MAX_ERROR: MetricName = MetricName::new("max_error");

pair_variants! {
    /// Which encoding a scenario measures.
    pub enum Encoding {
        /// `FastDate64::from_unix_secs_f64` / `to_unix_secs_f64`: float seconds, the original.
        Float => "float",
        /// `FastDate64::from_unix_nanos` / `to_unix_nanos`: integer nanoseconds.
        Integer => "integer",
    }
}

impl Encoding {
    /// One round trip of `nanos`: the encoded value and the decoded time in nanoseconds.
    pub fn round_trip(self, nanos: i128) -> Result<(FastDate64, i128), String> {
        match self {
            Self::Float => {
                let d = FastDate64::from_unix_secs_f64(nanos as f64 / 1e9)
                    .map_err(|e| e.to_string())?;
                Ok((d, (d.to_unix_secs_f64() * 1e9) as i128))
            }
            Self::Integer => {
                let d = FastDate64::from_unix_nanos(nanos).map_err(|e| e.to_string())?;
                let back = i128::try_from(d.to_unix_nanos()).map_err(|e| e.to_string())?;
                Ok((d, back))
            }
        }
    }
}

impl Encoding {
    /// One encode + decode per call, cycling through `times` in the encoding's own units (float
    /// seconds in, float seconds out, as the original; nanoseconds for the integer path), so the
    /// timing holds no conversion the caller would not make.
    pub fn timed_op(self, times: &[i128]) -> impl FnMut() -> Result<(), String> + use<> {
        let mut i = 0;
        let (secs, nanos): (Vec<f64>, Vec<i128>) = match self {
            Self::Float => (times.iter().map(|&t| t as f64 / 1e9).collect(), Vec::new()),
            Self::Integer => (Vec::new(), times.to_vec()),
        };
        move || {
            match self {
                Self::Float => {
                    i = (i + 1) % secs.len();
                    let d = FastDate64::from_unix_secs_f64(std::hint::black_box(secs[i]))
                        .map_err(|e| e.to_string())?;
                    std::hint::black_box(d.to_unix_secs_f64());
                }
                Self::Integer => {
                    i = (i + 1) % nanos.len();
                    let d = FastDate64::from_unix_nanos(std::hint::black_box(nanos[i]))
                        .map_err(|e| e.to_string())?;
                    std::hint::black_box(d.to_unix_nanos());
                }
            }
            Ok(())
        }
    }
}

/// The fixed set of times (nanoseconds in 2026), the same for both encodings.
pub fn times() -> Vec<i128> {
    let mut rng = ChaCha8Rng::seed_from_u64(TIMES_SEED);
    (0..TIMES)
        .map(|_| FROM_NS + rng.random_range(0..SPAN_NS))
        .collect()
}

/// `timesync/fastdate/{float,integer}/times=10000`: ns per encode + decode, encodings that differ
/// from the exact 34.30 value (`floor(subsec_ns * 2^30 / 1e9)`), largest round-trip error.
fn encode_times(
    encoding: Encoding,
    ctx: &RunContext<'_>,
) -> Result<BTreeMap<String, Metric>, String> {
    let times = times();
    let (mut inexact, mut worst) = (0_u64, 0_u64);
    for &t in &times {
        let exact = FastDate64::from_unix_nanos(t).map_err(|e| e.to_string())?;
        let (got, back) = encoding.round_trip(t)?;
        inexact += u64::from(got != exact);
        worst = worst.max(u64::try_from((back - t).unsigned_abs()).unwrap_or(u64::MAX));
    }
    let mut op = encoding.timed_op(&times);
    let samples = measure::sample(ctx.timer, &ctx.plan, &mut op)?;
    Ok(BTreeMap::from([
        (
            INEXACT_ENCODINGS.into(),
            Metric::count(inexact, "encodings"),
        ),
        (MAX_ERROR.into(), Metric::count(worst, "ns")),
        (WALL_TIME.into(), samples.into_metric(ctx.plan.confidence)),
    ]))
}

/// Registers the FastDate64 scenarios and the plan's throughput figure as a claim.
pub fn register(r: &mut Registry) {
    let scale = format!("times={TIMES}");
    let pair = r
        .pair("timesync/fastdate", Encoding::Float, Encoding::Integer)
        .scales([scale.clone()])
        .metrics([INEXACT_ENCODINGS, MAX_ERROR, WALL_TIME])
        .measure(|encoding, _, ctx| encode_times(encoding, ctx));
    r.claim(Claim::new(
        SEED,
        160,
        "Optimize FastDate64 encoding/decoding (read as: over 50,000 encode + decode round trips \
         a second, the plan's figure, i.e. at most 20 µs each)",
        pair.after_at_most(&scale, WALL_TIME, 20_000.0),
    ));
    r.claim(Claim::new(
        SEED,
        160,
        "Optimize FastDate64 encoding/decoding (read as: every time encoded exactly: float seconds \
         near 2026 are 238 ns apart, so their fraction bits below that are wrong)",
        pair.after_at_most(&scale, INEXACT_ENCODINGS, 0.0),
    ));
}
