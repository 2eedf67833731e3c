//! `INSIGHT [f, …] FROM t [WHERE expr] [TOP k] [WIDTH w] [AS OF 'date']`
//! and `COMPARE [f, …] FROM t WHERE a VERSUS b [TOP k] [WIDTH w] [AS OF 'date']`.

use super::lexer::TokenKind;
use super::Parser;
use crate::ast::{Compare, Ident, Insight, InsightClauses};
use crate::error::QueryError;
use crate::suggest;

/// The clauses after the segments, in their order.
const CLAUSES: &[&str] = &["TOP", "WIDTH", "AS OF"];

impl Parser<'_> {
    /// `insight ::= "INSIGHT" [ name ( "," name )* ] "FROM" name [ "WHERE" expr ] clauses`
    pub(super) fn parse_insight(&mut self) -> Result<Insight, QueryError> {
        self.advance();
        let fields = self.parse_insight_fields("INSIGHT")?;
        let table = self.parse_ident("a table name after FROM")?;
        let filter = match self.eat_keyword("WHERE") {
            Some(_) => Some(self.parse_expr()?),
            None => None,
        };
        let clauses = self.parse_insight_clauses(filter.is_some(), false)?;
        Ok(Insight {
            fields,
            table,
            filter,
            clauses,
        })
    }

    /// `compare ::= "COMPARE" [ name ( "," name )* ] "FROM" name "WHERE" expr "VERSUS" expr clauses`
    pub(super) fn parse_compare(&mut self) -> Result<Compare, QueryError> {
        self.advance();
        let fields = self.parse_insight_fields("COMPARE")?;
        let table = self.parse_ident("a table name after FROM")?;
        if self.eat_keyword("WHERE").is_none() {
            return Err(self
                .expected(format!("WHERE after COMPARE … FROM {table}"))
                .with_hint("name the two segments: COMPARE … FROM t WHERE a VERSUS b"));
        }
        let a = self.parse_expr()?;
        if self.eat_keyword("VERSUS").is_none() {
            let err = self.expected("AND, OR or VERSUS after the first segment");
            return Err(match self.peek().kind {
                TokenKind::Word(w) if w.eq_ignore_ascii_case("VS") => {
                    err.with_hint("write VERSUS in full")
                }
                TokenKind::Word(w) => err.with_hint_opt(
                    suggest::nearest(&w.to_ascii_uppercase(), ["VERSUS", "AND", "OR"])
                        .map(|k| format!("did you mean `{k}`?")),
                ),
                _ => err.with_hint("COMPARE needs two segments: WHERE a VERSUS b"),
            });
        }
        let b = self.parse_expr()?;
        let clauses = self.parse_insight_clauses(true, true)?;
        Ok(Compare {
            fields,
            table,
            a,
            b,
            clauses,
        })
    }

    /// The field list up to and including FROM (empty when FROM comes first).
    fn parse_insight_fields(&mut self, statement: &str) -> Result<Vec<Ident>, QueryError> {
        let mut fields = Vec::new();
        if self.eat_keyword("FROM").is_some() {
            return Ok(fields);
        }
        if self.at(&TokenKind::Star) {
            return Err(self
                .expected(format!("a field name or FROM after {statement}"))
                .with_hint(format!(
                    "for every field leave the list out: {statement} FROM t …"
                )));
        }
        loop {
            self.check_list_len(fields.len())?;
            fields.push(self.parse_ident("a field name")?);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        if self.eat_keyword("FROM").is_none() {
            let err = self.expected("`,` or FROM after the field list");
            return Err(match self.peek().kind {
                TokenKind::Word(_) | TokenKind::QuotedIdent(_) => {
                    err.with_hint("separate fields with `,`")
                }
                _ => err,
            });
        }
        Ok(fields)
    }

    /// `clauses ::= [ "TOP" integer ] [ "WIDTH" integer ] [ "AS" "OF" string ]`,
    /// then the end of the statement. `after_expr`: a WHERE expression
    /// came just before (AND and OR could continue it).
    fn parse_insight_clauses(
        &mut self,
        after_expr: bool,
        compare: bool,
    ) -> Result<InsightClauses, QueryError> {
        let mut clauses = InsightClauses::default();
        // The index in CLAUSES of the first clause still allowed.
        let mut next = 0;
        if self.eat_keyword("TOP").is_some() {
            clauses.top = Some(self.parse_int("a number of values after TOP")?);
            next = 1;
        }
        if self.eat_keyword("WIDTH").is_some() {
            clauses.width = Some(self.parse_int("a bucket width after WIDTH")?);
            next = 2;
        }
        if self.eat_keyword("AS").is_some() {
            self.expect_keyword("OF", "OF after AS")?;
            clauses.as_of = Some(self.parse_date("a date 'YYYY-MM-DD' after AS OF")?);
            next = 3;
        }
        if matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            return Ok(clauses);
        }
        let mut allowed: Vec<&str> = Vec::new();
        if after_expr && next == 0 {
            allowed.extend(["AND", "OR"]);
        }
        if !after_expr && !compare && next == 0 {
            allowed.push("WHERE");
        }
        allowed.extend(&CLAUSES[next..]);
        allowed.extend(["`;`", "the end of the input"]);
        let last = allowed.pop().unwrap_or_default();
        let err = self.expected(format!("{} or {last}", allowed.join(", ")));
        let TokenKind::Word(word) = self.peek().kind else {
            return Err(err);
        };
        let upper = word.to_ascii_uppercase();
        if CLAUSES[..next]
            .iter()
            .any(|c| c.split(' ').next() == Some(&upper))
            || (upper == "WHERE" && after_expr)
        {
            return Err(err.with_hint("clauses go in this order: WHERE, TOP, WIDTH, AS OF"));
        }
        if upper == "LIMIT" {
            return Err(err.with_hint("to keep the k largest values of each field write TOP k"));
        }
        if upper == "VERSUS" && !compare {
            return Err(err.with_hint("to compare two segments write COMPARE … WHERE a VERSUS b"));
        }
        if let Some(k) = suggest::nearest(&upper, ["WHERE", "TOP", "WIDTH", "AS", "AND", "OR"]) {
            return Err(err.with_hint(format!("did you mean `{k}`?")));
        }
        if after_expr && next == 0 {
            return Err(err.with_hint("you may have forgotten AND or OR between two conditions"));
        }
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{ClearSpans, StatementKind};
    use crate::parse::parse;

    #[test]
    fn keywords_of_insight_may_name_fields() {
        let text = "COMPARE top, width, versus FROM t WHERE top VERSUS versus AND width TOP 1";
        let mut first = parse(text).unwrap();
        let StatementKind::Compare(c) = &first[0].kind else {
            panic!("{:?}", first[0].kind)
        };
        let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["top", "width", "versus"]);
        assert_eq!(c.clauses.top.map(|k| k.value), Some(1));
        let printed = first[0].to_string();
        assert_eq!(printed, text);
        let mut again = parse(&printed).unwrap();
        first[0].clear_spans();
        again[0].clear_spans();
        assert_eq!(first[0].kind, again[0].kind);
    }
}
