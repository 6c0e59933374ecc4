//! The SNTP client packet (RFC 4330/5905): the 48-byte request and the checked reply, and offset and
//! delay computed exactly from 32.32 fixed-point timestamps. No I/O: bytes in, values out.

/// Length of an SNTP packet without extensions.
pub const PACKET_LEN: usize = 48;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix).
pub const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;
/// First byte of a client request: leap 0, version 4, mode 3 (client).
pub const REQUEST_BYTE0: u8 = 0x23;

const NANOS_PER_S: u128 = 1_000_000_000;

/// An NTP timestamp: seconds since 1900 in the high 32 bits, the fraction of a second in the low 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The timestamp of `nanos` since the Unix epoch (era 0: before 2036-02-07), or `None` outside it.
    pub fn from_unix_nanos(nanos: u128) -> Option<Self> {
        let secs = nanos / NANOS_PER_S + u128::from(NTP_UNIX_OFFSET_S);
        let sub = nanos % NANOS_PER_S;
        let frac = (sub << 32) / NANOS_PER_S;
        u32::try_from(secs)
            .ok()
            .map(|s| Self((u64::from(s) << 32) | frac as u64))
    }

    /// Nanoseconds since the Unix epoch (rounded to the nearest), or `None` before 1970.
    pub fn to_unix_nanos(self) -> Option<u128> {
        let secs = u128::from(self.seconds()).checked_sub(u128::from(NTP_UNIX_OFFSET_S))?;
        let frac = (u128::from(self.fraction()) * NANOS_PER_S + (1 << 31)) >> 32;
        Some(secs * NANOS_PER_S + frac)
    }

    /// Whole seconds since 1900.
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Fraction of a second, in units of 2^-32 s.
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }
}

/// Why a reply was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer than 48 bytes.
    #[error("reply of {len} bytes, an SNTP reply has at least {PACKET_LEN}")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Not a server reply (mode 4).
    #[error("reply mode {mode}, expected 4 (server)")]
    NotServer {
        /// The mode received.
        mode: u8,
    },
    /// Stratum 0: the server says go away; `code` is its ASCII kiss code (RATE, DENY, RSTR, ...).
    #[error("kiss-o'-death from the server: {code}")]
    KissOfDeath {
        /// The four-letter code from the reference id.
        code: String,
    },
    /// Stratum above 15.
    #[error("stratum {stratum}, valid servers have 1-15")]
    BadStratum {
        /// The stratum received.
        stratum: u8,
    },
    /// Leap indicator 3: the server's clock is not synchronized.
    #[error("the server is unsynchronized (leap indicator 3)")]
    Unsynchronized,
    /// The origin timestamp is not our transmit timestamp: a stale or spoofed reply.
    #[error("origin timestamp {got:#018x} is not our transmit timestamp {sent:#018x}")]
    OriginMismatch {
        /// What we sent.
        sent: u64,
        /// What came back.
        got: u64,
    },
    /// A zero transmit timestamp.
    #[error("the server's transmit timestamp is zero")]
    ZeroTransmit,
}

/// A checked server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Leap indicator (0-2 here; 3 is rejected).
    pub leap: u8,
    /// Protocol version.
    pub version: u8,
    /// Stratum, 1-15.
    pub stratum: u8,
    /// Poll interval, log2 seconds.
    pub poll: i8,
    /// Precision, log2 seconds.
    pub precision: i8,
    /// Root delay, 16.16 fixed-point seconds.
    pub root_delay: u32,
    /// Root dispersion, 16.16 fixed-point seconds.
    pub root_dispersion: u32,
    /// Reference id (an IPv4 address or ASCII for stratum 1).
    pub reference_id: [u8; 4],
    /// When the server's clock was last set.
    pub reference: NtpTimestamp,
    /// Our transmit time, echoed.
    pub origin: NtpTimestamp,
    /// T2: when the server received the request.
    pub receive: NtpTimestamp,
    /// T3: when the server sent the reply.
    pub transmit: NtpTimestamp,
}

/// The 48-byte client request carrying `t1` as its transmit timestamp.
pub fn request(t1: NtpTimestamp) -> [u8; PACKET_LEN] {
    let mut p = [0_u8; PACKET_LEN];
    p[0] = REQUEST_BYTE0;
    p[40..48].copy_from_slice(&t1.0.to_be_bytes());
    p
}

fn word(bytes: &[u8], i: usize) -> u32 {
    let mut w = [0_u8; 4];
    w.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
    u32::from_be_bytes(w)
}

fn stamp(bytes: &[u8], i: usize) -> NtpTimestamp {
    NtpTimestamp((u64::from(word(bytes, i)) << 32) | u64::from(word(bytes, i + 1)))
}

