//! Tests of the NTP status parsers (real sample lines, garbage, arbitrary bytes). The command source
//! against fake programs, the strategies and the recorder (on `MockClock`) are tested in
//! `components/tests/ntpstatus.rs`: there the mock clock implements this crate's `Clock`.

use proptest::prelude::*;

use super::*;

/// The sample lines of REFERENCE.md ("NTP status"), completed with the fields chrony prints between
/// (frequency fast).
const TRACKING: &str = fixtures::fakecmd::CHRONYC_TEXT_SAMPLE;

const TRACKING_CSV: &str = fixtures::fakecmd::CHRONYC_CSV_SAMPLE;

const NTPQ_RV: &str = fixtures::fakecmd::NTPQ_RV_SAMPLE;

#[test]
fn chronyc_tracking_parses_every_field_of_the_reference_sample() {
    let t = parse_chronyc_tracking(TRACKING.as_bytes()).expect("the reference sample parses");
    assert_eq!(t.reference_id, 0xCB00_710F);
    assert_eq!(t.reference_name, "foo.example.net");
    assert_eq!(t.stratum, 3);
    assert_eq!(t.ref_time, "Thu Nov 27 12:00:00 2025");
    assert_eq!(t.system_time_s, 0.000_006_523);
    assert_eq!(t.last_offset_s, -0.000_006_747);
    assert_eq!(t.rms_offset_s, 0.000_012_345);
    assert_eq!(t.frequency_ppm, -12.345, "fast is negative");
    assert_eq!(t.residual_freq_ppm, 0.001);
    assert_eq!(t.skew_ppm, 0.012);
    assert_eq!(t.root_delay_s, 0.001_234_567);
    assert_eq!(t.root_dispersion_s, 0.000_456_789);
    assert_eq!(t.update_interval_s, 64.2);
    assert_eq!(t.leap_status, LeapStatus::Normal);
    let s = t.status();
    assert!((s.offset_ms.expect("offset") - 0.006_523).abs() < 1e-12);
    assert!(s.synced);
    assert_eq!(s.source, StatusSource::Chronyc);
}

#[test]
fn the_system_time_sign_is_kept_slow_positive_fast_negative() {
    let fast = TRACKING.replace("seconds slow of NTP", "seconds fast of NTP");
    let t = parse_chronyc_tracking(fast.as_bytes()).expect("fast parses");
    assert_eq!(t.system_time_s, -0.000_006_523);
    assert!(t.offset_ms() < 0.0);
    let far = TRACKING.replace("0.000006523 seconds slow", "0.150000000 seconds fast");
    let s = parse_chronyc_tracking(far.as_bytes())
        .expect("parses")
        .status();
    assert_eq!(s.offset_ms, Some(-150.0));
    assert!(!s.synced, "150 ms off is not synced");
}

#[test]
fn chronyc_not_synchronised_is_never_synced_whatever_its_offset() {
    let unsynced = TRACKING
        .replace("CB00710F (foo.example.net)", "00000000 ()")
        .replace("Stratum         : 3", "Stratum         : 0")
        .replace("0.000006523 seconds slow", "0.000000000 seconds slow")
        .replace(
            "Leap status     : Normal",
            "Leap status     : Not synchronised",
        );
    let t = parse_chronyc_tracking(unsynced.as_bytes()).expect("parses");
    assert_eq!(t.reference_id, 0);
    assert_eq!(t.reference_name, "");
    assert_eq!(t.leap_status, LeapStatus::NotSynchronised);
    assert!(!t.status().synced);
}

#[test]
fn chronyc_csv_gives_the_same_fields_as_text() {
    let csv = parse_chronyc_csv(TRACKING_CSV.as_bytes()).expect("csv parses");
    let text = parse_chronyc_tracking(TRACKING.as_bytes()).expect("text parses");
    assert_eq!(csv.ref_time, "1764244800.000000000");
    assert_eq!(
        ChronyTracking {
            ref_time: text.ref_time.clone(),
            ..csv
        },
        text
    );
}

