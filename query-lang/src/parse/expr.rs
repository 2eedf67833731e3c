//! WHERE expressions: `OR` binds loosest, then `AND`, then `NOT`.

use std::fmt::Display;

use super::lexer::TokenKind;
use super::Parser;
use crate::ast::{
    CampaignGroup, CampaignPredicate, CmpOp, DateLit, Expr, ExprKind, Ident, Literal, Predicate,
    Span, Value, Window,
};
use crate::error::{snippet, QueryError};

/// Words after which a bare field (`is_owner`) ends: what may follow a
/// whole condition.
const AFTER_CONDITION: &[&str] = &[
    "AND", "OR", "GROUP", "ORDER", "LIMIT", "AS", "VERSUS", "VS", "TOP", "WIDTH",
    // The clauses of CREATE CAMPAIGN after its AUDIENCE WHERE.
    "AUDIENCE", "CHANNEL", "VARIANT", "HOLDOUT", "SPLIT", "CAP", "PRIORITY", "KIND", "SCHEDULE",
    "APPROVAL", "RATE", "ALLOW", "GOAL", // A WHEN condition of a tag's CASE.
    "THEN",
];

impl Parser<'_> {
    /// `expr ::= and_expr ( "OR" and_expr )*`
    pub(super) fn parse_expr(&mut self) -> Result<Expr, QueryError> {
        let first = self.parse_and()?;
        if !self.at_keyword("OR") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_keyword("OR").is_some() {
            operands.push(self.parse_and()?);
        }
        Ok(n_ary(operands, ExprKind::Or))
    }

    /// `and_expr ::= not_expr ( "AND" not_expr )*`
    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let first = self.parse_not()?;
        if !self.at_keyword("AND") {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.eat_keyword("AND").is_some() {
            operands.push(self.parse_not()?);
        }
        Ok(n_ary(operands, ExprKind::And))
    }

    /// `not_expr ::= "NOT" not_expr | primary`
    fn parse_not(&mut self) -> Result<Expr, QueryError> {
        let Some(not) = self.eat_keyword("NOT") else {
            return self.parse_primary();
        };
        self.enter(not)?;
        let operand = self.parse_not()?;
        self.leave();
        Ok(Expr {
            span: not.to(operand.span),
            kind: ExprKind::Not(Box::new(operand)),
        })
    }

    /// `primary ::= "(" expr ")" | leaf`. The recursive path (`parse_expr`,
    /// `parse_and`, `parse_not`, this) keeps its frames small; everything
    /// else is in [`Parser::parse_leaf`].
    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        let Some(open) = self.eat(&TokenKind::LParen) else {
            return self.parse_leaf();
        };
        self.enter(open)?;
        let mut inner = self.parse_expr()?;
        self.leave();
        let close = self.expect(&TokenKind::RParen, "`)`, AND or OR")?;
        inner.span = open.to(close);
        Ok(inner)
    }

    /// `leaf ::= "IN" "SEGMENT" name | event_count | did | name predicate`
    #[inline(never)]
    fn parse_leaf(&mut self) -> Result<Expr, QueryError> {
        if let Some(start) = self.eat_keyword("IN") {
            self.expect_keyword("SEGMENT", "SEGMENT after IN")?;
            let name = self.parse_ident("a segment name")?;
            let span = start.to(name.span);
            return Ok(Expr::predicate(Predicate::InSegment(name), span));
        }
        let next_is_paren = self.peek_nth(1).kind == TokenKind::LParen;
        if next_is_paren && self.at_keyword("count") {
            return self.parse_event_count();
        }
        if next_is_paren && self.at_keyword("did") {
            return self.parse_did();
        }
        if next_is_paren {
            if let TokenKind::Word(w) = self.peek().kind {
                if let Some(group) = CampaignGroup::from_function(w) {
                    return self.parse_campaign(group);
                }
            }
        }
        match self.peek().kind {
            TokenKind::Word(w) if !super::is_reserved(w) => {}
            TokenKind::QuotedIdent(_) => {}
            TokenKind::Str(_) | TokenKind::Int(_) => {
                return Err(self
                    .expected("a condition")
                    .with_hint("a condition starts with a field name: `city = 'c000'`"));
            }
            _ => return Err(self.not_a_condition()),
        }
        let field = self.parse_ident("a field name")?;
        let start = field.span;
        let (predicate, end) = self.parse_predicate(field)?;
        Ok(Expr::predicate(predicate, start.to(end)))
    }

    /// The error for a token that cannot start a condition.
    fn not_a_condition(&self) -> QueryError {
        let err = self.expected(
            "a condition (a field, NOT, `(`, count(…), did(…), IN SEGMENT or a campaign's group)",
        );
        let TokenKind::Word(w) = self.peek().kind else {
            return err;
        };
        let compared = matches!(
            self.peek_nth(1).kind,
            TokenKind::Eq
                | TokenKind::Ne
                | TokenKind::Lt
                | TokenKind::Le
                | TokenKind::Gt
                | TokenKind::Ge
        );
        err.with_hint_opt(compared.then(|| format!("to use `{w}` as a name, quote it: \"{w}\"")))
    }

    /// What follows a field name: an operator and its values, or nothing
    /// for a bare BOOL field. Returns the predicate and where it ends.
    fn parse_predicate(&mut self, field: Ident) -> Result<(Predicate, Span), QueryError> {
        if let Some(op) = self.cmp_op() {
            let op_span = self.advance();
            let value = self.parse_value(format_args!("a value after `{}`", op.as_str()))?;
            let end = value.span;
            let predicate = Predicate::Compare {
                field,
                op,
                op_span,
                value,
            };
            return Ok((predicate, end));
        }
        if self.eat_keyword("BETWEEN").is_some() {
            let lo = self.parse_value("a value after BETWEEN")?;
            self.expect_keyword("AND", "AND between the two ends of BETWEEN")?;
            let hi = self.parse_value("a value after AND")?;
            let end = hi.span;
            return Ok((Predicate::Between { field, lo, hi }, end));
        }
        if self.at_keyword("IN") || self.at_keyword("NOT") {
            let negated = self.eat_keyword("NOT").is_some();
            self.expect_keyword("IN", "IN after NOT")?;
            let (values, end) = self.parse_value_list()?;
            let predicate = Predicate::In {
                field,
                negated,
                values,
            };
            return Ok((predicate, end));
        }
        if self.eat_keyword("HAS").is_some() {
            let any = self.at_keyword("ANY");
            if any || self.at_keyword("ALL") {
                self.advance();
                let (values, end) = self.parse_value_list()?;
                let predicate = if any {
                    Predicate::HasAny { field, values }
                } else {
                    Predicate::HasAll { field, values }
                };
                return Ok((predicate, end));
            }
            let value = self.parse_value("a value, ANY (…) or ALL (…) after HAS")?;
            let end = value.span;
            return Ok((Predicate::Has { field, value }, end));
        }
        if self.eat_keyword("IS").is_some() {
            let negated = self.eat_keyword("NOT").is_some();
            let what = if negated {
                "NULL after IS NOT"
            } else {
                "NULL or NOT NULL after IS"
            };
            let end = self.expect_keyword("NULL", what)?;
            return Ok((Predicate::IsNull { field, negated }, end));
        }
        let ends_condition = match self.peek().kind {
            TokenKind::RParen | TokenKind::Semicolon | TokenKind::Eof => true,
            TokenKind::Word(w) => AFTER_CONDITION.iter().any(|k| k.eq_ignore_ascii_case(w)),
            _ => false,
        };
        if ends_condition {
            let end = field.span;
            return Ok((Predicate::Field(field), end));
        }
        let what = format!("a comparison operator after {}", snippet(&field.name));
        let err = self.expected(what);
        Err(match self.peek().kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("LIKE") => {
                err.with_hint("LIKE is not supported; ENUM fields compare with = and IN")
            }
            TokenKind::Word(_) | TokenKind::QuotedIdent(_) => {
                err.with_hint("you may have forgotten AND or OR between two conditions")
            }
            _ => err.with_hint("operators are = != < <= > >= BETWEEN IN NOT IN HAS IS NULL"),
        })
    }

    /// The comparison operator at the current token, if it is one.
    fn cmp_op(&self) -> Option<CmpOp> {
        Some(match self.peek().kind {
            TokenKind::Eq => CmpOp::Eq,
            TokenKind::Ne => CmpOp::Ne,
            TokenKind::Lt => CmpOp::Lt,
            TokenKind::Le => CmpOp::Le,
            TokenKind::Gt => CmpOp::Gt,
            TokenKind::Ge => CmpOp::Ge,
            _ => return None,
        })
    }

    /// `value ::= string | integer | TRUE | FALSE`
    pub(super) fn parse_value(&mut self, what: impl Display) -> Result<Literal, QueryError> {
        let token = self.peek();
        let value = match &token.kind {
            TokenKind::Str(_) => Value::Str(self.take_string()),
            TokenKind::Int(n) => Value::Int(*n),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("TRUE") => Value::Bool(true),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("FALSE") => Value::Bool(false),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("NULL") => {
                return Err(self
                    .expected(what)
                    .with_hint("test for null with `IS NULL` or `IS NOT NULL`"));
            }
            TokenKind::Word(w) => {
                let hint = format!("text values are in single quotes: '{w}'");
                return Err(self.expected(what).with_hint(hint));
            }
            TokenKind::Decimal(_) => {
                return Err(self
                    .expected(what)
                    .with_hint("decimal numbers appear only in QUANTILE(field, q); INT fields hold whole numbers"));
            }
            TokenKind::QuotedIdent(name) => {
                let hint = format!(
                    "text values are in single quotes: '{}' (double quotes are for names)",
                    name.replace('\'', "''")
                );
                return Err(self.expected(what).with_hint(hint));
            }
            _ => return Err(self.expected(what)),
        };
        Ok(Literal {
            value,
            span: self.advance(),
        })
    }

    /// `value_list ::= "(" value ( "," value )* ")"`, with the end of its span.
    fn parse_value_list(&mut self) -> Result<(Vec<Literal>, Span), QueryError> {
        self.expect(&TokenKind::LParen, "`(` and a list of values")?;
        let mut values = Vec::new();
        loop {
            self.check_list_len(values.len())?;
            values.push(self.parse_value("a value")?);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        let end = self.expect(&TokenKind::RParen, "`,` or `)` in the list of values")?;
        Ok((values, end))
    }

    /// `event_count ::= "count" "(" name "," window ")" ( cmp_op integer
    /// | "BETWEEN" integer "AND" integer )`
    fn parse_event_count(&mut self) -> Result<Expr, QueryError> {
        let start = self.advance();
        let (event, window) = self.parse_event_args("count")?;
        if self.eat_keyword("BETWEEN").is_some() {
            let lo = self.parse_int("an integer after BETWEEN")?;
            self.expect_keyword("AND", "AND between the two ends of BETWEEN")?;
            let hi = self.parse_int("an integer after AND")?;
            let span = start.to(hi.span);
            let predicate = Predicate::EventBetween {
                event,
                window,
                lo,
                hi,
            };
            return Ok(Expr::predicate(predicate, span));
        }
        let Some(op) = self.cmp_op() else {
            return Err(self
                .expected("a comparison operator or BETWEEN after count(…)")
                .with_hint(
                    "compare the count with a number: count(search, last 7 days) > 3, \
                     or BETWEEN 2 AND 5",
                ));
        };
        let op_span = self.advance();
        let n = self.parse_int(format_args!("an integer after `{}`", op.as_str()))?;
        let span = start.to(n.span);
        let predicate = Predicate::EventCount {
            event,
            window,
            op,
            op_span,
            n,
        };
        Ok(Expr::predicate(predicate, span))
    }

    /// `did ::= "did" "(" name "," window ")"`
    fn parse_did(&mut self) -> Result<Expr, QueryError> {
        let start = self.advance();
        let (event, window) = self.parse_event_args("did")?;
        let span = Span::new(start.start, self.previous_end());
        Ok(Expr::predicate(Predicate::Did { event, window }, span))
    }

    /// `campaign ::= function "(" (name | string) [ "," string ] [ ","
    /// "run" "=>" integer ] ")"`, the string a variant's name (only, and
    /// always, for `in_variant`).
    fn parse_campaign(&mut self, group: CampaignGroup) -> Result<Expr, QueryError> {
        let start = self.advance();
        let func = group.function();
        self.expect(&TokenKind::LParen, "`(`")?;
        let campaign = match self.peek().kind {
            TokenKind::Str(_) => Ident {
                name: self.take_string(),
                span: self.advance(),
            },
            _ => self.parse_ident(format_args!("a campaign's name in {func}(…)"))?,
        };
        let mut variant = None;
        if group.takes_variant() {
            if self.eat(&TokenKind::Comma).is_none() {
                return Err(self
                    .expected("`,` and a variant's name")
                    .with_hint(format!("write {func}({campaign}, 'a')")));
            }
            if !matches!(self.peek().kind, TokenKind::Str(_)) {
                return Err(self
                    .expected("a variant's name in single quotes")
                    .with_hint(format!("write {func}({campaign}, 'a')")));
            }
            variant = Some(self.parse_value("a variant's name")?);
        }
        let mut run = None;
        if self.eat(&TokenKind::Comma).is_some() {
            if !self.at_keyword("run") {
                let hint = if group.takes_variant() {
                    format!("{func}(…) takes a campaign, a variant and `run => n`")
                } else {
                    format!("{func}(…) takes a campaign and `run => n`; in_variant(c, 'a') names a variant")
                };
                return Err(self.expected("`run => n`").with_hint(hint));
            }
            self.advance();
            self.expect(&TokenKind::Arrow, "`=>` after `run`")?;
            run = Some(self.parse_int("a run's number after `run =>`")?);
        }
        let what = if run.is_some() {
            "`)`"
        } else {
            "`,` and `run => n`, or `)`"
        };
        let end = self.expect(&TokenKind::RParen, what)?;
        let predicate = Predicate::Campaign(CampaignPredicate {
            group,
            campaign,
            variant,
            run,
        });
        Ok(Expr::predicate(predicate, start.to(end)))
    }

    /// `"(" name "," window ")"` after `count` or `did`.
    fn parse_event_args(&mut self, func: &str) -> Result<(Ident, Window), QueryError> {
        self.expect(&TokenKind::LParen, "`(`")?;
        let event = self.parse_ident(format_args!("an EVENT field name in {func}(…)"))?;
        self.expect(&TokenKind::Comma, "`,` and a window of days")
            .map_err(|e| e.with_hint(format!("write {func}({}, last 7 days)", event.name)))?;
        let window = self.parse_window()?;
        self.expect(&TokenKind::RParen, "`)` after the window")?;
        Ok((event, window))
    }

    /// `window ::= "last" integer ( "day" | "days" ) | string ".." string`
    fn parse_window(&mut self) -> Result<Window, QueryError> {
        if let Some(start) = self.eat_keyword("last") {
            let days = self.parse_int("a number of days after `last`")?;
            let end = if self.at_keyword("days") || self.at_keyword("day") {
                self.advance()
            } else {
                return Err(self.expected("`days` after the number of days"));
            };
            return Ok(Window::Last {
                days,
                span: start.to(end),
            });
        }
        let what = "a window: `last N days` or 'YYYY-MM-DD'..'YYYY-MM-DD'";
        let first = self.parse_date(what)?;
        self.expect(&TokenKind::DotDot, "`..` between the first and last day")?;
        let last = self.parse_date("the last day of the range, 'YYYY-MM-DD'")?;
        Ok(Window::Range { first, last })
    }

    /// A string meant to hold a date; the binder checks the date.
    pub(super) fn parse_date(&mut self, what: &str) -> Result<DateLit, QueryError> {
        match &self.peek().kind {
            TokenKind::Str(_) => Ok(DateLit {
                text: self.take_string(),
                span: self.advance(),
            }),
            _ => Err(self.expected(what)),
        }
    }
}

/// `And` or `Or` of two operands or more, spanning them all.
fn n_ary(operands: Vec<Expr>, make: fn(Vec<Expr>) -> ExprKind) -> Expr {
    let span = match (operands.first(), operands.last()) {
        (Some(first), Some(last)) => first.span.to(last.span),
        _ => Span::default(),
    };
    Expr {
        kind: make(operands),
        span,
    }
}
