//! Commands that make and fill stores: `gen`, `import`, `demo`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use segdb_engine::{ImportFormat, ImportOptions, OnError, Store};
use segdb_server::{exec, gen};

use crate::{AnyError, OnErrorArg};

pub fn generate(rows: u64, seed: u64, out: &std::path::Path) -> Result<(), AnyError> {
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
pub fn create_tables(store: &Store, schema: &std::path::Path) -> Result<(), AnyError> {
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
INSIGHT gender, age FROM users WHERE IN SEGMENT bj_active WIDTH 10;
SELECT QUANTILE(income, 0.5), QUANTILE(income, 0.9) FROM users WHERE IN SEGMENT bj_active;
CALL segment_ids('bj_active', limit => 3)";

/// Builds the demo store (the standard data set with `rows` users, generated
/// then imported) in `dir` the first time; returns the store's directory.
pub fn ensure_demo_store(dir: &std::path::Path, rows: u64) -> Result<PathBuf, AnyError> {
    let (csv, data) = (dir.join("csv"), dir.join("store"));
    // Written once both imports are done: a build cut short starts over.
    let ready = dir.join("READY");
    if !ready.exists() {
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
        // The CSV files are not needed once imported.
        let _ = std::fs::remove_dir_all(&csv);
        std::fs::write(&ready, format!("{rows}\n"))
            .map_err(|e| format!("writing {}: {e}", ready.display()))?;
    }
    Ok(data)
}

/// The demo: builds the data set (`rows` users) into `dir` the first time,
/// then runs `statement` or a few examples.
pub fn demo(dir: &std::path::Path, rows: u64, statement: Option<&str>) -> Result<(), AnyError> {
    let data = ensure_demo_store(dir, rows)?;
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

pub fn import_file(
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