#[test]
fn truncated_chronyc_output_names_the_missing_field() {
    let cut: String = TRACKING.lines().take(3).collect::<Vec<_>>().join("\n");
    let e = parse_chronyc_tracking(cut.as_bytes()).expect_err("truncated");
    assert!(
        matches!(
            e,
            ParseError::MissingField {
                field: "System time",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("seconds slow of NTP time"), "{e}");
    let bad_dir = TRACKING.replace("seconds slow of", "seconds sideways of");
    let e = parse_chronyc_tracking(bad_dir.as_bytes()).expect_err("sideways");
    assert!(e.to_string().contains("System time"), "{e}");
    let nan = TRACKING.replace("0.000006523 seconds slow", "NaN seconds slow");
    assert!(matches!(
        parse_chronyc_tracking(nan.as_bytes()),
        Err(ParseError::BadValue {
            field: "System time",
            ..
        })
    ));
}

#[test]
fn chronyc_csv_with_the_wrong_shape_is_refused() {
    let short = "CB00710F,foo.example.net,3\n";
    assert_eq!(
        parse_chronyc_csv(short.as_bytes()),
        Err(ParseError::FieldCount {
            found: 3,
            expected: 14
        })
    );
    let twice = format!("{TRACKING_CSV}{TRACKING_CSV}");
    assert!(matches!(
        parse_chronyc_csv(twice.as_bytes()),
        Err(ParseError::FieldCount { found: 28, .. })
    ));
    let text_as_csv = parse_chronyc_csv(TRACKING.as_bytes());
    assert!(text_as_csv.is_err());
}

#[test]
fn ntpq_rv_reads_offset_and_stratum_across_lines_and_quotes() {
    let v = parse_ntpq_rv(NTPQ_RV.as_bytes()).expect("rv parses");
    assert_eq!(v.offset_ms, -0.123_456);
    assert_eq!(v.stratum, Some(2));
    assert_eq!(v.leap.as_deref(), Some("00"));
    assert_eq!(v.refid.as_deref(), Some("192.0.2.1"));
    assert_eq!(v.sys_jitter_ms, Some(0.067_89));
    assert!(
        v.all
            .iter()
            .any(|(k, val)| k == "version" && val.contains("Wed Feb 16"))
    );
    assert!(v.all.iter().any(|(k, val)| k == "status" && val == "0615"));
    let s = v.status();
    assert_eq!(s.offset_ms, Some(-0.123_456));
    assert!(s.synced);
    assert_eq!(s.source, StatusSource::Ntpq);
}

#[test]
fn ntpq_rv_offset_only_parses_but_cannot_prove_the_stratum() {
    let v = parse_ntpq_rv(b"offset=-0.123456\n").expect("rv 0 offset parses");
    assert_eq!(v.offset_ms, -0.123_456);
    assert_eq!(v.stratum, None);
    assert!(!v.status().synced);
    let v = parse_ntpq_rv(b"offset=1.5, stratum=5\n").expect("parses");
    assert!(!v.status().synced, "stratum 5 is above the limit of 4");
}

#[test]
fn ntpq_errors_are_typed() {
    for (input, want) in [
        ("", "printed nothing"),
        ("   \n\t", "printed nothing"),
        ("ntpq: read: Connection refused", "no `offset` field"),
        (
            "localhost: timed out, nothing received\n***Request timed out",
            "no `offset` field",
        ),
        ("offset=abc, stratum=2", "`offset` has value \"abc\""),
        ("offset=inf, stratum=2", "finite"),
        ("offset=1.0, stratum=300", "`stratum`"),
    ] {
        let e = parse_ntpq_rv(input.as_bytes()).expect_err(input);
        assert!(e.to_string().contains(want), "{input:?}: {e}");
    }
    assert!(matches!(
        parse_ntpq_rv(&[b'o', 0xff, 0xfe]),
        Err(ParseError::NotUtf8 { at: 1, .. })
    ));
    let huge = vec![b'a'; MAX_OUTPUT_BYTES + 1];
    assert!(matches!(
        parse_chronyc_tracking(&huge),
        Err(ParseError::TooLong { .. })
    ));
}

#[test]
fn the_synced_rule_is_inclusive_at_100_ms_and_stratum_4() {
    assert!(is_synced(100.0, None));
    assert!(is_synced(-100.0, Some(4)));
    assert!(!is_synced(100.001, None));
    assert!(!is_synced(0.0, Some(5)));
    assert!(!is_synced(f64::NAN, None));
}

#[test]
fn status_json_keeps_sign_and_nulls() {
    let s = parse_chronyc_tracking(TRACKING.as_bytes())
        .expect("parses")
        .status();
    assert_eq!(
        s.to_json(),
        "{\"offset_ms\":0.006523,\"stratum\":3,\"synced\":true,\"source\":\"chronyc\"}"
    );
    assert_eq!(
        NtpStatus::UNKNOWN.to_json(),
        "{\"offset_ms\":null,\"stratum\":null,\"synced\":false,\"source\":\"unknown\"}"
    );
}

fn any_parse(bytes: &[u8]) {
    let _ = parse_chronyc_tracking(bytes);
    let _ = parse_chronyc_csv(bytes);
    let _ = parse_ntpq_rv(bytes);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        any_parse(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in "\\PC{0,400}") {
        any_parse(text.as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_cut_or_spliced_real_output(
        which in 0usize..3,
        cut in 0usize..700,
        insert in "[ :,=()\"\\-+.0-9a-zA-Z\n]{0,12}",
    ) {
        let real = [TRACKING, TRACKING_CSV, NTPQ_RV][which].as_bytes();
        let at = cut.min(real.len());
        let mut bytes = real[..at].to_vec();
        bytes.extend_from_slice(insert.as_bytes());
        bytes.extend_from_slice(&real[at..]);
        any_parse(&bytes);
        any_parse(&real[..at]);
    }

    #[test]
    fn a_parsed_offset_is_always_finite(text in "(offset=[-+]?[0-9a-z.]{0,8}, stratum=[0-9]{0,3}\n){0,3}") {
        if let Ok(v) = parse_ntpq_rv(text.as_bytes()) {
            prop_assert!(v.offset_ms.is_finite());
            prop_assert!(v.status().offset_ms.is_some_and(f64::is_finite));
        }
    }
}
