//! Text -> syntax tree. The lexer (nom) turns the text into tokens; a
//! recursive-descent parser over the tokens builds the tree, one
//! `parse_<production>` function per production of the grammar in the
//! crate docs. It commits at the first token that picks a production, so an
//! error names the spot where the text leaves the grammar and what the
//! grammar allowed there. Nesting depth, list length and text length are
//! capped (see [`crate::limits`]), so no text can exhaust the stack.

mod campaign;
mod expr;
mod insight;
mod lexer;
mod statement;
mod tag;

use std::fmt::Display;
use std::sync::Arc;

use crate::ast::{self, Ident, IntLit, Span};
use crate::error::{ErrorKind, QueryError};
use crate::limits;
use lexer::{Token, TokenKind};

/// Words that cannot be names unless quoted, because they would make the
/// grammar ambiguous. Other keywords (`count`, `last`, `ASC`, kind names…)
/// are recognized by their place and may also be names.
const RESERVED: &[&str] = &[
    "AND", "AS", "BETWEEN", "BY", "CREATE", "FALSE", "FROM", "GROUP", "HAS", "IN", "IS", "LIMIT",
    "NOT", "NULL", "OFFSET", "OR", "ORDER", "SELECT", "TABLE", "TRUE", "WHERE",
];

/// Whether `word` is a reserved word, in any case.
pub(crate) fn is_reserved(word: &str) -> bool {
    // Every reserved word has 2 to 7 letters: most names end here.
    (2..=7).contains(&word.len()) && RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// Parses statements separated by `;` (a trailing `;` is allowed). A text
/// holding only whitespace and comments has no statements.
pub fn parse(text: &str) -> Result<Vec<ast::Statement>, QueryError> {
    let mut parser = Parser::new(text)?;
    let source: Arc<str> = Arc::from(text);
    let mut statements = Vec::new();
    loop {
        if parser.at(&TokenKind::Eof) {
            return Ok(statements);
        }
        let start = parser.peek().span.start;
        let kind = parser.parse_statement()?;
        let end = parser.previous_end();
        statements.push(ast::Statement {
            kind,
            span: Span::new(start, end),
            source: Arc::clone(&source),
        });
        if parser.eat(&TokenKind::Semicolon).is_none() && !parser.at(&TokenKind::Eof) {
            return Err(parser.expected("`;` or the end of the input"));
        }
    }
}

/// Parses one WHERE expression, the whole text.
pub fn parse_expr(text: &str) -> Result<ast::Expr, QueryError> {
    let mut parser = Parser::new(text)?;
    let expr = parser.parse_expr()?;
    if !parser.at(&TokenKind::Eof) {
        return Err(parser.expected("AND, OR or the end of the expression"));
    }
    Ok(expr)
}

/// Parses a bare WHERE expression, the whole text; `None` when the text
/// holds only whitespace and comments.
pub fn parse_filter(text: &str) -> Result<Option<ast::Expr>, QueryError> {
    let mut parser = Parser::new(text)?;
    if parser.at(&TokenKind::Eof) {
        return Ok(None);
    }
    let expr = parser.parse_expr()?;
    if !parser.at(&TokenKind::Eof) {
        return Err(parser.expected("AND, OR or the end of the expression"));
    }
    Ok(Some(expr))
}

/// [`parse_filter`]'s expression as the statement `SELECT COUNT(*) FROM
/// table WHERE text` would hold it, with `text` as its source, so that
/// what looks at statements (which fields they use) can look at it and
/// place what it finds in `text`; `None` for a blank text.
pub fn parse_filter_statement(
    table: &str,
    text: &str,
) -> Result<Option<ast::Statement>, QueryError> {
    let Some(filter) = parse_filter(text)? else {
        return Ok(None);
    };
    let span = filter.span;
    Ok(Some(ast::Statement {
        kind: ast::StatementKind::Select(ast::Select {
            items: vec![ast::SelectItem {
                kind: ast::SelectItemKind::CountStar,
                span,
            }],
            table: Ident {
                name: table.to_owned(),
                span,
            },
            filter: Some(filter),
            group_by: None,
            order_by: None,
            limit: None,
            as_of: None,
        }),
        span,
        source: text.into(),
    }))
}

/// Parses a tag's definition on its own, the whole text: a condition (a
/// BOOL tag) or `CASE WHEN … THEN 'v' … [ELSE 'w'] END`.
pub fn parse_tag_definition(text: &str) -> Result<ast::TagDef, QueryError> {
    let mut parser = Parser::new(text)?;
    let def = parser.parse_tag_def()?;
    if !parser.at(&TokenKind::Eof) {
        return Err(parser.expected("the end of the tag's definition"));
    }
    Ok(def)
}

/// Parses a segment's definition on its own, the whole text:
/// `SELECT FROM table WHERE expr`, a trailing `;` allowed. Returns the
/// table and the expression, with spans into `text`.
pub fn parse_segment_select(text: &str) -> Result<(Ident, ast::Expr), QueryError> {
    let mut parser = Parser::new(text)?;
    let parsed = parser.parse_segment_select()?;
    parser.eat(&TokenKind::Semicolon);
    if !parser.at(&TokenKind::Eof) {
        return Err(parser.expected("the end of the definition (one statement, no `;` between)"));
    }
    Ok(parsed)
}

/// The parser's state: the tokens, where it is, how deep it is.
pub(crate) struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token<'t>>,
    pos: usize,
    depth: usize,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Result<Parser<'t>, QueryError> {
        if text.len() > limits::MAX_QUERY_BYTES {
            let at = limits::MAX_QUERY_BYTES;
            return Err(QueryError::new(
                ErrorKind::LimitExceeded {
                    what: "the length of the query in bytes",
                    limit: limits::MAX_QUERY_BYTES,
                },
                Span::new(at, at),
                text,
            ));
        }
        Ok(Parser {
            text,
            tokens: lexer::tokenize(text)?,
            pos: 0,
            depth: 0,
        })
    }

    /// The current token (`Eof` at the end).
    fn peek(&self) -> &Token<'t> {
        &self.tokens[self.pos]
    }

    /// The token `n` after the current one (`Eof` past the end).
    fn peek_nth(&self, n: usize) -> &Token<'t> {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)]
    }

    /// The text of the current token, a string or quoted name, taken out
    /// of it (the token is consumed next; errors show tokens by their span).
    fn take_string(&mut self) -> String {
        match &mut self.tokens[self.pos].kind {
            TokenKind::Str(s) | TokenKind::QuotedIdent(s) => std::mem::take(s),
            _ => String::new(),
        }
    }

    /// Moves past the current token (never past `Eof`) and returns its span.
    fn advance(&mut self) -> Span {
        let span = self.tokens[self.pos].span;
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        span
    }

    /// The end of the last token consumed.
    fn previous_end(&self) -> usize {
        match self.pos.checked_sub(1) {
            Some(p) => self.tokens[p].span.end,
            None => 0,
        }
    }

    fn at(&self, kind: &TokenKind<'_>) -> bool {
        &self.peek().kind == kind
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_keyword(keyword)
    }

    /// Consumes the punctuation `kind` if it comes next.
    fn eat(&mut self, kind: &TokenKind<'_>) -> Option<Span> {
        self.at(kind).then(|| self.advance())
    }

    /// Consumes the keyword if it comes next.
    fn eat_keyword(&mut self, keyword: &str) -> Option<Span> {
        self.at_keyword(keyword).then(|| self.advance())
    }

    /// Consumes the punctuation `kind`, or fails saying `what` was expected.
    fn expect(&mut self, kind: &TokenKind<'_>, what: &str) -> Result<Span, QueryError> {
        self.eat(kind).ok_or_else(|| self.expected(what))
    }

    /// Consumes the keyword, or fails saying `what` was expected.
    fn expect_keyword(&mut self, keyword: &str, what: &str) -> Result<Span, QueryError> {
        self.eat_keyword(keyword).ok_or_else(|| self.expected(what))
    }

    /// A syntax error at the current token: "expected {what}, found …".
    fn expected(&self, what: impl Display) -> QueryError {
        let token = self.peek();
        let found = match token.kind {
            TokenKind::Word(w) if is_reserved(w) => {
                format!("keyword {}", token.describe(self.text))
            }
            _ => token.describe(self.text),
        };
        self.error_at(
            ErrorKind::Syntax {
                expected: what.to_string(),
                found,
            },
            token.span,
        )
    }

    fn error_at(&self, kind: ErrorKind, span: Span) -> QueryError {
        QueryError::new(kind, span, self.text)
    }

    /// A name: an unreserved word or a quoted name. `what` says which
    /// name, for the error ("a field name").
    fn parse_ident(&mut self, what: impl Display) -> Result<Ident, QueryError> {
        let token = self.peek();
        let name = match &token.kind {
            TokenKind::Word(w) if !is_reserved(w) => w.to_string(),
            TokenKind::QuotedIdent(_) => self.take_string(),
            TokenKind::Word(w) => {
                let hint = format!("to use `{w}` as a name, quote it: \"{w}\"");
                return Err(self.expected(what).with_hint(hint));
            }
            _ => return Err(self.expected(what)),
        };
        let span = self.advance();
        Ok(Ident { name, span })
    }

    /// An integer, or fails saying `what` was expected.
    fn parse_int(&mut self, what: impl Display) -> Result<IntLit, QueryError> {
        match self.peek().kind {
            TokenKind::Int(value) => Ok(IntLit {
                value,
                span: self.advance(),
            }),
            _ => Err(self.expected(what)),
        }
    }

    /// Enters one level of nesting (parentheses or NOT) opened by the
    /// token at `opener`, failing past the limit. Pair with
    /// [`Parser::leave`].
    fn enter(&mut self, opener: Span) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > limits::MAX_DEPTH {
            return Err(self.error_at(
                ErrorKind::LimitExceeded {
                    what: "the nesting depth of the expression",
                    limit: limits::MAX_DEPTH,
                },
                opener,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Fails if a list already holds the most items allowed.
    fn check_list_len(&self, len: usize) -> Result<(), QueryError> {
        if len >= limits::MAX_LIST_LEN {
            return Err(self.error_at(
                ErrorKind::LimitExceeded {
                    what: "the number of items in the list",
                    limit: limits::MAX_LIST_LEN,
                },
                self.peek().span,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_and_comments_hold_no_statements() {
        for text in ["", "  \n\t", "-- nothing", "/* nothing */ -- at all"] {
            assert_eq!(parse(text).unwrap(), Vec::new(), "{text:?}");
        }
    }

    #[test]
    fn statements_know_their_span_and_source() {
        let text = " SELECT COUNT(*) FROM users ;SELECT user_id FROM users;";
        let statements = parse(text).unwrap();
        let spans: Vec<Span> = statements.iter().map(|s| s.span).collect();
        assert_eq!(spans, [Span::new(1, 27), Span::new(29, 54)]);
        assert_eq!(&text[29..54], "SELECT user_id FROM users");
        assert!(statements.iter().all(|s| &*s.source == text));
    }

    #[test]
    fn predicates_know_their_span() {
        let text = "NOT (city IN ('a', 'b')) AND count(search, last 7 days) > 3";
        let expr = parse_expr(text).unwrap();
        assert_eq!(expr.span, Span::new(0, text.len()));
        let ast::ExprKind::And(operands) = &expr.kind else {
            panic!("{expr:?}")
        };
        let spans: Vec<&str> = operands
            .iter()
            .map(|e| &text[e.span.start..e.span.end])
            .collect();
        assert_eq!(
            spans,
            ["NOT (city IN ('a', 'b'))", "count(search, last 7 days) > 3"]
        );
    }
}
