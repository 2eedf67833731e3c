//! The `segdb` command: serve a store over HTTP, talk to a server from a
//! console, generate the standard data set, import it, query a store
//! directly, and benchmark it.
#![forbid(unsafe_code)]

#[macro_use]
mod output;
mod bench;
mod check;
mod console;
mod data;
mod ingest_bench;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use segdb_engine::{ImportFormat, Store};
use segdb_server::client::Client;
use segdb_server::{exec, gen};

use data::{create_tables, demo, generate, import_file};

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
    /// Verifies every checksum of every live file of a store (parts,
    /// dictionary, snapshots, WAL) and the manifest's consistency, changing
    /// nothing; names the file, offset, table, field and shard of each
    /// problem and exits non-zero if there is one. Run it after a disk scare.
    Check {
        /// The store's directory (not while a server or an import has it open).
        #[arg(long)]
        data: PathBuf,
        /// A machine-readable report on stdout.
        #[arg(long)]
        json: bool,
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
    /// Serves a store over HTTP (see the README's "HTTP API").
    Serve(serve::ServeArgs),
    /// Token tools: `segdb token hash` reads a secret on stdin and prints
    /// the `secret_hash` line for the config file.
    Token {
        #[command(subcommand)]
        sub: TokenCmd,
    },
    /// An interactive console of a server: statements in, tables out.
    Console(console::ConsoleArgs),
    /// Measures W1–W6: on a local store (open time, bytes on disk, latency)
    /// or, with --url, through a server's HTTP API (latency and throughput);
    /// `bench ingest --url URL`: a real-time ingest load on a server.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        sub: Option<BenchCmd>,
        /// The store's directory (holding the standard data set as `users`).
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        data: Option<PathBuf>,
        /// A server to measure instead, e.g. `http://127.0.0.1:7878`.
        #[arg(long)]
        url: Option<String>,
        /// Bearer token for --url.
        #[arg(long)]
        token: Option<String>,
        /// Trust only this certificate (PEM) for an https:// --url: the
        /// server's own if self-signed, or its private CA's.
        #[arg(long, env = "SEGDB_CA_CERT")]
        ca_cert: Option<PathBuf>,
        /// Clients sending requests at once (with --url).
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Runs of each workload (after 5 warm-up runs).
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Only these workloads (e.g. `W1,W3`); all by default.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Reads a token's secret from stdin (its first line; never from the
    /// command line, which `ps` shows) and prints `secret_hash = "…"`, a
    /// salted SHA-256, to paste into a `[[tokens]]` entry of the config.
    Hash,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Streams ingest batches from N clients to a server for a while:
    /// operations/s, ack latency, errors, how soon a write is visible, the
    /// delta's memory, and W1–W6 medians idle versus under the load.
    Ingest(ingest_bench::IngestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs a line per request by default and may log JSON; it
    // sets up its own logging once its settings are known.
    if !matches!(cli.cmd, Cmd::Serve(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SEGDB_LOG")
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
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

/// A client of the server at `url`, trusting `ca_cert` (a PEM file) for
/// HTTPS if given, else the Mozilla roots.
fn client(url: &str, token: Option<String>, ca_cert: Option<&Path>) -> Result<Client, AnyError> {
    let client = Client::new(url, token);
    Ok(match ca_cert {
        Some(path) => client.with_ca_cert_file(path)?,
        None => client,
    })
}

fn run(cmd: Cmd) -> Result<(), AnyError> {
    match cmd {
        Cmd::Gen { scale, seed, out } => {
            let rows = gen::Scale::parse(&scale)
                .ok_or_else(|| {
                    format!("unknown scale `{scale}` (small, medium, large or a number)")
                })?
                .rows();
            generate(rows, seed, &out, None)
        }
        Cmd::Import {
            data,
            table,
            schema,
            events,
            files,
            on_error,
        } => {
            // A server holding the store takes the import at this table's URL.
            let store = Store::open(&data).map_err(|e| {
                e.to_string().replace(
                    "/v1/tables/{t}/import",
                    &format!("/v1/tables/{table}/import"),
                )
            })?;
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
            let (results, warnings) = exec::run_warned(&store, &statement)?;
            for w in &warnings {
                eprintln!("{w}");
            }
            for r in &results {
                match format {
                    Format::Json => outln!("{}", exec::to_json(r)),
                    Format::Csv => out!("{}", exec::to_csv(r)),
                    Format::Table => out!("{}", exec::to_table(r)),
                }
            }
            Ok(())
        }
        Cmd::Check { data, json } => check::check(&data, json),
        Cmd::Serve(args) => serve::serve(args),
        Cmd::Token {
            sub: TokenCmd::Hash,
        } => token_hash(),
        Cmd::Console(args) => console::console(args),
        Cmd::Bench {
            sub: Some(BenchCmd::Ingest(args)),
            ..
        } => ingest_bench::bench_ingest(args),
        Cmd::Bench {
            sub: None,
            data,
            url,
            token,
            ca_cert,
            concurrency,
            runs,
            only,
        } => match (data, url) {
            (_, Some(url)) => bench::bench_url(
                &url,
                client(&url, token, ca_cert.as_deref())?,
                concurrency,
                runs,
                &only,
            ),
            (Some(data), None) => bench::bench(&data, runs, &only),
            (None, None) => Err("give --data DIR or --url URL".into()),
        },
    }
}

/// `segdb token hash`: the secret's first line on stdin, hashed.
fn token_hash() -> Result<(), AnyError> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("secret (shown as typed; pipe it in to keep it off the screen): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let secret = line.strip_suffix('\n').unwrap_or(&line);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        return Err("no secret on stdin: give it as the first line".into());
    }
    let hash = segdb_server::http::secret_hash::SecretHash::new(secret);
    outln!("secret_hash = \"{hash}\"");
    Ok(())
}
