//! `CREATE [OR REPLACE] TAG name ON table AS definition`, and a tag's
//! definition on its own (what the store keeps and the binder re-reads).

use super::lexer::TokenKind;
use super::Parser;
use crate::ast::{CaseDef, CreateTag, Literal, TagDef, Value};
use crate::error::QueryError;

/// The longest value a tag may have, in bytes.
const MAX_TAG_VALUE_LEN: usize = 256;

impl Parser<'_> {
    /// `create_tag ::= "CREATE" [ "OR" "REPLACE" ] "TAG" name "ON" name
    ///   "AS" tag_def`, at TAG.
    pub(super) fn parse_create_tag(&mut self, or_replace: bool) -> Result<CreateTag, QueryError> {
        self.advance();
        let name = self.parse_ident("a tag name after TAG")?;
        self.expect_keyword("ON", "ON and the tag's table after the tag name")
            .map_err(|e| e.with_hint("write CREATE TAG name ON table AS …"))?;
        let table = self.parse_ident("a table name after ON")?;
        self.expect_keyword("AS", "AS and the tag's definition after the table name")
            .map_err(|e| {
                e.with_hint("write CREATE TAG name ON table AS CASE WHEN … THEN 'v' … END")
            })?;
        let def = self.parse_tag_def()?;
        Ok(CreateTag {
            name,
            or_replace,
            table,
            def,
        })
    }

    /// `tag_def ::= "CASE" ( "WHEN" expr "THEN" string )+ [ "ELSE" string ]
    ///   "END" | expr`
    pub(super) fn parse_tag_def(&mut self) -> Result<TagDef, QueryError> {
        if !(self.at_keyword("CASE") && self.peek_nth(1).is_keyword("WHEN")) {
            return Ok(TagDef::Bool(self.parse_expr()?));
        }
        let start = self.advance();
        let mut whens = Vec::new();
        while self.eat_keyword("WHEN").is_some() {
            self.check_list_len(whens.len())?;
            let cond = self.parse_expr()?;
            self.expect_keyword("THEN", "THEN, AND or OR after the WHEN condition")?;
            let value = self.parse_tag_value("a string value after THEN")?;
            whens.push((cond, value));
        }
        let otherwise = if self.eat_keyword("ELSE").is_some() {
            Some(self.parse_tag_value("a string value after ELSE")?)
        } else {
            None
        };
        let what = if otherwise.is_some() {
            "END after the ELSE value"
        } else {
            "WHEN, ELSE or END"
        };
        let end = self.expect_keyword("END", what)?;
        Ok(TagDef::Case(CaseDef {
            whens,
            otherwise,
            span: start.to(end),
        }))
    }

    /// A tag's value: a non-empty string.
    fn parse_tag_value(&mut self, what: &str) -> Result<Literal, QueryError> {
        let at_string = matches!(self.peek().kind, TokenKind::Str(_));
        let value = self.parse_value(what)?;
        match &value.value {
            Value::Str(s) if at_string && !s.is_empty() && s.len() <= MAX_TAG_VALUE_LEN => {
                Ok(value)
            }
            Value::Str(_) => Err(QueryError::new(
                crate::error::ErrorKind::Type(format!(
                    "a tag's value must be 1 to {} bytes of text",
                    MAX_TAG_VALUE_LEN
                )),
                value.span,
                self.text,
            )),
            _ => Err(QueryError::new(
                crate::error::ErrorKind::Type("a tag's values are text".into()),
                value.span,
                self.text,
            )
            .with_hint("quote it: THEN 'active'")),
        }
    }
}