/// Parses and checks a reply to the request sent with transmit timestamp `sent`, as RFC 5905 asks
/// of a client. Any byte sequence gives a reply or an error, never a panic.
pub fn parse_reply(bytes: &[u8], sent: NtpTimestamp) -> Result<Reply, PacketError> {
    if bytes.len() < PACKET_LEN {
        return Err(PacketError::TooShort { len: bytes.len() });
    }
    let b0 = bytes[0];
    let (leap, version, mode) = (b0 >> 6, (b0 >> 3) & 0x7, b0 & 0x7);
    if mode != 4 {
        return Err(PacketError::NotServer { mode });
    }
    let stratum = bytes[1];
    let reference_id = [bytes[12], bytes[13], bytes[14], bytes[15]];
    if stratum == 0 {
        let code = reference_id
            .iter()
            .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' })
            .collect();
        return Err(PacketError::KissOfDeath { code });
    }
    if stratum > 15 {
        return Err(PacketError::BadStratum { stratum });
    }
    if leap == 3 {
        return Err(PacketError::Unsynchronized);
    }
    let origin = stamp(bytes, 6);
    if origin != sent {
        return Err(PacketError::OriginMismatch {
            sent: sent.0,
            got: origin.0,
        });
    }
    let transmit = stamp(bytes, 10);
    if transmit.0 == 0 {
        return Err(PacketError::ZeroTransmit);
    }
    Ok(Reply {
        leap,
        version,
        stratum,
        poll: bytes[2] as i8,
        precision: bytes[3] as i8,
        root_delay: word(bytes, 1),
        root_dispersion: word(bytes, 2),
        reference_id,
        reference: stamp(bytes, 4),
        origin,
        receive: stamp(bytes, 8),
        transmit,
    })
}

/// Offset and round-trip delay of one exchange, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Server clock minus ours: ((T2 - T1) + (T3 - T4)) / 2.
    pub offset_ns: i64,
    /// Round trip minus the server's hold time: (T4 - T1) - (T3 - T2).
    pub delay_ns: i64,
}

/// Offset and delay from the four timestamps, computed in exact integer arithmetic on the 32.32
/// values and rounded once, to the nearest nanosecond, at the end.
pub fn sample(t1: NtpTimestamp, t2: NtpTimestamp, t3: NtpTimestamp, t4: NtpTimestamp) -> Sample {
    let (t1, t2, t3, t4) = (
        i128::from(t1.0),
        i128::from(t2.0),
        i128::from(t3.0),
        i128::from(t4.0),
    );
    let delay = (t4 - t1) - (t3 - t2); // units of 2^-32 s
    let offset2 = (t2 - t1) + (t3 - t4); // twice the offset, units of 2^-32 s
    Sample {
        offset_ns: to_ns(offset2, 33),
        delay_ns: to_ns(delay, 32),
    }
}

