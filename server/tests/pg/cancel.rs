//! A CancelRequest stops the query running on its connection (57014), and
//! the connection answers the next query. The server runs in this process
//! so that every chunk's evaluation can be made slow (the engine's test
//! pause, cut short by a cancel) and its running queries watched.

use std::time::{Duration, Instant};

use segdb_server::http::config::{parse_token, Settings};
use segdb_server::http::{self, AppState};

use super::{connect, store, READER};

#[test]
fn cancel_request_stops_a_long_query() {
    let (_dir, data) = store(2_000);
    let config = Settings {
        data: Some(data.clone()),
        listen: Some("127.0.0.1:0".into()),
        query_timeout_ms: Some(600_000),
        tokens: vec![parse_token(&format!("{}:read:{}", READER.0, READER.1)).unwrap()],
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    let store = http::ingest::open_store(&config, false).unwrap();
    let state = AppState::new(store, config).unwrap();
    // Each chunk takes ten minutes unless its query is cancelled.
    segdb_engine::cancel::pause_each_chunk_for_tests(Duration::from_secs(600));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(segdb_server::pg::serve(
            state.clone(),
            listener,
            std::future::pending(),
        ));
        let conninfo = format!(
            "host=127.0.0.1 port={} user={} password={}",
            addr.port(),
            READER.0,
            READER.1
        );
        let client = connect(&conninfo).await.unwrap();
        let token = client.cancel_token();
        let query = client.simple_query("SELECT COUNT(*) FROM users WHERE age > 30");
        // Cancel once the query runs.
        let cancel = async {
            let deadline = Instant::now() + Duration::from_secs(60);
            while state.running.is_empty() {
                assert!(Instant::now() < deadline, "the query never started");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        };
        let (r, ()) = tokio::join!(query, cancel);
        let e = r.unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{e}"));
        assert_eq!(db.code().code(), "57014", "{db:?}");
        assert!(db.message().contains("cancelled"), "{db:?}");
        // The connection goes on, and so does the server.
        segdb_engine::cancel::pause_each_chunk_for_tests(Duration::ZERO);
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM users", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 2_000);
    });
}
