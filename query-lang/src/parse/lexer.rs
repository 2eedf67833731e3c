//! Text -> tokens, with nom. Whitespace and comments (`-- …` to the end of
//! the line, `/* … */`) separate tokens and are dropped.
//!
//! Words are not sorted into keywords and names here: keywords are
//! case-insensitive words that the parser recognizes by context, so a
//! field may be called `count` or `last` where that is not ambiguous.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_until, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace1};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;
use nom::IResult;

use crate::ast::Span;
use crate::error::{snippet, ErrorKind, QueryError};

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind<'t> {
    /// An unquoted word, `[A-Za-z_][A-Za-z0-9_]*`: a keyword or a name.
    Word(&'t str),
    /// A name in double quotes, unescaped.
    QuotedIdent(String),
    /// A string in single quotes, unescaped.
    Str(String),
    /// An integer, with its sign.
    Int(i64),
    /// A decimal number, `0.9` or `-1.25`, as written (digits on both
    /// sides of the point; `1..2` is an integer, `..` and an integer).
    Decimal(&'t str),
    LParen,
    RParen,
    Comma,
    Semicolon,
    Star,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    DotDot,
    /// `=>`, between a parameter's name and its value in a CALL.
    Arrow,
    /// The end of the text.
    Eof,
}

/// A token and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'t> {
    pub kind: TokenKind<'t>,
    pub span: Span,
}

impl Token<'_> {
    /// How an error message names this token: its text in backticks, or
    /// "end of input".
    pub fn describe(&self, text: &str) -> String {
        match self.kind {
            TokenKind::Eof => "end of input".to_string(),
            _ => snippet(&text[self.span.start..self.span.end]),
        }
    }

    /// Whether the token is the word `keyword`, in any case.
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

type Res<'t, T> = IResult<&'t str, T>;

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn word(input: &str) -> Res<'_, &str> {
    recognize(pair(take_while1(is_word_start), take_while(is_word_char)))(input)
}

fn integer(input: &str) -> Res<'_, &str> {
    recognize(pair(opt(char('-')), digit1))(input)
}

fn punctuation(input: &str) -> Res<'_, TokenKind<'_>> {
    let (rest, op) = alt((
        alt((
            tag("!="),
            tag("<>"),
            tag("<="),
            tag(">="),
            tag(".."),
            tag("=>"),
        )),
        alt((tag("("), tag(")"), tag(","), tag(";"), tag("*"))),
        alt((tag("="), tag("<"), tag(">"))),
    ))(input)?;
    let kind = match op {
        "!=" | "<>" => TokenKind::Ne,
        "<=" => TokenKind::Le,
        ">=" => TokenKind::Ge,
        ".." => TokenKind::DotDot,
        "=>" => TokenKind::Arrow,
        "(" => TokenKind::LParen,
        ")" => TokenKind::RParen,
        "," => TokenKind::Comma,
        ";" => TokenKind::Semicolon,
        "*" => TokenKind::Star,
        "=" => TokenKind::Eq,
        "<" => TokenKind::Lt,
        _ => TokenKind::Gt,
    };
    Ok((rest, kind))
}

/// The body of a quoted token after its opening `quote`, up to and
/// including the closing one; a doubled quote stands for one. `None` if
/// the text ends first.
fn quoted_body(input: &str, quote: char) -> Option<(&str, String)> {
    let mut rest = input;
    let mut out = String::new();
    loop {
        let (after, chunk) =
            take_till::<_, _, nom::error::Error<&str>>(|c| c == quote)(rest).ok()?;
        out.push_str(chunk);
        let mut closing = after.chars();
        closing.next()?;
        let after_quote = closing.as_str();
        if after_quote.starts_with(quote) {
            out.push(quote);
            rest = &after_quote[quote.len_utf8()..];
        } else {
            return Some((after_quote, out));
        }
    }
}

/// Whitespace and comments at the front of `input`; an unterminated
/// `/* …` is an error.
fn skip_trivia<'t>(text: &'t str, mut input: &'t str) -> Result<&'t str, QueryError> {
    loop {
        // Most tokens follow one space or none: decide on the first byte.
        match input.as_bytes().first() {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'-' | b'/') => {}
            _ => return Ok(input),
        }
        if let Ok((rest, _)) = multispace1::<_, nom::error::Error<&str>>(input) {
            input = rest;
        } else if let Some(comment) = input.strip_prefix("--") {
            let (rest, _) = take_till::<_, _, nom::error::Error<&str>>(|c| c == '\n')(comment)
                .unwrap_or(("", comment));
            input = rest;
        } else if let Some(comment) = input.strip_prefix("/*") {
            match take_until::<_, _, nom::error::Error<&str>>("*/")(comment) {
                Ok((rest, _)) => input = &rest[2..],
                Err(_) => {
                    let at = text.len() - input.len();
                    return Err(QueryError::new(
                        ErrorKind::InvalidToken("unterminated comment: `/*` has no `*/`".into()),
                        Span::new(at, at + 2),
                        text,
                    ));
                }
            }
        } else {
            return Ok(input);
        }
    }
}

/// Reads every token of `text`, ending with one `Eof`.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, QueryError> {
    // About one token per four bytes of text (most statements): grown
    // at most once or twice.
    let mut tokens = Vec::with_capacity(text.len() / 4 + 2);
    let mut input = text;
    loop {
        input = skip_trivia(text, input)?;
        let start = text.len() - input.len();
        if input.is_empty() {
            tokens.push(Token {
                kind: TokenKind::Eof,
                span: Span::new(start, start),
            });
            return Ok(tokens);
        }
        let (rest, kind) = token(text, input, start)?;
        let end = text.len() - rest.len();
        tokens.push(Token {
            kind,
            span: Span::new(start, end),
        });
        input = rest;
    }
}

