//! Commands that make and fill stores: `gen`, `import`, `demo`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use segdb_engine::date::{self, format_iso_day, parse_iso_day, Day};
use segdb_engine::{ImportFormat, ImportOptions, OnError, Store};
use segdb_server::{exec, gen};

use crate::{AnyError, OnErrorArg};

/// Writes the data set; its event days end on `last_day` (the standard
/// data set's 2026-11-22 if `None`).
pub fn generate(
    rows: u64,
    seed: u64,
    out: &std::path::Path,
    last_day: Option<Day>,
) -> Result<(), AnyError> {
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
            last_day,
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
        &exec::StoreCatalog::new(store),
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
const DEMO_STATEMENTS: &str = "SELECT COUNT(*) FROM users WHERE city = 'c000' AND count(search, last 7 days) > 3;
SELECT city, COUNT(*) FROM users WHERE is_owner GROUP BY city ORDER BY COUNT(*) DESC LIMIT 5;
SELECT AVG(income), MIN(income), MAX(income) FROM users WHERE os = 'ios';
SELECT user_id FROM users WHERE interests HAS ALL ('i01', 'i05') LIMIT 3;
EXPLAIN SELECT COUNT(*) FROM users WHERE gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios';
CREATE OR REPLACE SEGMENT bj_active AS SELECT FROM users WHERE city = 'c000' AND last_login_days < 7;
SELECT COUNT(*) FROM users WHERE IN SEGMENT bj_active AND is_owner;
INSIGHT gender, age FROM users WHERE IN SEGMENT bj_active WIDTH 10;
SELECT QUANTILE(income, 0.5), QUANTILE(income, 0.9) FROM users WHERE IN SEGMENT bj_active;
CALL segment_ids('bj_active', limit => 3)";

/// Builds the demo store in `dir` the first time, and again when the one
/// there is from an earlier day; returns the store's directory. It is the
/// standard data set with `rows` users, except that its 30 days of events
/// end on the day it is built (so `last 7 days` without AS OF finds them),
/// that its fields have catalog categories, `income` is SENSITIVE (see
/// [`demo_schema_sql`]), and that it has a SENSITIVE TEXT field, `phone`
/// (category `contact`), to try redaction and limited keys on.
pub fn ensure_demo_store(dir: &std::path::Path, rows: u64) -> Result<PathBuf, AnyError> {
    let (csv, data) = (dir.join("csv"), dir.join("store"));
    // Written once every import is done: a build cut short starts over. It
    // holds the number of users and the last day of the events.
    let ready = dir.join("READY");
    let today = date::today();
    // (A store of another number of users is kept, as it always was.)
    let built = std::fs::read_to_string(&ready)
        .ok()
        .map(|text| text.lines().nth(1).and_then(|l| parse_iso_day(l.trim())));
    let rebuild = match built {
        None => true,
        Some(Some(last)) if last == today => false,
        Some(last) => {
            outln!(
                "the demo store in {} has events up to {}, not today ({}): rebuilding it",
                dir.display(),
                last.map_or_else(|| "an older day".to_owned(), format_iso_day),
                format_iso_day(today)
            );
            true
        }
    };
    if rebuild {
        outln!(
            "building the demo store in {}, its events ending today",
            dir.display()
        );
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_dir_all(&data);
        generate(rows, 42, &csv, Some(today))?;
        let store = Store::open(&data)?;
        let schema = csv.join("demo_schema.sql");
        std::fs::write(&schema, demo_schema_sql())
            .map_err(|e| format!("writing {}: {e}", schema.display()))?;
        create_tables(&store, &schema)?;
        exec::run(
            &store,
            "ALTER TABLE users ADD phone TEXT SENSITIVE CATEGORY contact",
        )?;
        let phones = csv.join("phones.csv");
        write_phones(&phones, rows)?;
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
        import_file(
            &store,
            "users",
            &phones,
            ImportFormat::Csv,
            OnErrorArg::Abort,
        )?;
        drop(store);
        // The CSV files are not needed once imported.
        let _ = std::fs::remove_dir_all(&csv);
        std::fs::write(&ready, format!("{rows}\n{}\n", format_iso_day(today)))
            .map_err(|e| format!("writing {}: {e}", ready.display()))?;
    }
    Ok(data)
}

/// The standard schema with a catalog category on every field, and
/// `income` SENSITIVE (category `finance`): what limited API keys of the
/// demo are allowed by; `gender` and `os` CLOSED (ingest adds no values
/// to them).
pub fn demo_schema_sql() -> String {
    let mut out = String::new();
    for line in gen::SCHEMA_SQL.lines() {
        let body = line.trim_end_matches(',');
        let name = body.split_whitespace().next().unwrap_or("");
        let extra = match name {
            "gender" => " CLOSED CATEGORY demographics",
            "age" | "education" => " CATEGORY demographics",
            "city" | "district" => " CATEGORY geo",
            "os" => " CLOSED CATEGORY product",
            "product" | "member_level" => " CATEGORY product",
            "income" => " SENSITIVE CATEGORY finance",
            "ltv" => " CATEGORY finance",
            "last_login_days" | "contract_end_days" => " CATEGORY activity",
            "is_owner" | "is_tenant" => " CATEGORY housing",
            "interests" => " CATEGORY interests",
            "search" | "view" | "favorite" | "book" => " CATEGORY behaviour",
            n if n.starts_with("flag_") => " CATEGORY flags",
            _ => "",
        };
        out.push_str(body);
        out.push_str(extra);
        if body.len() < line.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out
}

/// `phones.csv` of the demo: a made-up phone number for each user.
fn write_phones(path: &std::path::Path, rows: u64) -> Result<(), AnyError> {
    use std::io::Write;
    let err = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    out.write_all(b"user_id,phone\n").map_err(err)?;
    for i in 0..rows {
        // A fixed scramble of the row number: distinct, and not in order.
        let n = i.wrapping_mul(0x9E37_79B9) % 10_000_000;
        writeln!(out, "{},+1-555-{n:07}", gen::user_id_text(i)).map_err(err)?;
    }
    out.flush().map_err(err)?;
    Ok(())
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
