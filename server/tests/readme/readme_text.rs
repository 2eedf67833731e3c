//! Reading the README: fenced blocks, the shell commands of a block, the
//! statements of a SQL block.

/// A fenced code block.
pub struct Block {
    /// The fence's tag (`sh`, `sql`, …; empty if none).
    pub lang: String,
    /// The README line of its first content line (1-based).
    pub first_line: usize,
    pub lines: Vec<String>,
}

/// One shell command: its physical lines joined (continuations with `\`,
/// a synopsis's indented `[…]` lines, a here-document's body), comments
/// dropped.
pub struct Cmd {
    /// The README line it starts on.
    pub line: usize,
    pub text: String,
}

pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(tag) = line.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        lang: tag.trim().to_owned(),
                        first_line: i + 2,
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.lines.push(line.to_owned());
        }
    }
    assert!(open.is_none(), "README: a code block is never closed");
    out
}

/// `line` without a trailing `# comment` (a `#` after whitespace, outside
/// quotes), trimmed at the end.
pub fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return line[..i].trim_end(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line.trim_end()
}

/// The here-document delimiter a line opens (`<<'END'` or `<<END`).
fn heredoc(line: &str) -> Option<String> {
    let rest = &line[line.find("<<")? + 2..];
    let word: String = rest
        .trim_start_matches(['\'', '"', '-'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

pub fn commands(block: &Block) -> Vec<Cmd> {
    let mut out: Vec<Cmd> = Vec::new();
    let mut lines = block.lines.iter().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        // A synopsis continues on indented lines of optional arguments.
        if raw.starts_with(' ') && line.trim_start().starts_with('[') {
            let last = out.last_mut().expect("a synopsis continuation first");
            last.text.push(' ');
            last.text.push_str(line.trim());
            continue;
        }
        let mut text = line.to_owned();
        while text.ends_with('\\') {
            text.pop();
            match lines.next() {
                Some((_, next)) => text.push_str(strip_comment(next)),
                None => break,
            }
        }
        if let Some(end) = heredoc(&text) {
            for (_, body) in lines.by_ref() {
                text.push('\n');
                text.push_str(body);
                if body.trim() == end {
                    break;
                }
            }
        }
        out.push(Cmd {
            line: block.first_line + i,
            text,
        });
    }
    out
}

/// The statements of a SQL block, `-- comments` dropped, with the line
/// each starts on.
pub fn sql_statements(block: &Block) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in block.lines.iter().enumerate() {
        let line = match raw.find("--") {
            Some(at) => &raw[..at],
            None => raw.as_str(),
        };
        if line.trim().is_empty() {
            continue;
        }
        if current.is_empty() {
            start = block.first_line + i;
        }
        current.push_str(line.trim());
        current.push(' ');
        if line.trim_end().ends_with(';') {
            out.push((start, std::mem::take(&mut current).trim().to_owned()));
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_owned()));
    }
    out
}
