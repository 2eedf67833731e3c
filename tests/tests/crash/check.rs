//! Sending batches, and checking the server against the model.

use super::*;

/// How sending one batch ended.
pub(crate) enum Sent {
    /// 200: (seq, duplicate).
    Acked(u64, bool),
    /// No answer: the server went away.
    Lost,
}

/// Sends a batch until it is answered 200 or the server is gone; 503 is
/// waited out and retried with the same key. Anything else fails the test.
pub(crate) fn send(client: &Client, b: &Batch) -> Sent {
    let path = format!("/v1/tables/{TABLE}/ingest");
    loop {
        let r = client.request(
            "POST",
            &path,
            &[
                ("content-type", "application/x-ndjson"),
                ("idempotency-key", &b.key),
            ],
            Some(b.body.as_bytes()),
        );
        let r = match r {
            Ok(r) => r,
            Err(ClientError::Transport(_)) => return Sent::Lost,
            Err(e) => panic!("{e}"),
        };
        match r.status {
            200 => {
                let v = r.json();
                assert_eq!(v["table"], TABLE, "{v}");
                assert_eq!(v["operations"], b.ops.len() as u64, "{v}");
                let seq = v["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {v}"));
                let dup = v["duplicate"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("no duplicate: {v}"));
                return Sent::Acked(seq, dup);
            }
            503 => {
                let ms = r
                    .retry_after
                    .as_deref()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map_or(100, |s| (s * 1000).min(200));
                std::thread::sleep(Duration::from_millis(ms.max(20)));
            }
            s => panic!(
                "batch {} answered {s}: {}\nbody:\n{}",
                b.key,
                r.text(),
                b.body
            ),
        }
    }
}

/// What one client thread did during one server's life.
#[derive(Default)]
pub(crate) struct ThreadLog {
    pub(crate) acked: Vec<(u64, Batch)>,
    pub(crate) lost: Option<Batch>,
}

pub(crate) fn client_thread(url: &str, gen: &mut Gen, stop: &AtomicBool) -> ThreadLog {
    let client = Client::new(url, None);
    let mut log = ThreadLog::default();
    while !stop.load(Ordering::Relaxed) {
        let b = gen.batch();
        match send(&client, &b) {
            Sent::Acked(seq, dup) => {
                assert!(!dup, "a fresh batch {} was answered as a duplicate", b.key);
                log.acked.push((seq, b));
            }
            Sent::Lost => {
                log.lost = Some(b);
                break;
            }
        }
    }
    log
}

// ----------------------------------------------------------------- checking

pub(crate) fn count_query(client: &Client, filter: &str) -> u64 {
    let q = if filter.is_empty() {
        format!("SELECT COUNT(*) FROM {TABLE}")
    } else {
        format!("SELECT COUNT(*) FROM {TABLE} WHERE {filter}")
    };
    let v = client.query(&q).unwrap_or_else(|e| panic!("`{q}`: {e}"));
    v["rows"][0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("`{q}` answered {v}"))
}

pub(crate) type Pred = Box<dyn Fn(&Row) -> bool>;

pub(crate) fn checks() -> Vec<(String, Pred)> {
    let mut c: Vec<(String, Pred)> = vec![("".into(), Box::new(|_| true))];
    for i in 0..CITIES {
        let v = format!("c{i:03}");
        c.push((
            format!("city = '{v}'"),
            Box::new(move |r| r.city.as_deref() == Some(&v)),
        ));
    }
    c.push(("city IS NULL".into(), Box::new(|r| r.city.is_none())));
    for i in 0..INTERESTS {
        let v = format!("i{i:02}");
        c.push((
            format!("interests HAS '{v}'"),
            Box::new(move |r| r.interests.as_ref().is_some_and(|s| s.contains(&v))),
        ));
    }
    c.push((
        "interests IS NULL".into(),
        Box::new(|r| r.interests.is_none()),
    ));
    c.push((
        "interests HAS ALL ('i01', 'i02')".into(),
        Box::new(|r| {
            r.interests
                .as_ref()
                .is_some_and(|s| s.contains("i01") && s.contains("i02"))
        }),
    ));
    for (lo, hi) in [(0, 19), (20, 39), (40, 59), (60, 99), (25, 35)] {
        c.push((
            format!("age BETWEEN {lo} AND {hi}"),
            Box::new(move |r| r.age.is_some_and(|a| (lo..=hi).contains(&a))),
        ));
    }
    c.push((
        "age >= 50".into(),
        Box::new(|r| r.age.is_some_and(|a| a >= 50)),
    ));
    c.push(("age IS NULL".into(), Box::new(|r| r.age.is_none())));
    c.push(("vip = true".into(), Box::new(|r| r.vip == Some(true))));
    c.push(("vip = false".into(), Box::new(|r| r.vip == Some(false))));
    c.push(("vip IS NULL".into(), Box::new(|r| r.vip.is_none())));
    let windows = [
        ("2026-10-24", LAST_DAY),
        ("2026-11-01", LAST_DAY),
        ("2026-11-16", LAST_DAY),
        ("2026-11-05", "2026-11-05"),
    ];
    for (first, last) in windows {
        for (op, n) in [
            (">", 0u64),
            (">", 3),
            (">=", 10),
            ("=", 0),
            ("<", 5),
            ("=", 4),
        ] {
            let name = format!("count(search, '{first}'..'{last}') {op} {n}");
            c.push((
                name,
                Box::new(move |r| {
                    let e = events_in(r, first, last);
                    match op {
                        ">" => e > n,
                        ">=" => e >= n,
                        "=" => e == n,
                        "<" => e < n,
                        _ => unreachable!(),
                    }
                }),
            ));
        }
        c.push((
            format!("did(search, '{first}'..'{last}')"),
            Box::new(move |r| events_in(r, first, last) > 0),
        ));
    }
    c.push((
        "city = 'c001' AND count(search, '2026-11-01'..'2026-11-22') > 3".into(),
        Box::new(|r| r.city.as_deref() == Some("c001") && events_in(r, "2026-11-01", LAST_DAY) > 3),
    ));
    c.push((
        "(vip = true OR age < 30) AND NOT interests HAS 'i05'".into(),
        Box::new(|r| {
            (r.vip == Some(true) || r.age.is_some_and(|a| a < 30))
                && !r.interests.as_ref().is_some_and(|s| s.contains("i05"))
        }),
    ));
    c
}