/// One token at the front of `input`, which starts at byte `start` of `text`.
fn token<'t>(
    text: &'t str,
    input: &'t str,
    start: usize,
) -> Result<(&'t str, TokenKind<'t>), QueryError> {
    let error = |message: String, len: usize| {
        QueryError::new(
            ErrorKind::InvalidToken(message),
            Span::new(start, start + len),
            text,
        )
    };
    let first = input.chars().next().unwrap_or(' ');

    if is_word_start(first) {
        if let Ok((rest, w)) = word(input) {
            return Ok((rest, TokenKind::Word(w)));
        }
    }
    let number = first.is_ascii_digit() || first == '-';
    let int = if number { integer(input).ok() } else { None };
    if let Some((rest, digits)) = int {
        if let Ok((_, tail)) = take_while1::<_, _, nom::error::Error<&str>>(is_word_char)(rest) {
            let whole = &input[..digits.len() + tail.len()];
            return Err(
                error(format!("invalid number {}", snippet(whole)), whole.len())
                    .with_hint("put a space between a number and a word"),
            );
        }
        if let Some(fraction) = rest.strip_prefix('.') {
            // `1..2` is a range: only a digit right after the point makes
            // a decimal number.
            if let Ok((after, frac)) = digit1::<_, nom::error::Error<&str>>(fraction) {
                let whole = &input[..digits.len() + 1 + frac.len()];
                if let Ok((_, tail)) =
                    take_while1::<_, _, nom::error::Error<&str>>(is_word_char)(after)
                {
                    let bad = &input[..whole.len() + tail.len()];
                    return Err(error(format!("invalid number {}", snippet(bad)), bad.len())
                        .with_hint("put a space between a number and a word"));
                }
                return Ok((after, TokenKind::Decimal(whole)));
            }
        }
        return match digits.parse::<i64>() {
            Ok(n) => Ok((rest, TokenKind::Int(n))),
            Err(_) => Err(error(
                format!(
                    "the integer {} does not fit in 64 bits (from {} to {})",
                    snippet(digits),
                    i64::MIN,
                    i64::MAX
                ),
                digits.len(),
            )),
        };
    }
    if first == '\'' || first == '"' {
        let Some((rest, body)) = quoted_body(&input[1..], first) else {
            let what = if first == '\'' {
                "string"
            } else {
                "quoted name"
            };
            return Err(error(
                format!("unterminated {what}: `{first}` has no closing `{first}`"),
                1,
            )
            .with_hint(format!(
                "a `{first}` inside is written twice: `{first}{first}`"
            )));
        };
        if first == '\'' {
            return Ok((rest, TokenKind::Str(body)));
        }
        if body.is_empty() {
            return Err(error("a quoted name cannot be empty".into(), 2));
        }
        return Ok((rest, TokenKind::QuotedIdent(body)));
    }
    if input.starts_with("==") {
        return Err(error("`==` is not an operator".into(), 2).with_hint("use `=`"));
    }
    if let Ok((rest, kind)) = punctuation(input) {
        return Ok((rest, kind));
    }
    let shown = if first.is_control() || first.is_whitespace() {
        format!("U+{:04X}", u32::from(first))
    } else {
        first.to_string()
    };
    let mut err = error(format!("unexpected character `{shown}`"), first.len_utf8());
    err = match first {
        '&' => err.with_hint("use AND"),
        '|' => err.with_hint("use OR"),
        '!' => err.with_hint("use NOT, or != for \"not equal\""),
        '`' => err.with_hint("quote names with double quotes: \"name\""),
        '.' => err.with_hint("a date range is written '2026-11-01'..'2026-11-22'"),
        c if c.is_alphabetic() => {
            err.with_hint("names with letters other than A-Z are quoted: \"name\"")
        }
        _ => err,
    };
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind<'_>> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokens_and_spans() {
        use TokenKind::*;
        assert_eq!(
            kinds("a<=-5 'it''s'..\"x\"\"y\" -- c\n/* d */<>"),
            vec![
                Word("a"),
                Le,
                Int(-5),
                Str("it's".into()),
                DotDot,
                QuotedIdent("x\"y".into()),
                Ne,
                Eof
            ]
        );
        let spans: Vec<Span> = tokenize(" ab  'c'")
            .unwrap()
            .iter()
            .map(|t| t.span)
            .collect();
        assert_eq!(
            spans,
            vec![Span::new(1, 3), Span::new(5, 8), Span::new(8, 8)]
        );
    }

    #[test]
    fn integers_at_the_edges() {
        assert_eq!(kinds("-9223372036854775808")[0], TokenKind::Int(i64::MIN));
        assert_eq!(kinds("9223372036854775807")[0], TokenKind::Int(i64::MAX));
        assert!(tokenize("9223372036854775808").is_err());
        assert!(tokenize("-9223372036854775809").is_err());
    }

    #[test]
    fn decimals_and_ranges() {
        use TokenKind::*;
        assert_eq!(
            kinds("0.9 -1.25 1..2 '1'..'2' 3.0"),
            vec![
                Decimal("0.9"),
                Decimal("-1.25"),
                Int(1),
                DotDot,
                Int(2),
                Str("1".into()),
                DotDot,
                Str("2".into()),
                Decimal("3.0"),
                Eof
            ]
        );
        // A point with no digit after it is no decimal.
        assert!(tokenize("1.").is_err());
        assert!(tokenize("1.5.3").is_err());
    }

    #[test]
    fn bad_tokens() {
        for text in [
            "'abc", "\"abc", "/* x", "\"\"", "7days", "1.5x", "a & b", "#", "é", "==",
        ] {
            let err = tokenize(text).unwrap_err();
            assert_eq!(err.code(), "syntax_error", "{text}");
        }
    }
}
