//! Two processes on one store: the second is refused, naming the first, and
//! the store survives (issue 11, item 2: `segdb import` beside `segdb serve`
//! deleted the server's new parts).

use segdb_server::client::Client;

use crate::common::{p, segdb};
use crate::{serve, terminate};

fn ingest(url: &str, body: &str) {
    let r = Client::new(url, None)
        .request("POST", "/v1/tables/t/ingest", &[], Some(body.as_bytes()))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

fn count(url: &str) -> u64 {
    let v = Client::new(url, None)
        .query("SELECT COUNT(*) FROM t")
        .unwrap();
    v["rows"][0][0].as_u64().unwrap()
}

#[test]
fn import_and_query_beside_a_server_are_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let (child, url) = serve(p(&data));
    let pid = child.id();
    Client::new(&url, None)
        .query("CREATE TABLE t (city ENUM)")
        .unwrap();
    ingest(&url, "{\"id\":\"a\",\"set\":{\"city\":\"x\"}}\n");

    let csv = dir.path().join("more.csv");
    std::fs::write(&csv, "user_id,city\nb,y\nc,y\n").unwrap();
    let (ok, out, err) = segdb(&["import", "--data", p(&data), "--table", "t", p(&csv)]);
    assert!(!ok, "an import beside the server succeeded: {out}");
    assert!(err.contains(&format!("process {pid}")), "{err}");
    assert!(err.contains("segdb serve --data"), "{err}");
    assert!(err.contains("POST /v1/tables/t/import"), "{err}");
    let (ok, _, err) = segdb(&["query", "--data", p(&data), "SELECT COUNT(*) FROM t"]);
    assert!(!ok);
    assert!(err.contains(&format!("process {pid}")), "{err}");
    assert!(err.contains("POST /v1/query"), "{err}");
    // A check takes the lock shared: not beside a writer either.
    let (ok, _, err) = segdb(&["check", "--data", p(&data)]);
    assert!(!ok);
    assert!(err.contains(&format!("process {pid}")), "{err}");

    // The server goes on, flushes at shutdown, and the store opens after it.
    ingest(&url, "{\"id\":\"d\",\"set\":{\"city\":\"z\"}}\n");
    assert_eq!(count(&url), 2);
    terminate(child);
    let (ok, out, err) = segdb(&[
        "query",
        "--data",
        p(&data),
        "--format",
        "csv",
        "SELECT COUNT(*) FROM t",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "count\n2\n");
    // And it takes the import now.
    let (ok, _, err) = segdb(&["import", "--data", p(&data), "--table", "t", p(&csv)]);
    assert!(ok, "{err}");
}
