//! `SELECT user_id` of a million rows streams: every id arrives, the same
//! as the HTTP CSV export's, and the server's peak memory grows by far
//! less than the answer would take if it were held (a million ids held as
//! rows take over 100 MB).

use std::io::Write;

use futures_util::StreamExt;

use super::common::{p, proc_status_kib, segdb};
use super::{Pg, READER};

const ROWS: usize = 1_000_000;

#[test]
fn a_million_ids_stream_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ids.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(w, "user_id,flag").unwrap();
    for i in 0..ROWS {
        writeln!(w, "user-{i:09},{}", u8::from(i % 7 != 3)).unwrap();
    }
    w.into_inner().unwrap().sync_all().unwrap();
    let schema = dir.path().join("schema.sql");
    std::fs::write(&schema, "CREATE TABLE ids (flag BOOL);\n").unwrap();
    let store = dir.path().join("store");
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "ids",
        "--schema",
        p(&schema),
        p(&csv),
    ]);
    assert!(ok, "{err}");
    let pg = Pg::start(&store, &[]);
    let query = "SELECT user_id FROM ids WHERE flag";
    // The HTTP export first: it streams too, and reads every page of the
    // id dictionary, so that what the store maps is counted before.
    let http = pg
        .http()
        .request(
            "POST",
            "/v1/query",
            &[("accept", "text/csv")],
            Some(query.as_bytes()),
        )
        .unwrap();
    assert_eq!(http.status, 200);
    let want: Vec<String> = http.text().lines().skip(1).map(str::to_owned).collect();
    assert_eq!(want.len(), (0..ROWS).filter(|i| i % 7 != 3).count());
    let before = proc_status_kib(pg.pid, "VmHWM:");
    let (rt, client) = pg.connect(READER);
    let got: Vec<String> = rt.block_on(async {
        let rows = client
            .query_raw(query, std::iter::empty::<i64>())
            .await
            .unwrap();
        let mut rows = std::pin::pin!(rows);
        let mut got = Vec::with_capacity(want.len());
        while let Some(r) = rows.next().await {
            got.push(r.unwrap().get::<_, String>(0));
        }
        got
    });
    let after = proc_status_kib(pg.pid, "VmHWM:");
    assert!(got == want, "{} ids, {} wanted", got.len(), want.len());
    let grew_mib = after.saturating_sub(before) / 1024;
    assert!(
        grew_mib < 48,
        "the server's peak memory grew by {grew_mib} MiB ({before} -> {after} KiB) for a streamed answer"
    );
}
