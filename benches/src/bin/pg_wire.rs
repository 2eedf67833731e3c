//! W1 and W5 over the Postgres wire protocol: round-trip latency (one
//! client, simple query protocol: one round trip, as psql sends it) and
//! throughput (`--clients` connections at once), against a running
//! `segdb serve --pg-listen`. Compare with `segdb bench --url … --only
//! W1,W5` on the same server for HTTP.
//!
//! `cargo run --release -p segdb-benches --bin pg_wire -- --addr 127.0.0.1:5433 [--user NAME --password SECRET] [--runs 2000] [--clients 4]`

use std::process::ExitCode;
use std::time::Instant;

/// The workloads, as `segdb_server::workload` has them.
const WORKLOADS: &[(&str, &str)] = &[
    ("W1", "SELECT COUNT(*) FROM users WHERE gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios'"),
    ("W5", "SELECT COUNT(*) FROM users WHERE interests HAS 'i01' AND interests HAS 'i05' AND NOT interests HAS 'i00'"),
];

struct Args {
    addr: String,
    user: String,
    password: String,
    runs: usize,
    clients: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:5433".into(),
        user: "local".into(),
        password: String::new(),
        runs: 2000,
        clients: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?,
            "--user" => a.user = value()?,
            "--password" => a.password = value()?,
            "--runs" => a.runs = value()?.parse().map_err(|_| "--runs is a number")?,
            "--clients" => a.clients = value()?.parse().map_err(|_| "--clients is a number")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

async fn connect(a: &Args) -> Result<tokio_postgres::Client, String> {
    let (host, port) = a.addr.rsplit_once(':').ok_or("--addr is HOST:PORT")?;
    let conninfo = format!(
        "host={host} port={port} user={} password={} dbname=segdb",
        a.user, a.password
    );
    let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connecting to {}: {e}", a.addr))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// One query's answer (the count), timed.
async fn once(c: &tokio_postgres::Client, q: &str) -> Result<(String, f64), String> {
    let start = Instant::now();
    let msgs = c.simple_query(q).await.map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let answer = msgs
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default();
    Ok((answer, ms))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(a: Args) -> Result<(), String> {
    println!(
        "server {} (Postgres protocol), {} clients",
        a.addr, a.clients
    );
    println!(
        "{:<4} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "id", "answer", "median ms", "p90 ms", "p99 ms", "q/s"
    );
    let first = connect(&a).await?;
    let mut clients = vec![first];
    for _ in 1..a.clients.max(1) {
        clients.push(connect(&a).await?);
    }
    for &(id, q) in WORKLOADS {
        for _ in 0..5 {
            once(&clients[0], q).await?;
        }
        // Latency: one client, one query at a time.
        let mut ms = Vec::with_capacity(a.runs);
        let mut answer = String::new();
        for _ in 0..a.runs {
            let (ans, t) = once(&clients[0], q).await?;
            answer = ans;
            ms.push(t);
        }
        ms.sort_by(f64::total_cmp);
        // Throughput: every client at once, `runs` queries in all.
        let per = a.runs.div_ceil(clients.len());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in &clients {
            tasks.push(async move {
                for _ in 0..per {
                    once(c, q).await?;
                }
                Ok::<(), String>(())
            });
        }
        for r in futures_join(tasks).await {
            r?;
        }
        let qps = (per * clients.len()) as f64 / start.elapsed().as_secs_f64();
        println!(
            "{id:<4} {answer:>12} {:>10.3} {:>10.3} {:>10.3} {qps:>10.0}",
            percentile(&ms, 0.5),
            percentile(&ms, 0.9),
            percentile(&ms, 0.99)
        );
    }
    Ok(())
}

/// Runs every future to its end, concurrently.
async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pg_wire: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pg_wire: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg_wire: {e}");
            ExitCode::FAILURE
        }
    }
}
