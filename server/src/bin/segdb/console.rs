//! `segdb console`: a REPL of a server for console users. Statements end
//! with `;` and may span lines; answers print as aligned tables with their
//! row count (and time, with `\timing`); errors show the statement line
//! with a caret under the spot.

use std::io::{IsTerminal, Read};
use std::time::Instant;

use segdb_server::client::{Client, ClientError};
use segdb_server::exec::{self, ResultSet};
use serde_json::Value;

use crate::AnyError;

/// Flags of `segdb console`.
#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:7878", env = "SEGDB_URL")]
    url: String,
    /// Bearer token.
    #[arg(long, env = "SEGDB_TOKEN")]
    token: Option<String>,
    /// Trust only this certificate (PEM) for an https:// --url: the
    /// server's own if self-signed, or its private CA's.
    #[arg(long, env = "SEGDB_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// Run these statements and exit (errors give a non-zero exit status).
    #[arg(short = 'e', long = "execute")]
    execute: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutFormat {
    Table,
    Json,
    Csv,
}

struct Console {
    client: Client,
    format: OutFormat,
    timing: bool,
}

const HELP: &str = r"Statements end with `;` and may span several lines. For example:
  SELECT COUNT(*) FROM users WHERE city = 'c000' AND count(search, last 7 days) > 3;
  SHOW TABLES;   SHOW FIELDS FROM users;   EXPLAIN SELECT COUNT(*) FROM users WHERE is_owner;
  INSIGHT gender, age FROM users WHERE os = 'ios' TOP 5;   SELECT QUANTILE(income, 0.9) FROM users;
Commands:
  \help                      this text
  \timing                    show each statement's time (on/off)
  \format table|json|csv     how answers print
  \q                         quit (or Ctrl-D)
`help`, `quit` and `exit` alone on a line (with or without `;`) do the same.";

pub fn console(args: ConsoleArgs) -> Result<(), AnyError> {
    let mut c = Console {
        client: crate::client(&args.url, args.token, args.ca_cert.as_deref())?,
        format: args.format,
        timing: false,
    };
    if let Some(text) = args.execute {
        return c.run_script(&text);
    }
    if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return c.run_script(&text);
    }
    c.repl()
}

impl Console {
    /// Runs a script: statements, and backslash commands on their own lines.
    fn run_script(&mut self, text: &str) -> Result<(), AnyError> {
        let mut failed = false;
        let mut buf = String::new();
        for line in text.lines() {
            if buf.trim().is_empty() {
                if let Some(cmd) = console_command(line) {
                    if !self.command(cmd) {
                        break;
                    }
                    continue;
                }
            }
            buf.push_str(line);
            buf.push('\n');
            if ends_statement(&buf) {
                failed |= !self.run(&std::mem::take(&mut buf));
            }
        }
        if !buf.trim().is_empty() {
            failed |= !self.run(&buf);
        }
        if failed {
            Err("a statement failed".into())
        } else {
            Ok(())
        }
    }