/// `units * 1e9 / 2^shift`, rounded to the nearest (halves away from zero), saturating into i64.
fn to_ns(units: i128, shift: u32) -> i64 {
    let scaled = units * 1_000_000_000;
    let half = 1_i128 << (shift - 1);
    let rounded = if scaled >= 0 {
        (scaled + half) >> shift
    } else {
        -((-scaled + half) >> shift)
    };
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(unix_ns: u128) -> NtpTimestamp {
        NtpTimestamp::from_unix_nanos(unix_ns).expect("in era 0")
    }

    /// A valid reply to `sent` with receive/transmit times `t2`, `t3`.
    fn reply(sent: NtpTimestamp, t2: NtpTimestamp, t3: NtpTimestamp) -> [u8; PACKET_LEN] {
        let mut p = [0_u8; PACKET_LEN];
        p[0] = 0x24; // leap 0, version 4, mode 4
        p[1] = 2;
        p[2] = 6;
        p[3] = 0xec; // precision -20
        p[4..8].copy_from_slice(&0x0000_0123_u32.to_be_bytes());
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[24..32].copy_from_slice(&sent.0.to_be_bytes());
        p[32..40].copy_from_slice(&t2.0.to_be_bytes());
        p[40..48].copy_from_slice(&t3.0.to_be_bytes());
        p
    }

    #[test]
    fn the_request_is_48_bytes_with_version_4_client_mode_and_our_time() {
        let t1 = ts(1_764_244_800_123_456_789);
        let p = request(t1);
        assert_eq!(p.len(), 48);
        assert_eq!(p[0], 0x23);
        assert!(p[1..40].iter().all(|&b| b == 0));
        assert_eq!(
            u64::from_be_bytes(p[40..48].try_into().expect("8 bytes")),
            t1.0
        );
        assert_eq!(t1.seconds(), (1_764_244_800 + NTP_UNIX_OFFSET_S) as u32);
    }

    #[test]
    fn a_good_reply_parses_and_gives_exact_offset_and_delay() {
        let base = 1_764_244_800_000_000_000_u128;
        // Server 250 ms ahead; 20 ms each way; 1 ms between receive and transmit.
        let (t1, t4) = (ts(base), ts(base + 41_000_000));
        let (t2, t3) = (ts(base + 270_000_000), ts(base + 271_000_000));
        let r = parse_reply(&reply(t1, t2, t3), t1).expect("valid");
        assert_eq!(
            (r.stratum, r.version, r.leap, r.poll, r.precision),
            (2, 4, 0, 6, -20)
        );
        assert_eq!((r.receive, r.transmit, r.root_delay), (t2, t3, 0x123));
        let s = sample(t1, t2, t3, t4);
        assert_eq!(s.delay_ns, 40_000_000);
        assert_eq!(s.offset_ns, 250_000_000);
    }

    #[test]
    fn every_rfc_5905_client_check_has_its_error() {
        let sent = ts(1_000_000_000_000_000_000);
        let good = reply(
            sent,
            ts(1_000_000_000_100_000_000),
            ts(1_000_000_000_200_000_000),
        );
        let with = |i: usize, b: u8| {
            let mut p = good;
            p[i] = b;
            p
        };
        assert_eq!(
            parse_reply(&good[..47], sent),
            Err(PacketError::TooShort { len: 47 })
        );
        assert_eq!(
            parse_reply(&with(0, 0x23), sent),
            Err(PacketError::NotServer { mode: 3 })
        );
        let mut kod = with(1, 0);
        kod[12..16].copy_from_slice(b"RATE");
        assert_eq!(
            parse_reply(&kod, sent),
            Err(PacketError::KissOfDeath {
                code: "RATE".into()
            })
        );
        assert_eq!(
            parse_reply(&with(1, 16), sent),
            Err(PacketError::BadStratum { stratum: 16 })
        );
        assert_eq!(
            parse_reply(&with(0, 0xe4), sent),
            Err(PacketError::Unsynchronized)
        );
        assert!(matches!(
            parse_reply(&good, NtpTimestamp(sent.0 + 1)),
            Err(PacketError::OriginMismatch { .. })
        ));
        let mut zero = good;
        zero[40..48].fill(0);
        assert_eq!(parse_reply(&zero, sent), Err(PacketError::ZeroTransmit));
        let mut longer = good.to_vec();
        longer.extend_from_slice(&[0; 20]);
        assert!(
            parse_reply(&longer, sent).is_ok(),
            "extension fields are allowed"
        );
    }

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        for ns in [0_u128, 1, 999_999_999, 1_764_244_800_123_456_789] {
            assert_eq!(ts(ns).to_unix_nanos(), Some(ns));
        }
        assert_eq!(
            NtpTimestamp::from_unix_nanos(u128::from(u32::MAX) * NANOS_PER_S),
            None
        );
        assert_eq!(
            NtpTimestamp(0).to_unix_nanos(),
            None,
            "1900 is before the Unix epoch"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_reply_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..80),
                                              sent in any::<u64>()) {
            let _ = parse_reply(&bytes, NtpTimestamp(sent));
        }

        #[test]
        fn offset_and_delay_are_exact_for_whole_nanoseconds(
            t1 in 10_000_000_000_u64..2_000_000_000_000_000_000,
            out in 0_u64..2_000_000_000, hold in 0_u64..10_000_000, back in 0_u64..2_000_000_000,
            ahead in -5_000_000_000_i64..5_000_000_000,
        ) {
            // Server clock = ours + ahead; the request takes `out`, the server holds `hold`,
            // the reply takes `back`. Timestamps are whole-nanosecond times, as a clock gives them.
            let t1n = u128::from(t1);
            let server = |ours: u128| (ours as i128 + i128::from(ahead)) as u128;
            let t2n = server(t1n + u128::from(out));
            let t3n = t2n + u128::from(hold);
            let t4n = t1n + u128::from(out + hold + back);
            let s = sample(ts(t1n), ts(t2n), ts(t3n), ts(t4n));
            // Each timestamp is floored to 2^-32 s (0.23 ns): a bound of 1 ns covers it exactly.
            prop_assert!((s.delay_ns - (out + back) as i64).abs() <= 1, "{s:?}");
            let want = ahead + (out as i64 - back as i64) / 2;
            prop_assert!((s.offset_ns - want).abs() <= 1, "{s:?} want {want}");
        }
    }
}
