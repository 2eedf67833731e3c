//! The report's statistics against values computed to 40 digits (mpmath)
//! and by hand.
// The reference values are written with the 20 digits they were computed
// to, more than an f64 holds: the literal rounds to the nearest f64.
#![allow(clippy::excessive_precision)]

use super::*;

/// `(x, erfc(x))`, erfc to 20 significant digits: every branch of
/// [`erfc`], both sides of the switch at `x² = 1.5`, far into the tail,
/// negative `x`.
const ERFC: &[(f64, f64)] = &[
    (0.0, 1.0),
    (1e-300, 1.0),
    (1e-10, 9.9999999988716208329e-1),
    (0.01, 9.8871658444415038308e-1),
    (0.1, 8.875370839817151078e-1),
    (0.3, 6.7137324054087257236e-1),
    (0.5, 4.7950012218695346232e-1),
    (0.7, 3.2219880616258152702e-1),
    (1.0, 1.5729920705028513066e-1),
    (1.1, 1.1979493042591830023e-1),
    (1.2, 8.9686021770364619762e-2),
    (1.2247448713915889, 8.3264516663550439394e-2),
    (1.2247448713915892, 8.3264516663550363862e-2),
    (1.3, 6.5992055059347563396e-2),
    (1.5, 3.3894853524689272933e-2),
    (1.75, 1.3328328780817556228e-2),
    (2.0, 4.6777349810472658379e-3),
    (2.5, 4.0695201744495893956e-4),
    (3.0, 2.2090496998585441373e-5),
    (3.5, 7.4309837234141274552e-7),
    (4.0, 1.5417257900280018852e-8),
    (5.0, 1.5374597944280348502e-12),
    (6.0, 2.1519736712498913117e-17),
    (7.0, 4.1838256077794143986e-23),
    (8.0, 1.122429717298292708e-29),
    (10.0, 2.088487583762544757e-45),
    (12.0, 1.3562611692059042128e-64),
    (15.0, 7.2129941724512066666e-100),
    (20.0, 5.3958656116079009289e-176),
    (25.0, 8.300172571196522752e-274),
    (26.5, 2.2109076642637342759e-307),
    (-0.25, 1.276326390168236933),
    (-1.0, 1.8427007929497148693),
    (-3.0, 1.9999779095030014146),
    (-6.0, 1.9999999999999999785),
];

#[test]
fn erfc_is_accurate_over_the_whole_range() {
    for &(x, want) in ERFC {
        let got = erfc(x);
        let rel = ((got - want) / want).abs();
        assert!(
            rel < 1e-14,
            "erfc({x}) = {got:e}, want {want:e} (relative error {rel:e})"
        );
    }
    // The values the brief names, to the last digit printed.
    assert_eq!(erfc(0.0), 1.0);
    for (x, want) in [
        (0.5, 0.4795001221869535),
        (1.0, 0.15729920705028513),
        (2.0, 0.004677734981047266),
        (3.0, 2.209049699858544e-05),
        (5.0, 1.5374597944280349e-12),
    ] {
        assert!(
            ((erfc(x) - want) / want).abs() < 1e-14,
            "erfc({x}) = {:e}",
            erfc(x)
        );
    }
    assert_eq!(erfc(30.0), 0.0);
    assert_eq!(erfc(f64::INFINITY), 0.0);
    assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    assert!(erfc(f64::NAN).is_nan());
}

#[test]
fn erfc_decreases() {
    let mut last = erfc(-6.0);
    let mut x = -6.0;
    while x < 27.0 {
        x += 1.0 / 64.0;
        let v = erfc(x);
        assert!(v <= last, "erfc({x}) = {v} > erfc of less");
        last = v;
    }
}