    fn repl(&mut self) -> Result<(), AnyError> {
        let mut rl = rustyline::DefaultEditor::new()?;
        let history =
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".segdb_history"));
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        outln!(
            "segdb console: {}. Type help (or \\help) for help, quit (or \\q) to quit.",
            self.client_url()
        );
        let mut buf = String::new();
        loop {
            let prompt = if buf.is_empty() { "segdb> " } else { "   ..> " };
            match rl.readline(prompt) {
                Ok(line) => {
                    if buf.trim().is_empty() {
                        if let Some(cmd) = console_command(&line) {
                            let _ = rl.add_history_entry(line.as_str());
                            if !self.command(cmd) {
                                break;
                            }
                            continue;
                        }
                    }
                    buf.push_str(&line);
                    buf.push('\n');
                    if ends_statement(&buf) {
                        let stmt = std::mem::take(&mut buf);
                        let _ = rl.add_history_entry(stmt.trim());
                        self.run(&stmt);
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
        Ok(())
    }

    fn client_url(&self) -> String {
        format!("{:?}", self.client)
            .trim_start_matches("Client(")
            .trim_end_matches(')')
            .to_owned()
    }

    /// A backslash command; `false` to quit.
    fn command(&mut self, cmd: &str) -> bool {
        let mut words = cmd.split_whitespace();
        match (words.next(), words.next()) {
            (Some("\\q" | "\\quit"), _) => return false,
            (Some("\\help" | "\\h" | "\\?"), _) => outln!("{HELP}"),
            (Some("\\timing"), _) => {
                self.timing = !self.timing;
                outln!("timing is {}", if self.timing { "on" } else { "off" });
            }
            (Some("\\format"), f) => {
                match f {
                    Some("table") => self.format = OutFormat::Table,
                    Some("json") => self.format = OutFormat::Json,
                    Some("csv") => self.format = OutFormat::Csv,
                    None => {}
                    Some(f) => {
                        eprintln!("unknown format `{f}`: table, json or csv");
                        return true;
                    }
                }
                let name = match self.format {
                    OutFormat::Table => "table",
                    OutFormat::Json => "json",
                    OutFormat::Csv => "csv",
                };
                outln!("output format is {name}");
            }
            _ => eprintln!("unknown command `{cmd}`; \\help lists them"),
        }
        true
    }

    /// Sends one statement (or several) and prints the answer; `false` on error.
    fn run(&self, text: &str) -> bool {
        let start = Instant::now();
        match self.client.query(text) {
            Ok(v) => {
                self.print(&v);
                if self.timing {
                    outln!(
                        "time: {} ms on the server, {:.2} ms in all",
                        v["elapsed_ms"],
                        start.elapsed().as_secs_f64() * 1e3
                    );
                }
                true
            }
            Err(e) => {
                eprintln!("{}", render_error(text, &e));
                false
            }
        }
    }

    fn print(&self, v: &Value) {
        if self.format == OutFormat::Json {
            outln!("{v}");
            return;
        }
        let results: Vec<&Value> = match v.get("results").and_then(Value::as_array) {
            Some(rs) => rs.iter().collect(),
            None => vec![v],
        };
        for r in results {
            let rs = ResultSet {
                columns: r["columns"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .map(|x| x.as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                rows: r["rows"]
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .map(|row| row.as_array().cloned().unwrap_or_default())
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            match self.format {
                OutFormat::Csv => out!("{}", exec::to_csv(&rs)),
                _ => out!("{}", exec::to_table(&rs)),
            }
        }
        if let Some(ws) = v.get("warnings").and_then(Value::as_array) {
            for w in ws {
                eprintln!(
                    "warning: {} (line {}, column {}){}",
                    w["message"].as_str().unwrap_or(""),
                    w["line"],
                    w["column"],
                    w["hint"]
                        .as_str()
                        .map(|h| format!("\n  hint: {h}"))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// The console command a line holds, if it holds one: a backslash command,
/// or, as in psql, `help`, `quit` or `exit` alone on the line (with or
/// without `;`). Only at the start of a statement: a statement's later line
/// that reads `exit` is the statement's.
fn console_command(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with('\\') {
        return Some(line);
    }
    let word = line.trim_end_matches(';').trim_end();
    match word.to_ascii_lowercase().as_str() {
        "help" => Some("\\help"),
        "quit" | "exit" => Some("\\q"),
        _ => None,
    }
}

/// Whether `buf` holds a complete statement: its last character outside
/// strings, quoted names and comments is `;`.
fn ends_statement(buf: &str) -> bool {
    let mut last = None;
    let mut chars = buf.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    last = Some(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    let mut prev = ' ';
                    for c in chars.by_ref() {
                        if prev == '*' && c == '/' {
                            break;
                        }
                        prev = c;
                    }
                }
                c if c.is_whitespace() => {}
                c => last = Some(c),
            },
        }
    }
    quote.is_none() && last == Some(';')
}

/// An error as the console shows it: the message, then for a statement
/// error the line with a caret under the column, then the hint.
fn render_error(text: &str, e: &ClientError) -> String {
    let ClientError::Api {
        message,
        line,
        column,
        hint,
        code,
        ..
    } = e
    else {
        return format!("error: {e}");
    };
    if line.is_some() && column.is_some() {
        return render_at(text, message, *line, *column, hint.as_deref());
    }
    render_at(
        text,
        &format!("{message} [{code}]"),
        None,
        None,
        hint.as_deref(),
    )
}

/// The layout of an error about a statement, the one `segdb query` prints
/// (query-lang's `QueryError` display): the message, `--> line L, column
/// C`, the statement's line with a caret under the column, then the hint.
fn render_at(
    text: &str,
    message: &str,
    line: Option<usize>,
    column: Option<usize>,
    hint: Option<&str>,
) -> String {
    let mut out = format!("error: {message}");
    let mut pad = String::new();
    if let (Some(l), Some(c)) = (line, column) {
        let number = l.to_string();
        pad = " ".repeat(number.len());
        out.push_str(&format!("\n{pad}--> line {l}, column {c}"));
        if let Some(src) = text.lines().nth(l.saturating_sub(1)) {
            out.push_str(&format!(
                "\n{pad} |\n{number} | {src}\n{pad} | {}^",
                " ".repeat(c.saturating_sub(1))
            ));
        }
    }
    if let Some(h) = hint {
        out.push_str(&format!("\n{pad} = help: {h}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_semicolon_outside_strings_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  \n"));
        assert!(!ends_statement("SELECT ';'"));
        assert!(!ends_statement("SELECT 1 -- ;\n"));
        assert!(!ends_statement("SELECT 1 /* ; */"));
        assert!(ends_statement("SELECT 'a'';' ;"));
        assert!(!ends_statement("SELECT 'open;"));
    }

    #[test]
    fn errors_show_the_line_and_a_caret_as_segdb_query_does() {
        let text = "SELECT COUNT(*) FROM users\nWHERE city = ;";
        let q = segdb_query_lang::parse(text).unwrap_err();
        let e = ClientError::Api {
            status: 400,
            code: q.code().into(),
            message: q.message(),
            line: Some(q.line()),
            column: Some(q.column()),
            hint: q.hint(),
        };
        let shown = render_error(text, &e);
        assert!(shown.contains("--> line 2, column 14"), "{shown}");
        assert!(
            shown.contains("2 | WHERE city = ;\n  |              ^"),
            "{shown}"
        );
        // The same layout as `segdb query` prints (QueryError's display).
        assert_eq!(shown, q.to_string());
    }

    #[test]
    fn psql_words_alone_on_a_line_are_commands() {
        assert_eq!(console_command("help"), Some("\\help"));
        assert_eq!(console_command("  HELP ;"), Some("\\help"));
        assert_eq!(console_command("quit;"), Some("\\q"));
        assert_eq!(console_command("exit"), Some("\\q"));
        assert_eq!(console_command("\\format csv"), Some("\\format csv"));
        assert_eq!(console_command("help me"), None);
        assert_eq!(console_command("SELECT 1;"), None);
    }
}