/// A row as its profile shows it.
pub(crate) fn profile_row(client: &Client, id: &str) -> Option<Row> {
    let path = format!("/v1/tables/{TABLE}/profiles/{id}?days=30&as_of={LAST_DAY}");
    let r = client
        .request("GET", &path, &[], None)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    if r.status == 404 {
        return None;
    }
    let v = r.into_result().unwrap_or_else(|e| panic!("{path}: {e}"));
    let f = &v["fields"];
    let interests = match &f["interests"] {
        Value::Null => None,
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>(),
        ),
        x => panic!("{id}: interests {x}"),
    }
    .filter(|s| !s.is_empty());
    let mut search = BTreeMap::new();
    if let Some(d) = f["search"]["days"].as_object() {
        for (day, c) in d {
            let c = c.as_u64().unwrap();
            if c > 0 {
                search.insert(day.clone(), c);
            }
        }
    }
    Some(Row {
        city: f["city"].as_str().map(str::to_owned),
        interests,
        age: f["age"].as_i64(),
        vip: f["vip"].as_bool(),
        search,
    })
}

/// Compares the server with the model; `ids` are profiled one by one.
/// Compares the server with the model; `ids` are profiled one by one.
/// `retried` are the batches re-sent after the last restart, with their
/// answers (seq, duplicate): a failure says whether the difference in
/// event counts is exactly some of them applied twice.
pub(crate) fn check(
    client: &Client,
    model: &Model,
    ids: &[String],
    retried: &[(u64, bool, &Batch)],
    when: &str,
) {
    let mut bad = Vec::new();
    for (filter, pred) in checks() {
        let got = count_query(client, &filter);
        let want = model.count(pred);
        if got != want {
            bad.push(format!("  `{filter}`: server {got}, model {want}"));
        }
    }
    // (id, day) -> server count - model count, over the profiled rows.
    let mut diff: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut other_fields = 0;
    for id in ids {
        let got = profile_row(client, id);
        let want = model.rows.get(id);
        if got.as_ref() != want {
            bad.push(format!("  profile {id}: server {got:?}, model {want:?}"));
            let empty = Row::default();
            let (g, w) = (got.as_ref().unwrap_or(&empty), want.unwrap_or(&empty));
            if (&g.city, &g.interests, g.age, g.vip) != (&w.city, &w.interests, w.age, w.vip) {
                other_fields += 1;
            }
            for day in g.search.keys().chain(w.search.keys()) {
                let d = *g.search.get(day).unwrap_or(&0) as i64
                    - *w.search.get(day).unwrap_or(&0) as i64;
                if d != 0 {
                    diff.insert((id.clone(), day.clone()), d);
                }
            }
        }
    }
    if bad.is_empty() {
        return;
    }
    // Which re-sent batches would explain the event difference if applied twice?
    let profiled: BTreeSet<&String> = ids.iter().collect();
    let events_of = |b: &Batch| {
        let mut e: BTreeMap<(String, String), i64> = BTreeMap::new();
        for op in &b.ops {
            if let TOp::Event { id, day, count } = op {
                if profiled.contains(id) {
                    *e.entry((id.clone(), day.clone())).or_default() += count.unwrap_or(1) as i64;
                }
            }
        }
        e
    };
    let mut notes = vec![format!(
        "  event differences on {} (row, day) pairs, {other_fields} rows differing in other fields; \
         batches re-sent after the restart: {}",
        diff.len(),
        retried.len()
    )];
    let mut sum: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (seq, dup, b) in retried {
        let e = events_of(b);
        if !dup {
            for (k, v) in &e {
                *sum.entry(k.clone()).or_default() += v;
            }
        }
        notes.push(format!(
            "  re-sent {} ({} ops): answered seq {seq} duplicate {dup}; its events == the difference: {}",
            b.key,
            b.ops.len(),
            e == diff
        ));
    }
    if !diff.is_empty() && sum == diff {
        notes.push(
            "  => the event difference is exactly the re-sent batches answered `duplicate: false` \
             applied a second time: they had landed before the kill, but their Idempotency-Keys \
             were not known after the restart"
                .into(),
        );
    }
    panic!(
        "{when}: the server disagrees with the acknowledged batches:\n{}\n{}",
        notes.join("\n"),
        bad.join("\n")
    );
}

// --------------------------------------------------------------------- test
