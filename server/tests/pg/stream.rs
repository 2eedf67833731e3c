//! `SELECT user_id` of a million rows streams: every id arrives, the same
//! as the HTTP CSV export's, and the server's peak memory after streaming
//! 857,143 ids is hardly above its peak after streaming 200,000 (ids held
//! as rows take over 100 bytes each: the difference would be over 60 MB).

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
    let (rt, client) = pg.connect(READER);
    let read = |q: &str| -> Vec<String> {
        rt.block_on(async {
            let rows = client
                .query_raw(q, std::iter::empty::<i64>())
                .await
                .unwrap();
            let mut rows = std::pin::pin!(rows);
            let mut got = Vec::new();
            while let Some(r) = rows.next().await {
                got.push(r.unwrap().get::<_, String>(0));
            }
            got
        })
    };
    // A first stream of 200,000 ids sets the server's peak for one: the
    // channel, the batches, the connection's buffers.
    let first = read(&format!("{query} LIMIT 200000"));
    assert_eq!(first[..], want[..200_000]);
    let before = proc_status_kib(pg.pid, "VmHWM:");
    // Then all of them, over four times as many: streamed, the peak
    // hardly moves; held, they would add over 60 MB.
    let got = read(query);
    let after = proc_status_kib(pg.pid, "VmHWM:");
    assert!(got == want, "{} ids, {} wanted", got.len(), want.len());
    eprintln!(
        "peak memory {before} -> {after} KiB for {} streamed ids",
        got.len()
    );
    let grew_mib = after.saturating_sub(before) / 1024;
    assert!(
        grew_mib < 24,
        "the server's peak memory grew by {grew_mib} MiB ({before} -> {after} KiB) from 200,000 streamed ids to {}",
        got.len()
    );
}