#[test]
fn two_sided_p_values() {
    // 1.96 is the 5% point; 1 and 3 standard deviations.
    for (z, want) in [
        (Z_95, 0.050000000000000027531),
        (1.0, 0.31731050786291410283),
        (-1.0, 0.31731050786291410283),
        (3.0, 0.0026997960632601890533),
        (0.0, 1.0),
    ] {
        let p = normal_two_sided_p(z);
        assert!(
            ((p - want) / want).abs() < 1e-14,
            "p({z}) = {p}, want {want}"
        );
    }
}

#[test]
fn rates() {
    assert_eq!(Rate { hits: 3, n: 4 }.value(), Some(0.75));
    assert_eq!(Rate { hits: 0, n: 0 }.value(), None);
}

#[test]
fn the_uplift_of_a_hand_computed_case() {
    // 120 of 1,000 treated, 80 of 1,000 held out: p1 = 0.12, p0 = 0.08.
    // diff = 0.04; SE = sqrt(.12·.88/1000 + .08·.92/1000) = sqrt(0.0001792)
    // = 0.0133865604…; CI = 0.04 ± 1.959963984540054 · SE. Pooled p = 0.1,
    // pooled SE = sqrt(.1·.9·(2/1000)) = sqrt(0.00018) = 0.0134164078…,
    // z = 0.04 / 0.0134164078… = 2.98142397…, p = erfc(z/√2).
    let u = uplift(Rate { hits: 120, n: 1000 }, Rate { hits: 80, n: 1000 }).unwrap();
    let close = |got: f64, want: f64| ((got - want) / want).abs() < 1e-12;
    assert!(close(u.diff, 0.04), "{u:?}");
    assert!(close(u.ci_low, 0.013762823691022172579), "{u:?}");
    assert!(close(u.ci_high, 0.066237176308977827421), "{u:?}");
    assert!(close(u.z.unwrap(), 2.9814239699997195952), "{u:?}");
    assert!(close(u.p_value.unwrap(), 0.0028691127920766157542), "{u:?}");
    // The other way round: the same test, the sign turned.
    let v = uplift(Rate { hits: 80, n: 1000 }, Rate { hits: 120, n: 1000 }).unwrap();
    assert!(close(v.diff, -0.04) && close(v.z.unwrap(), -2.9814239699997195952));
    assert_eq!(v.p_value, u.p_value);
    assert!(close(v.ci_low, -0.066237176308977827421));
}

#[test]
fn no_uplift_without_users_and_no_test_without_variance() {
    assert_eq!(uplift(Rate { hits: 0, n: 0 }, Rate { hits: 1, n: 2 }), None);
    assert_eq!(uplift(Rate { hits: 1, n: 2 }, Rate { hits: 0, n: 0 }), None);
    // Nobody met the goal on either side: a zero interval and no test.
    let u = uplift(Rate { hits: 0, n: 50 }, Rate { hits: 0, n: 10 }).unwrap();
    assert_eq!(
        (u.diff, u.ci_low, u.ci_high, u.z, u.p_value),
        (0.0, 0.0, 0.0, None, None)
    );
    // Everybody did.
    let u = uplift(Rate { hits: 50, n: 50 }, Rate { hits: 10, n: 10 }).unwrap();
    assert_eq!((u.diff, u.z, u.p_value), (0.0, None, None));
    // Everybody treated, nobody held out: the interval is 0 wide (each
    // side's own variance is 0), the pooled test still has variance.
    let u = uplift(Rate { hits: 5, n: 5 }, Rate { hits: 0, n: 5 }).unwrap();
    assert_eq!((u.diff, u.ci_low, u.ci_high), (1.0, 1.0, 1.0));
    assert!(
        ((u.z.unwrap() - 10f64.sqrt()) / 10f64.sqrt()).abs() < 1e-15,
        "{u:?}"
    );
}

#[test]
fn an_uplift_serializes_with_nulls() {
    let u = uplift(Rate { hits: 0, n: 50 }, Rate { hits: 0, n: 10 }).unwrap();
    assert_eq!(
        serde_json::to_value(u).unwrap(),
        serde_json::json!({"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "z": null, "p_value": null})
    );
}
