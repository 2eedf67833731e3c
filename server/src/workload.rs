//! The standard workload of ../shared/bench/DATASET.md as segdb statements.

/// W1–W6: the count workloads, as of the data set's "today".
pub const COUNT_WORKLOADS: [(&str, &str); 6] = [
    ("W1", "SELECT COUNT(*) FROM users WHERE gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios'"),
    ("W2", "SELECT COUNT(*) FROM users WHERE (is_owner OR member_level >= 3) AND NOT flag_3"),
    ("W3", "SELECT COUNT(*) FROM users WHERE city = 'c000' AND count(search, last 7 days) > 3 AS OF '2026-11-22'"),
    ("W4", "SELECT COUNT(*) FROM users WHERE did(view, last 14 days) AND NOT did(book, last 14 days) AS OF '2026-11-22'"),
    ("W5", "SELECT COUNT(*) FROM users WHERE interests HAS 'i01' AND interests HAS 'i05' AND NOT interests HAS 'i00'"),
    ("W6", "SELECT COUNT(*) FROM users WHERE district IN ('d0100', 'd0101', 'd0102', 'd0103', 'd0104', 'd0105', 'd0106', 'd0107', 'd0108', 'd0109', 'd0110', 'd0111', 'd0112', 'd0113', 'd0114', 'd0115', 'd0116', 'd0117', 'd0118', 'd0119', 'd0120', 'd0121', 'd0122', 'd0123', 'd0124', 'd0125', 'd0126', 'd0127', 'd0128', 'd0129', 'd0130', 'd0131', 'd0132', 'd0133', 'd0134', 'd0135', 'd0136', 'd0137', 'd0138', 'd0139', 'd0140', 'd0141', 'd0142', 'd0143', 'd0144', 'd0145', 'd0146', 'd0147', 'd0148', 'd0149')"),
];

/// W9: the 10 cities with most users inside W2.
pub const W9: &str = "SELECT city, COUNT(*) FROM users WHERE (is_owner OR member_level >= 3) AND NOT flag_3 GROUP BY city ORDER BY COUNT(*) DESC LIMIT 10";

/// W10: the user whose profile is read.
pub const W10_ID: &str = "u000000042";

/// W7: insight of the W1 segment: count and share per value of gender,
/// city, education, os, member_level, product and interests; age in 5-year
/// bins; income statistics with the default quantiles (p25, p50, p75,
/// p90, p99, as `POST /v1/insight` gives them unless asked otherwise);
/// TGI of each value against all users (the table-wide counts come with
/// every value).
pub fn w7_options() -> segdb_engine::insight::InsightOptions {
    let today = segdb_engine::date::today();
    segdb_engine::insight::InsightOptions {
        fields: [
            "gender",
            "city",
            "education",
            "os",
            "member_level",
            "product",
            "interests",
            "age",
            "income",
        ]
        .map(String::from)
        .to_vec(),
        top: None,
        bucket_width: None,
        bucket_widths: vec![("age".into(), 5)],
        quantiles: segdb_engine::insight::InsightOptions::QUANTILES.to_vec(),
        window: segdb_engine::DayRange {
            first: today - 29,
            last: today,
        },
    }
}
