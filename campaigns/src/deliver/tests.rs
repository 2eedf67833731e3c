use std::collections::HashSet;
use std::time::Duration;

use super::*;

#[test]
fn message_ids_are_stable_and_distinct_within_a_run() {
    assert_eq!(message_id(7, 2, 42), message_id(7, 2, 42));
    assert!(message_id(7, 2, 42).starts_with("c7-r2-"));
    let ids: HashSet<String> = (0..100_000).map(|r| message_id(7, 2, r)).collect();
    assert_eq!(ids.len(), 100_000);
    assert_ne!(message_id(7, 2, 42), message_id(7, 3, 42));
    assert_ne!(message_id(7, 2, 42), message_id(8, 2, 42));
    assert_eq!(idempotency_key(7, 2, 1, 42), idempotency_key(7, 2, 1, 42));
    assert_ne!(idempotency_key(7, 2, 1, 42), idempotency_key(7, 2, 0, 42));
}

#[test]
fn the_token_bucket_spends_a_burst_then_paces() {
    let mut b = TokenBucket::new(100);
    assert_eq!(b.take(100, Duration::ZERO), Duration::ZERO);
    // Empty: 50 more need half a second.
    assert_eq!(b.take(50, Duration::ZERO), Duration::from_millis(500));
    // A second later the deficit is paid and 50 are back.
    assert_eq!(b.take(50, Duration::from_secs(1)), Duration::ZERO);
    assert!(b.take(60, Duration::from_secs(1)) > Duration::ZERO);
}

#[test]
fn backoff_doubles_within_its_bounds() {
    let b = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    for draw in [0, 1, 12_345, u64::MAX] {
        let w0 = b.wait(0, draw);
        assert!(w0 >= Duration::from_millis(50) && w0 <= Duration::from_millis(100));
        let w2 = b.wait(2, draw);
        assert!(w2 >= Duration::from_millis(200) && w2 <= Duration::from_millis(400));
        let w9 = b.wait(40, draw);
        assert!(w9 >= Duration::from_millis(500) && w9 <= Duration::from_secs(1));
    }
}

#[test]
fn a_stopped_control_ends_waits_at_once() {
    let c = Control::new();
    assert!(!c.wait(Duration::from_millis(1)));
    let other = c.clone();
    let t = std::thread::spawn(move || other.wait(Duration::from_secs(60)));
    c.stop();
    assert!(t.join().unwrap());
    assert!(c.is_stopped());
}

#[test]
fn csv_fields_are_quoted_as_rfc_4180_says() {
    let mut out = Vec::new();
    file::csv_field(&mut out, "plain");
    out.push(b'|');
    file::csv_field(&mut out, "a, \"b\"\nc");
    assert_eq!(String::from_utf8(out).unwrap(), "plain|\"a, \"\"b\"\"\nc\"");
}
