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
  \q                         quit (or Ctrl-D)";

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
            if buf.trim().is_empty() && line.trim_start().starts_with('\\') {
                self.command(line.trim());
                continue;
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
            "segdb console: {}. Type \\help for help, \\q to quit.",
            self.client_url()
        );
        let mut buf = String::new();
        loop {
            let prompt = if buf.is_empty() { "segdb> " } else { "   ..> " };
            match rl.readline(prompt) {
                Ok(line) => {
                    if buf.is_empty() && line.trim_start().starts_with('\\') {
                        let _ = rl.add_history_entry(line.as_str());
                        if !self.command(line.trim()) {
                            break;
                        }
                        continue;
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
            (Some("\\format"), Some(f)) => match f {
                "table" => self.format = OutFormat::Table,
                "json" => self.format = OutFormat::Json,
                "csv" => self.format = OutFormat::Csv,
                _ => eprintln!("unknown format `{f}`: table, json or csv"),
            },
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
    let mut out = format!("error: {message}");
    if let (Some(l), Some(c)) = (line, column) {
        if let Some(src) = text.lines().nth(l.saturating_sub(1)) {
            let gutter = format!("{l}");
            out.push_str(&format!(
                "\n {} |\n {gutter} | {src}\n {} | {}^",
                " ".repeat(gutter.len()),
                " ".repeat(gutter.len()),
                " ".repeat(c.saturating_sub(1))
            ));
        }
    } else {
        out.push_str(&format!(" [{code}]"));
    }
    if let Some(h) = hint {
        out.push_str(&format!("\n  hint: {h}"));
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
    fn errors_show_the_line_and_a_caret() {
        let e = ClientError::Api {
            status: 400,
            code: "unknown_field".into(),
            message: "unknown field `cty`".into(),
            line: Some(2),
            column: Some(7),
            hint: Some("did you mean `city`?".into()),
        };
        let text = render_error("SELECT COUNT(*) FROM users\nWHERE cty = 'c000';", &e);
        assert_eq!(
            text,
            "error: unknown field `cty`\n   |\n 2 | WHERE cty = 'c000';\n   |       ^\n  hint: did you mean `city`?"
        );
    }
}
