//! The `segdb` command: generate the standard data set, import it, query a
//! store, and benchmark it.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use segdb_engine::{ImportFormat, ImportOptions, OnError, Store};
use segdb_server::{exec, gen, workload};

#[derive(Parser)]
#[command(name = "segdb", version, about = "segdb: segments of users, fast")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Table,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnErrorArg {
    Abort,
    Skip,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes users.csv, events.csv and schema.sql of the standard data set.
    Gen {
        /// small (1M users), medium (10M), large (100M) or a number.
        #[arg(long, default_value = "small")]
        scale: String,
        /// Seed of the generator: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Directory to write to.
        #[arg(long)]
        out: PathBuf,
    },
    /// Imports CSV, JSON lines or events into a table of a store.
    Import {
        /// The store's directory (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// The table.
        #[arg(long, default_value = "users")]
        table: String,
        /// A file of CREATE TABLE statements to run first (tables that exist are kept).
        #[arg(long)]
        schema: Option<PathBuf>,
        /// Import this events file (`user_id,event,day,count`).
        #[arg(long)]
        events: Option<PathBuf>,
        /// Files of rows: `.csv`, or `.jsonl`/`.ndjson` for JSON lines.
        files: Vec<PathBuf>,
        /// What to do with a bad line.
        #[arg(long, value_enum, default_value = "abort")]
        on_error: OnErrorArg,
    },
    /// Runs statements on a local store, without a server.
    Query {
        /// The store's directory.
        #[arg(long)]
        data: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The statements (`;`-separated).
        statement: String,
    },
    /// Builds a demo store of the `small` data set (once) and runs example
    /// statements on it.
    Demo {
        /// Where the demo's CSV files and store live.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
        /// Users in the demo data set (the `small` scale by default).
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Statements to run instead of the examples (`;`-separated).
        statement: Option<String>,
    },
    /// Measures a local store: open time, bytes on disk, W1–W6 latency.
    Bench {
        /// The store's directory (holding the standard data set as `users`).
        #[arg(long)]
        data: PathBuf,
        /// Runs of each workload (after 5 warm-up runs).
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Only these workloads (e.g. `W1,W3`); all by default.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEGDB_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            if text.starts_with("error") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error>;

/// Writes to standard output; a closed pipe (`segdb … | head`) ends the
/// program quietly instead of panicking as `println!` would.
fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let r = o
        .write_fmt(args)
        .and_then(|()| if newline { o.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing the output: {e}");
        std::process::exit(1);
    }
}

macro_rules! outln {
    ($($t:tt)*) => { write_out(format_args!($($t)*), true) };
}

macro_rules! out {
    ($($t:tt)*) => { write_out(format_args!($($t)*), false) };
}

fn generate(rows: u64, seed: u64, out: &std::path::Path) -> Result<(), AnyError> {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let progress = |done: u64| {
        if tty {
            eprint!("\rgenerating: {done} / {rows} users");
        }
    };
    let report = gen::generate(
        &gen::GenOptions {
            rows,
            seed,
            out_dir: out.to_path_buf(),
        },
        &progress,
    )?;
    if tty {
        eprintln!();
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "wrote {} users ({} bytes) and {} event rows ({} bytes) to {} in {secs:.2} s ({:.0} users/s)",
        report.users,
        report.users_bytes,
        report.event_rows,
        report.events_bytes,
        out.display(),
        report.users as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Runs the CREATE TABLE statements of a schema file; tables that exist
/// are kept.
fn create_tables(store: &Store, schema: &std::path::Path) -> Result<(), AnyError> {
    let text = std::fs::read_to_string(schema)
        .map_err(|e| format!("reading {}: {e}", schema.display()))?;
    let stmts = segdb_query_lang::parse_and_bind(
        &text,
        &exec::StoreCatalog(store),
        segdb_engine::date::today(),
    )
    .map_err(|e| format!("{}:\n{e}", schema.display()))?;
    for s in stmts {
        match s {
            segdb_query_lang::Statement::CreateTable { name, schema } => {
                if store.table(&name).is_err() {
                    store.create_table(&name, &schema)?;
                    outln!("created table {name}");
                } else {
                    outln!("table {name} exists; kept");
                }
            }
            _ => {
                return Err(format!(
                    "{}: only CREATE TABLE statements are allowed",
                    schema.display()
                )
                .into())
            }
        }
    }
    Ok(())
}

/// Statements the demo runs when given none.
const DEMO_STATEMENTS: &str = "SELECT COUNT(*) FROM users WHERE city = 'c000' AND count(search, last 7 days) > 3 AS OF '2026-11-22';
SELECT city, COUNT(*) FROM users WHERE is_owner GROUP BY city ORDER BY COUNT(*) DESC LIMIT 5;
SELECT AVG(income), MIN(income), MAX(income) FROM users WHERE os = 'ios';
SELECT user_id FROM users WHERE interests HAS ALL ('i01', 'i05') LIMIT 3;
EXPLAIN SELECT COUNT(*) FROM users WHERE gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios';
CREATE OR REPLACE SEGMENT bj_active AS SELECT FROM users WHERE city = 'c000' AND last_login_days < 7;
SELECT COUNT(*) FROM users WHERE IN SEGMENT bj_active AND is_owner;
CALL segment_ids('bj_active', limit => 3)";

/// The demo: builds the data set (`rows` users) into `dir` the first time
/// (generated, then imported), then runs `statement` or a few examples.
fn demo(dir: &std::path::Path, rows: u64, statement: Option<&str>) -> Result<(), AnyError> {
    let (csv, data) = (dir.join("csv"), dir.join("store"));
    let ready = Store::open(&data)?
        .table("users")
        .is_ok_and(|t| t.num_rows() > 0);
    if !ready {
        outln!("building the demo store in {} (once)", dir.display());
        let _ = std::fs::remove_dir_all(&data);
        generate(rows, 42, &csv)?;
        let store = Store::open(&data)?;
        create_tables(&store, &csv.join("schema.sql"))?;
        import_file(
            &store,
            "users",
            &csv.join("users.csv"),
            ImportFormat::Csv,
            OnErrorArg::Abort,
        )?;
        import_file(
            &store,
            "users",
            &csv.join("events.csv"),
            ImportFormat::Events,
            OnErrorArg::Abort,
        )?;
    }
    let store = Store::open(&data)?;
    // The examples have no `;` inside strings; a given text runs as a whole.
    let stmts: Vec<&str> = match statement {
        Some(text) => vec![text],
        None => DEMO_STATEMENTS.split(';').map(str::trim).collect(),
    };
    for stmt in stmts {
        outln!("\nsegdb> {stmt};");
        let start = Instant::now();
        for r in exec::run(&store, stmt)? {
            out!("{}", exec::to_table(&r));
        }
        outln!("time: {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
    }
    outln!(
        "\nTry your own: segdb query --data {} \"SELECT COUNT(*) FROM users WHERE ...\"",
        data.display()
    );
    Ok(())
}

fn run(cmd: Cmd) -> Result<(), AnyError> {
    match cmd {
        Cmd::Gen { scale, seed, out } => {
            let rows = gen::Scale::parse(&scale)
                .ok_or_else(|| {
                    format!("unknown scale `{scale}` (small, medium, large or a number)")
                })?
                .rows();
            generate(rows, seed, &out)
        }
        Cmd::Import {
            data,
            table,
            schema,
            events,
            files,
            on_error,
        } => {
            let store = Store::open(&data)?;
            if let Some(schema) = schema {
                create_tables(&store, &schema)?;
            }
            let mut inputs: Vec<(PathBuf, ImportFormat)> = files
                .into_iter()
                .map(|f| {
                    let jsonl = f.extension().is_some_and(|e| e == "jsonl" || e == "ndjson");
                    let format = if jsonl {
                        ImportFormat::JsonLines
                    } else {
                        ImportFormat::Csv
                    };
                    (f, format)
                })
                .collect();
            if let Some(e) = events {
                inputs.push((e, ImportFormat::Events));
            }
            for (path, format) in inputs {
                import_file(&store, &table, &path, format, on_error)?;
            }
            Ok(())
        }
        Cmd::Demo {
            dir,
            rows,
            statement,
        } => demo(&dir, rows, statement.as_deref()),
        Cmd::Query {
            data,
            format,
            statement,
        } => {
            if !data.join("MANIFEST").exists() {
                return Err(
                    format!("{} is not a segdb store (no MANIFEST)", data.display()).into(),
                );
            }
            let store = Store::open(&data)?;
            let results = exec::run(&store, &statement)?;
            for r in &results {
                match format {
                    Format::Json => outln!("{}", exec::to_json(r)),
                    Format::Csv => out!("{}", exec::to_csv(r)),
                    Format::Table => out!("{}", exec::to_table(r)),
                }
            }
            Ok(())
        }
        Cmd::Bench { data, runs, only } => bench(&data, runs, &only),
    }
}

fn import_file(
    store: &Store,
    table: &str,
    path: &PathBuf,
    format: ImportFormat,
    on_error: OnErrorArg,
) -> Result<(), AnyError> {
    let file = std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let tty = std::io::stderr().is_terminal();
    let name = path.display().to_string();
    let progress = |p: segdb_engine::import::ImportProgress| {
        if tty {
            let pct = if total > 0 {
                p.bytes as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            if p.finishing {
                eprint!("\r{name}: {} lines read, writing parts…          ", p.lines);
            } else {
                eprint!("\r{name}: {} lines ({pct:.0}%)", p.lines);
            }
        }
    };
    let opts = ImportOptions {
        on_error: match on_error {
            OnErrorArg::Abort => OnError::Abort,
            OnErrorArg::Skip => OnError::Skip,
        },
        source_name: name.clone(),
        progress: Some(&progress),
        size_hint: Some(total),
        ..ImportOptions::default()
    };
    let start = Instant::now();
    let report = store.import(table, format, file, &opts);
    if tty {
        eprintln!();
    }
    let report = report?;
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "{name}: {} lines imported in {secs:.2} s ({:.0} lines/s), {} new rows, {} skipped; table {table} has {} rows",
        report.applied,
        report.lines as f64 / secs.max(1e-9),
        report.new_rows,
        report.skipped,
        report.num_rows
    );
    for e in &report.errors {
        outln!("  skipped: {e}");
    }
    Ok(())
}

fn anon_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn bench(data: &std::path::Path, runs: usize, only: &[String]) -> Result<(), AnyError> {
    let start = Instant::now();
    let store = Store::open(data)?;
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let t = store.table("users")?;
    outln!(
        "store {}: {} rows in {} shards, {} bytes on disk",
        data.display(),
        t.num_rows(),
        t.num_shards(),
        t.bytes_on_disk()
    );
    outln!("open: {open_ms:.2} ms");
    outln!("threads: {}", rayon::current_num_threads());
    outln!(
        "{:<4} {:>12} {:>10} {:>10} {:>10}",
        "id",
        "count",
        "median ms",
        "p90 ms",
        "min ms"
    );
    let catalog = exec::StoreCatalog(&store);
    for (id, text) in workload::COUNT_WORKLOADS {
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            continue;
        }
        let stmt = segdb_query_lang::parse_and_bind(text, &catalog, segdb_engine::date::today())?;
        let Some(segdb_query_lang::Statement::Select(sel)) = stmt.into_iter().next() else {
            return Err(format!("{id} is not a SELECT").into());
        };
        let mut count = 0;
        for _ in 0..5 {
            count = t.count(&sel.filter)?;
        }
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let s = Instant::now();
                let _ = t.count(&sel.filter);
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        outln!(
            "{id:<4} {count:>12} {:>10.3} {:>10.3} {:>10.3}",
            q(0.5),
            q(0.9),
            times[0]
        );
    }
    if let Some(kib) = anon_rss_kib() {
        outln!(
            "heap (anonymous RSS) after W1-W6: {:.1} MiB = {:.1}% of bytes on disk",
            kib as f64 / 1024.0,
            kib as f64 * 1024.0 * 100.0 / t.bytes_on_disk().max(1) as f64
        );
    }
    Ok(())
}
