//! FastDate64: an unsigned 34.30 fixed-point time (seconds since the Unix epoch in the high 34 bits,
//! the fraction in the low 30; about 0.93 ns resolution, until about year 2514), encoded from
//! integer nanoseconds so no float rounding creeps in.

/// Bits of the fraction.
pub const FRACTION_BITS: u32 = 30;
/// First second that does not fit (2^34 s, about year 2514).
pub const MAX_SECONDS: u64 = 1 << 34;

const NANOS_PER_S: u64 = 1_000_000_000;
const FRACTION_MASK: u64 = (1 << FRACTION_BITS) - 1;

/// Why a time has no FastDate64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FastDateError {
    /// Before the Unix epoch.
    #[error("{nanos} ns is before 1970: FastDate64 is unsigned")]
    Negative {
        /// The input.
        nanos: i128,
    },
    /// A float input that is NaN (only [`FastDate64::from_unix_secs_f64`]).
    #[error("NaN is not a time")]
    NotANumber,
    /// At or after 2^34 seconds.
    #[error("{nanos} ns is past 2^34 s (about year 2514), the last time FastDate64 holds")]
    Overflow {
        /// The input.
        nanos: i128,
    },
}

/// A FastDate64 value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FastDate64(pub u64);

impl FastDate64 {
    /// Encodes `nanos` since the Unix epoch: `(seconds << 30) | floor(subsec_ns * 2^30 / 1e9)`.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self, FastDateError> {
        if nanos < 0 {
            return Err(FastDateError::Negative { nanos });
        }
        let (secs, sub) = (
            nanos / i128::from(NANOS_PER_S),
            nanos % i128::from(NANOS_PER_S),
        );
        if secs >= i128::from(MAX_SECONDS) {
            return Err(FastDateError::Overflow { nanos });
        }
        // Both fit in u64 now: secs < 2^34, sub < 1e9.
        let (secs, sub) = (secs as u64, sub as u64);
        let frac = (sub << FRACTION_BITS) / NANOS_PER_S;
        Ok(Self((secs << FRACTION_BITS) | frac))
    }

    /// Decodes to nanoseconds since the Unix epoch, rounding the fraction to the nearest nanosecond.
    pub fn to_unix_nanos(self) -> u128 {
        let secs = u128::from(self.0 >> FRACTION_BITS);
        let frac = u128::from(self.0 & FRACTION_MASK);
        secs * u128::from(NANOS_PER_S)
            + ((frac * u128::from(NANOS_PER_S) + (1 << (FRACTION_BITS - 1))) >> FRACTION_BITS)
    }

    /// Whole seconds since the Unix epoch.
    pub fn seconds(self) -> u64 {
        self.0 >> FRACTION_BITS
    }

    /// The original's encoding, kept as the "before": from float seconds (what `time.time()`
    /// gives), `(floor(t) << 30) | floor(frac(t) * 2^30)`. An `f64` near 1.7e9 s holds the time to
    /// about 240 ns, so most fraction bits below that are wrong: compare [`Self::from_unix_nanos`].
    pub fn from_unix_secs_f64(secs: f64) -> Result<Self, FastDateError> {
        // For the error's sake only: the input as nanoseconds (saturating).
        let as_nanos = || (secs * 1e9) as i128;
        if secs.is_nan() {
            return Err(FastDateError::NotANumber);
        }
        if secs < 0.0 {
            return Err(FastDateError::Negative { nanos: as_nanos() });
        }
        let whole = secs.floor();
        if whole >= MAX_SECONDS as f64 {
            return Err(FastDateError::Overflow { nanos: as_nanos() });
        }
        let frac = ((secs - whole) * (1u64 << FRACTION_BITS) as f64) as u64 & FRACTION_MASK;
        Ok(Self(((whole as u64) << FRACTION_BITS) | frac))
    }

    /// The original's decoding: float seconds.
    pub fn to_unix_secs_f64(self) -> f64 {
        (self.0 >> FRACTION_BITS) as f64
            + (self.0 & FRACTION_MASK) as f64 / (1u64 << FRACTION_BITS) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LAST_NS: i128 = (MAX_SECONDS as i128) * 1_000_000_000 - 1;

    #[test]
    fn layout_and_limits() {
        let d = FastDate64::from_unix_nanos(1_500_000_000).expect("1.5 s");
        assert_eq!(
            d.0,
            (1 << 30) | (1 << 29),
            "1.5 s = 1 second and half of 2^30"
        );
        assert_eq!(d.seconds(), 1);
        assert_eq!(FastDate64::from_unix_nanos(0), Ok(FastDate64(0)));
        assert_eq!(
            FastDate64::from_unix_nanos(-1),
            Err(FastDateError::Negative { nanos: -1 })
        );
        assert!(FastDate64::from_unix_nanos(LAST_NS).is_ok());
        assert_eq!(
            FastDate64::from_unix_nanos(LAST_NS + 1),
            Err(FastDateError::Overflow { nanos: LAST_NS + 1 })
        );
        assert_eq!(
            FastDate64::from_unix_nanos(i128::MAX),
            Err(FastDateError::Overflow { nanos: i128::MAX })
        );
    }

    #[test]
    fn the_float_encoding_agrees_on_whole_seconds_and_drifts_below_a_microsecond() {
        for nanos in [0_i128, 1_500_000_000, 1_767_225_600_123_456_789] {
            let exact = FastDate64::from_unix_nanos(nanos).expect("in range");
            let float = FastDate64::from_unix_secs_f64(nanos as f64 / 1e9).expect("in range");
            assert_eq!(float.seconds(), exact.seconds(), "{nanos}");
            let err = (float.to_unix_nanos() as i128 - nanos).abs();
            assert!(err < 1_000, "{nanos}: float encoding {err} ns off");
        }
        // Exact where the float is: 1.5 s and 0 are representable.
        assert_eq!(
            FastDate64::from_unix_secs_f64(1.5),
            FastDate64::from_unix_nanos(1_500_000_000)
        );
        // And wrong below its precision near today's times: the point of the integer path.
        let today = 1_767_225_600_123_456_789_i128;
        assert_ne!(
            FastDate64::from_unix_secs_f64(today as f64 / 1e9),
            FastDate64::from_unix_nanos(today)
        );
        assert!(matches!(
            FastDate64::from_unix_secs_f64(-0.5),
            Err(FastDateError::Negative { .. })
        ));
        assert_eq!(
            FastDate64::from_unix_secs_f64(f64::NAN),
            Err(FastDateError::NotANumber)
        );
        assert!(matches!(
            FastDate64::from_unix_secs_f64(MAX_SECONDS as f64),
            Err(FastDateError::Overflow { .. })
        ));
        assert!(matches!(
            FastDate64::from_unix_secs_f64(f64::INFINITY),
            Err(FastDateError::Overflow { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip_is_within_a_nanosecond_and_order_is_kept(a in 0..=LAST_NS, b in 0..=LAST_NS) {
            let (da, db) = (
                FastDate64::from_unix_nanos(a).expect("in range"),
                FastDate64::from_unix_nanos(b).expect("in range"),
            );
            let back = da.to_unix_nanos() as i128;
            prop_assert!((back - a).abs() <= 1, "{a} -> {da:?} -> {back}");
            prop_assert_eq!(a.cmp(&b).is_lt() && da > db, false, "order reversed");
        }
    }
}
