//! A damaged id dictionary: every path that looks external ids up answers
//! an error naming the file (500, `data_corruption`), never a smaller
//! count, a segment of fewer rows, or a write applied to a new row.

use serde_json::Value;

use super::*;

/// Flips 8 bytes in the middle of the table's only dictionary part; its
/// file name.
fn damage_dictionary(store: &Path) -> String {
    let parts: Vec<PathBuf> = std::fs::read_dir(store.join("users"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("ids-") && name.ends_with(".seg")
        })
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    as_version_1(store, &parts[0]);
    let mut bytes = std::fs::read(&parts[0]).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0x5a;
    }
    std::fs::write(&parts[0], bytes).unwrap();
    parts[0].file_name().unwrap().to_string_lossy().into_owned()
}

/// The generated ids (`u000000000`…) are a counter, whose version 2 part
/// holds only the rule, read whole at open (damage there fails the open).
/// The part is written again as version 1, as an old store has it: an ids
/// page and hash pages that only some lookups read; the manifest follows.
fn as_version_1(store: &Path, part: &Path) {
    use segdb_storage_format::dictionary::{v1::write_v1_part, DictionaryPart};
    use segdb_storage_format::manifest::Manifest;
    let d = DictionaryPart::open_mapped(part).unwrap();
    let first = d.first_row();
    let rows: Vec<u64> = (first..first + u64::from(d.num_ids())).collect();
    let mut ids = Vec::new();
    d.for_each_id(&rows, |_, b| {
        ids.push(String::from_utf8(b.to_vec()).unwrap());
        true
    })
    .unwrap();
    drop(d);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let len = write_v1_part(part, first, &refs).unwrap();
    let name = part.file_name().unwrap().to_string_lossy().into_owned();
    let mut m = Manifest::load(store).unwrap().unwrap();
    for d in &mut m.tables.get_mut("users").unwrap().dictionary {
        if d.file == name {
            d.bytes = len;
        }
    }
    m.store(store).unwrap();
}

/// Asserts a 500 `data_corruption` answer naming `file`.
fn assert_corruption(r: &RawResponse, file: &str, what: &str) {
    assert_eq!(r.status, 500, "{what}: {}", r.text());
    let v: Value = r.json();
    assert_eq!(v["error"]["code"], "data_corruption", "{what}: {v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(file), "{what}: {message}");
}

fn query(c: &Client, text: &str) -> RawResponse {
    post(c, "/v1/query", "text/plain; charset=utf-8", text)
}

#[test]
fn a_damaged_id_dictionary_is_an_error_on_every_path_that_looks_ids_up() {
    // 6,000 ids: one ids page and two hash pages, so that the flipped
    // bytes in the middle of the file land in a checked block that only
    // some lookups read.
    let (_dir, store, data) = generated(6000);
    let ids: Vec<&str> = data.rows().map(|r| r.id()).collect();
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let file = damage_dictionary(&store);
    let server = Server::start(&store, Settings::default());
    let c = server.client(None);
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 6000);

    let r = query(
        &c,
        &format!("SELECT COUNT(*) FROM users WHERE user_id IN ({list})"),
    );
    assert_corruption(&r, &file, "IN");
    let r = query(
        &c,
        &format!("SELECT COUNT(*) FROM users WHERE NOT user_id IN ({list})"),
    );
    assert_corruption(&r, &file, "NOT IN");

    // A SNAPSHOT segment from ids, and an uploaded id list: no segment.
    let r = query(
        &c,
        &format!("CREATE SEGMENT picked SNAPSHOT AS SELECT FROM users WHERE user_id IN ({list})"),
    );
    assert_corruption(&r, &file, "SNAPSHOT");
    let csv = format!("user_id\n{}\n", ids.join("\n"));
    let r = put(&c, "/v1/segments/uploaded?table=users", "text/csv", &csv);
    assert_corruption(&r, &file, "upload");
    assert_eq!(get(&c, "/v1/segments").json()["segments"], json!([]));

    // A profile, by route and by CALL, of ids until one reads the damage;
    // an import touching existing ids.
    let mut refused = 0;
    for id in &ids {
        let r = get(&c, &format!("/v1/tables/users/profiles/{id}"));
        if r.status != 200 {
            assert_corruption(&r, &file, "profile");
            let r = query(&c, &format!("CALL profile('users', '{id}')"));
            assert_corruption(&r, &file, "CALL profile");
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "no profile read the damaged block");
    let r = post(
        &c,
        "/v1/tables/users/import",
        "text/csv",
        &format!("user_id,city\n{}\n", ids.join(",c000\n")),
    );
    assert_corruption(&r, &file, "import");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 6000);

    // An ingest touching every existing id is refused before the WAL, so
    // it neither makes new rows nor stops later writes.
    let body: String = ids
        .iter()
        .map(|id| format!("{{\"id\":\"{id}\",\"set\":{{\"city\":\"c000\"}}}}\n"))
        .collect();
    let r = c
        .request(
            "POST",
            "/v1/tables/users/ingest",
            &[("content-type", "application/x-ndjson")],
            Some(body.as_bytes()),
        )
        .unwrap();
    assert_corruption(&r, &file, "ingest");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 6000);
    // Lookups that read only undamaged blocks still work: some of these
    // new ids are written (and each other one is refused as damage).
    let mut written = 0;
    for i in 0..200 {
        let line = format!("{{\"id\":\"fresh{i}\",\"set\":{{\"city\":\"c000\"}}}}\n");
        let r = c
            .request(
                "POST",
                "/v1/tables/users/ingest",
                &[("content-type", "application/x-ndjson")],
                Some(line.as_bytes()),
            )
            .unwrap();
        if r.status == 200 {
            written += 1;
        } else {
            assert_corruption(&r, &file, "ingest of a new id");
        }
    }
    assert!(written > 0, "no write went through after a refused one");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM users"), 6000 + written);
}

/// Flips a byte in the middle of `path`.
fn flip_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
}

/// `SHOW CAMPAIGNS` over a damaged campaign catalog and `CALL
/// campaign_status` over a damaged run file answer `data_corruption`
/// naming the file (they read the files, not the server's memory).
#[test]
fn damaged_campaign_files_are_data_corruption_in_the_language() {
    use super::campaigns::{act, create, def, server, show, status, ANN, READER};
    let (dir, store, _data, s) = server(300);
    let out = dir.path().join("campaign-out");
    let body = def(
        "x",
        "city = 'c003'",
        serde_json::json!({"channel": {"file": {"dir": out.to_str().unwrap(), "format": "jsonl"}}}),
    );
    status(&create(&s, ANN, &body), 201);
    status(&act(&s, ANN, "x", "start"), 200);
    // The run is delivered to a file and ends; nothing writes after that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while show(&s, "x")["state"] != "done" {
        assert!(std::time::Instant::now() < deadline, "{}", show(&s, "x"));
        std::thread::yield_now();
    }
    let c = s.client(Some(READER));

    let run_dir = store.join("campaigns.d").join("runs").join("1-1");
    let variant = run_dir.join("variant-0.roar");
    flip_middle(&variant);
    let r = query(&c, "CALL campaign_status('x')");
    assert_corruption(&r, "variant-0.roar", "campaign_status");

    let catalog = store.join("campaigns.d").join("catalog.camp");
    flip_middle(&catalog);
    let r = query(&c, "SHOW CAMPAIGNS");
    assert_corruption(&r, "catalog.camp", "SHOW CAMPAIGNS");
    let r = query(&c, "CALL campaign_status('x')");
    assert_corruption(&r, "catalog.camp", "campaign_status");
}
