//! Statements: `SELECT …`, `CREATE TABLE …`, `ALTER TABLE … ADD …`,
//! `DROP TABLE …`, `CREATE SEGMENT …`, `DROP SEGMENT …`, `SHOW …`,
//! `EXPLAIN SELECT …` and `CALL …` (INSIGHT and COMPARE are in
//! `insight.rs`).

use super::lexer::TokenKind;
use super::Parser;
use crate::ast::{
    AggFunc, AlterField, AlterTable, Arg, Call, CatalogItem, CreateSegment, CreateTable, FieldDecl,
    Ident, KindName, Limit, NumLit, OrderBy, Select, SelectItem, SelectItemKind, SortOrder, Span,
    StatementKind, StrLit,
};
use crate::error::{ErrorKind, QueryError};
use crate::suggest;

/// Statements of the language that are not built yet.
const NOT_YET: &[&str] = &["INSERT"];

/// The words that open a statement.
const STATEMENT_WORDS: &[&str] = &[
    "SELECT", "CREATE", "ALTER", "DROP", "SHOW", "EXPLAIN", "CALL", "INSIGHT", "COMPARE",
];

/// The clauses of SELECT after FROM, in their order.
const CLAUSES: &[&str] = &["WHERE", "GROUP BY", "ORDER BY", "LIMIT", "AS OF"];

impl Parser<'_> {
    /// `statement ::= select | create_table | create_segment | alter_table
    ///   | drop | show | explain | call`
    pub(super) fn parse_statement(&mut self) -> Result<StatementKind, QueryError> {
        if self.at_keyword("SELECT") {
            return Ok(StatementKind::Select(self.parse_select()?));
        }
        if self.at_keyword("CREATE") {
            return self.parse_create();
        }
        if self.at_keyword("CALL") {
            return Ok(StatementKind::Call(self.parse_call()?));
        }
        if self.at_keyword("ALTER") {
            if self.peek_nth(3).is_keyword("ALTER") {
                return Ok(StatementKind::AlterField(self.parse_alter_field()?));
            }
            return Ok(StatementKind::AlterTable(self.parse_alter_table()?));
        }
        if self.at_keyword("DROP") {
            return self.parse_drop();
        }
        if self.at_keyword("SHOW") {
            return self.parse_show();
        }
        if self.at_keyword("EXPLAIN") {
            return self.parse_explain();
        }
        if self.at_keyword("INSIGHT") {
            return Ok(StatementKind::Insight(self.parse_insight()?));
        }
        if self.at_keyword("COMPARE") {
            return Ok(StatementKind::Compare(self.parse_compare()?));
        }
        let token = self.peek();
        if let TokenKind::Word(w) = token.kind {
            if let Some(word) = NOT_YET.iter().find(|k| k.eq_ignore_ascii_case(w)) {
                return Err(self.error_at(
                    ErrorKind::Unsupported(format!("{word} statements are")),
                    token.span,
                ));
            }
        }
        let err = self.expected(
            "a statement (SELECT, CREATE, ALTER, DROP, SHOW, EXPLAIN, CALL, INSIGHT or COMPARE)",
        );
        Err(match token.kind {
            TokenKind::Semicolon => err.with_hint("remove the extra `;`"),
            TokenKind::Word(w) => err.with_hint_opt(
                suggest::nearest(&w.to_ascii_uppercase(), STATEMENT_WORDS.iter().copied())
                    .map(|k| format!("did you mean `{k}`?")),
            ),
            _ => err,
        })
    }

    /// Fails unless the statement ends here (`;` or the end of the input).
    fn expect_statement_end(&self, what: &str) -> Result<(), QueryError> {
        if matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// `explain ::= "EXPLAIN" select`
    fn parse_explain(&mut self) -> Result<StatementKind, QueryError> {
        self.advance();
        if self.at_keyword("SELECT") {
            return Ok(StatementKind::Explain(self.parse_select()?));
        }
        let err = self.expected("SELECT after EXPLAIN");
        let other_statement = STATEMENT_WORDS.iter().any(|w| self.at_keyword(w));
        Err(if other_statement {
            err.with_hint("only a SELECT has a plan to explain")
        } else {
            err
        })
    }

    /// `show ::= "SHOW" "TABLES" | "SHOW" "FIELDS" "FROM" name | "SHOW" "SEGMENTS" | "SHOW" "CAMPAIGNS"`
    fn parse_show(&mut self) -> Result<StatementKind, QueryError> {
        self.advance();
        if self.eat_keyword("TABLES").is_some() {
            self.expect_statement_end("`;` or the end of the input after SHOW TABLES")?;
            return Ok(StatementKind::ShowTables);
        }
        if self.eat_keyword("FIELDS").is_some() {
            if !self.at_keyword("FROM") {
                let err = self.expected("FROM after SHOW FIELDS");
                return Err(match &self.peek().kind {
                    TokenKind::Word(w) if !super::is_reserved(w) => {
                        err.with_hint(format!("write SHOW FIELDS FROM {w}"))
                    }
                    _ => err,
                });
            }
            self.advance();
            let table = self.parse_ident("a table name after SHOW FIELDS FROM")?;
            self.expect_statement_end("`;` or the end of the input after the table name")?;
            return Ok(StatementKind::ShowFields(table));
        }
        if self.eat_keyword("SEGMENTS").is_some() {
            self.expect_statement_end("`;` or the end of the input after SHOW SEGMENTS")?;
            return Ok(StatementKind::ShowSegments);
        }
        if self.eat_keyword("CAMPAIGNS").is_some() {
            self.expect_statement_end("`;` or the end of the input after SHOW CAMPAIGNS")?;
            return Ok(StatementKind::ShowCampaigns);
        }
        if self.eat_keyword("TAGS").is_some() {
            self.expect_statement_end("`;` or the end of the input after SHOW TAGS")?;
            return Ok(StatementKind::ShowTags);
        }
        let err = self.expected("TABLES, FIELDS, SEGMENTS, TAGS or CAMPAIGNS after SHOW");
        Err(match self.peek().kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("COLUMNS") => {
                err.with_hint("a table has fields: SHOW FIELDS FROM t")
            }
            TokenKind::Word(w) => err.with_hint_opt(
                suggest::nearest(
                    &w.to_ascii_uppercase(),
                    ["TABLES", "FIELDS", "SEGMENTS", "TAGS", "CAMPAIGNS"],
                )
                .map(|k| format!("did you mean `{k}`?")),
            ),
            _ => err,
        })
    }

    /// `drop ::= "DROP" "TABLE" name | "DROP" "SEGMENT" name | "DROP" "CAMPAIGN" name`
    fn parse_drop(&mut self) -> Result<StatementKind, QueryError> {
        self.advance();
        if self.eat_keyword("CAMPAIGN").is_some() {
            let name = self.parse_ident("a campaign name after DROP CAMPAIGN")?;
            self.expect_statement_end("`;` or the end of the input after the campaign name")?;
            return Ok(StatementKind::DropCampaign(name));
        }
        if self.eat_keyword("SEGMENT").is_some() {
            let name = self.parse_ident("a segment name after DROP SEGMENT")?;
            self.expect_statement_end("`;` or the end of the input after the segment name")?;
            return Ok(StatementKind::DropSegment(name));
        }
        if self.eat_keyword("TAG").is_some() {
            let name = self.parse_ident("a tag name after DROP TAG")?;
            self.expect_statement_end("`;` or the end of the input after the tag name")?;
            return Ok(StatementKind::DropTag(name));
        }
        if !self.at_keyword("TABLE") {
            let err = self.expected("TABLE, SEGMENT, TAG or CAMPAIGN after DROP");
            return Err(match &self.peek().kind {
                TokenKind::Word(w) if !super::is_reserved(w) => {
                    err.with_hint(format!("write DROP TABLE {w}"))
                }
                _ => err,
            });
        }
        self.advance();
        let name = self.parse_ident("a table name after DROP TABLE")?;
        self.expect_statement_end("`;` or the end of the input after the table name")?;
        Ok(StatementKind::DropTable(name))
    }

    /// `alter_field ::= "ALTER" "TABLE" name "ALTER" "FIELD" name "SET"
    ///   catalog_item string ( catalog_item string )*`, where
    /// `catalog_item ::= "DESCRIPTION" | "CATEGORY" | "OWNER" | "SOURCE"`.
    fn parse_alter_field(&mut self) -> Result<AlterField, QueryError> {
        self.advance();
        self.expect_keyword("TABLE", "TABLE after ALTER")?;
        let table = self.parse_ident("a table name after ALTER TABLE")?;
        self.expect_keyword("ALTER", "ALTER after the table name")?;
        if !self.at_keyword("FIELD") {
            let err = self.expected(format!("FIELD after ALTER TABLE {table} ALTER"));
            return Err(if self.at_keyword("COLUMN") {
                err.with_hint(format!("write ALTER TABLE {table} ALTER FIELD name SET …"))
            } else {
                err
            });
        }
        self.advance();
        let field = self.parse_ident("a field name after ALTER FIELD")?;
        self.expect_keyword("SET", "SET after the field name")?;
        let items = CatalogItem::ALL.map(CatalogItem::keyword).join(", ");
        let mut set: Vec<(CatalogItem, StrLit)> = Vec::new();
        loop {
            let item = CatalogItem::ALL
                .into_iter()
                .find(|i| self.at_keyword(i.keyword()));
            let Some(item) = item else {
                if set.is_empty() {
                    return Err(self
                        .expected(format!("{items} after SET"))
                        .with_hint(format!(
                            "write ALTER TABLE {table} ALTER FIELD {field} SET DESCRIPTION 'text'"
                        )));
                }
                let what = format!("{items}, `;` or the end of the input");
                self.expect_statement_end(&what)?;
                return Ok(AlterField { table, field, set });
            };
            if set.iter().any(|(i, _)| *i == item) {
                return Err(self
                    .expected(format!(
                        "{items} (each at most once), `;` or the end of the input"
                    ))
                    .with_hint(format!("{} is set once per statement", item.keyword())));
            }
            self.advance();
            let value = self.parse_str(&format!(
                "a string after {} (in single quotes)",
                item.keyword()
            ))?;
            set.push((item, value));
        }
    }

    /// `alter_table ::= "ALTER" "TABLE" name "ADD" field_decl`
    fn parse_alter_table(&mut self) -> Result<AlterTable, QueryError> {
        self.advance();
        self.expect_keyword("TABLE", "TABLE after ALTER")?;
        let table = self.parse_ident("a table name after ALTER TABLE")?;
        if !self.at_keyword("ADD") {
            let err = self.expected(format!("ADD after ALTER TABLE {table}"));
            let changes = ["DROP", "RENAME", "MODIFY", "ALTER", "CHANGE"];
            return Err(if changes.iter().any(|w| self.at_keyword(w)) {
                err.with_hint("fields can only be added: ALTER TABLE t ADD name KIND")
            } else if matches!(
                self.peek().kind,
                TokenKind::Word(_) | TokenKind::QuotedIdent(_)
            ) {
                err.with_hint(format!("write ALTER TABLE {table} ADD name KIND"))
            } else {
                err
            });
        }
        self.advance();
        // `ADD COLUMN x INT`: COLUMN is not part of the language (a field
        // may be called `column`, as in `ADD column INT`).
        let next_is_name = matches!(
            self.peek_nth(1).kind,
            TokenKind::Word(_) | TokenKind::QuotedIdent(_)
        );
        let then_a_kind = match self.peek_nth(2).kind {
            TokenKind::Word(w) => KindName::from_keyword(w).is_some(),
            _ => false,
        };
        if (self.at_keyword("COLUMN") || self.at_keyword("FIELD")) && next_is_name && then_a_kind {
            return Err(self
                .expected("a field's name and kind after ADD")
                .with_hint("write ALTER TABLE t ADD name KIND, without COLUMN or FIELD"));
        }
        let field = self.parse_field_decl()?;
        if self.at(&TokenKind::Comma) {
            return Err(self
                .expected("`;` or the end of the input")
                .with_hint("add one field per ALTER TABLE statement"));
        }
        let what = format!("{}`;` or the end of the input", what_may_follow(&field));
        self.expect_statement_end(&what)?;
        Ok(AlterTable { table, field })
    }

    /// `select ::= "SELECT" select_item ( "," select_item )* "FROM" name
    ///   [ "WHERE" expr ] [ "GROUP" "BY" name ] [ "ORDER" "BY" "COUNT" "(" "*" ")" [ "ASC" | "DESC" ] ]
    ///   [ "LIMIT" integer [ "OFFSET" integer ] ] [ "AS" "OF" string ]`
    fn parse_select(&mut self) -> Result<Select, QueryError> {
        self.advance();
        let mut items = Vec::new();
        loop {
            self.check_list_len(items.len())?;
            items.push(self.parse_select_item()?);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        if !self.at_keyword("FROM") {
            let err = self.expected("`,` or FROM after the select list");
            return Err(match self.peek().kind {
                TokenKind::Word(w) if w.eq_ignore_ascii_case("WHERE") => {
                    err.with_hint("name the table first: SELECT … FROM users WHERE …")
                }
                TokenKind::Word(w) => {
                    let hint = suggest::nearest(&w.to_ascii_uppercase(), ["FROM"])
                        .map(|k| format!("did you mean `{k}`?"));
                    err.with_hint_opt(hint)
                }
                _ => err,
            });
        }
        self.advance();
        let table = self.parse_ident("a table name after FROM")?;
        let mut select = Select {
            items,
            table,
            filter: None,
            group_by: None,
            order_by: None,
            limit: None,
            as_of: None,
        };
        // `next` is the index in CLAUSES of the first clause still allowed.
        let mut next = 0;
        if self.eat_keyword("WHERE").is_some() {
            select.filter = Some(self.parse_expr()?);
            next = 1;
        }
        if self.eat_keyword("GROUP").is_some() {
            self.expect_keyword("BY", "BY after GROUP")?;
            select.group_by = Some(self.parse_ident("a field name after GROUP BY")?);
            next = 2;
        }
        if let Some(start) = self.eat_keyword("ORDER") {
            self.expect_keyword("BY", "BY after ORDER")?;
            select.order_by = Some(self.parse_order_by(start)?);
            next = 3;
        }
        if self.eat_keyword("LIMIT").is_some() {
            let limit = self.parse_int("a number of rows after LIMIT")?;
            let offset = match self.eat_keyword("OFFSET") {
                Some(_) => Some(self.parse_int("a number of rows after OFFSET")?),
                None => None,
            };
            select.limit = Some(Limit { limit, offset });
            next = 4;
        }
        if self.eat_keyword("AS").is_some() {
            self.expect_keyword("OF", "OF after AS")?;
            select.as_of = Some(self.parse_date("a date 'YYYY-MM-DD' after AS OF")?);
            next = 5;
        }
        if !matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            return Err(self.unexpected_in_select(next, select.filter.is_some()));
        }
        Ok(select)
    }

    /// The error for a token that no clause of SELECT accepts, after the
    /// clauses before `CLAUSES[next]`.
    fn unexpected_in_select(&self, next: usize, after_where: bool) -> QueryError {
        let mut allowed: Vec<&str> = Vec::new();
        if next == 1 {
            allowed.extend(["AND", "OR"]);
        }
        allowed.extend(&CLAUSES[next..]);
        allowed.extend(["`;`", "the end of the input"]);
        let last = allowed.pop().unwrap_or_default();
        let err = self.expected(format!("{} or {last}", allowed.join(", ")));
        let TokenKind::Word(word) = self.peek().kind else {
            return err;
        };
        let upper = word.to_ascii_uppercase();
        let first_words = [
            "WHERE", "GROUP", "ORDER", "LIMIT", "AS", "OFFSET", "AND", "OR",
        ];
        if let Some(i) = CLAUSES
            .iter()
            .position(|c| c.split(' ').next() == Some(&upper))
        {
            if i < next {
                return err.with_hint(
                    "clauses go in this order: WHERE, GROUP BY, ORDER BY, LIMIT, AS OF",
                );
            }
        }
        if let Some(k) = suggest::nearest(&upper, first_words) {
            return err.with_hint(format!("did you mean `{k}`?"));
        }
        if after_where && next == 1 {
            return err.with_hint("you may have forgotten AND or OR between two conditions");
        }
        err
    }

    /// `select_item ::= "COUNT" "(" "*" ")" | agg_func "(" name ")" | name`
    fn parse_select_item(&mut self) -> Result<SelectItem, QueryError> {
        let start = self.peek().span;
        let next_is_paren = self.peek_nth(1).kind == TokenKind::LParen;
        if next_is_paren && self.at_keyword("COUNT") {
            let span = self.parse_count_star()?;
            return Ok(SelectItem {
                kind: SelectItemKind::CountStar,
                span,
            });
        }
        let func = [AggFunc::Sum, AggFunc::Avg, AggFunc::Min, AggFunc::Max]
            .into_iter()
            .find(|f| self.at_keyword(f.as_str()));
        if let (Some(func), true) = (func, next_is_paren) {
            self.advance();
            self.advance();
            let field =
                self.parse_ident(format_args!("an INT field name in {}(…)", func.as_str()))?;
            let end = self.expect(&TokenKind::RParen, "`)`")?;
            return Ok(SelectItem {
                kind: SelectItemKind::Aggregate { func, field },
                span: start.to(end),
            });
        }
        if next_is_paren && self.at_keyword("QUANTILE") {
            self.advance();
            self.advance();
            let field = self.parse_ident("an INT field name in QUANTILE(…)")?;
            self.expect(
                &TokenKind::Comma,
                "`,` and a quantile such as 0.9 after the field",
            )?;
            let q = match self.peek().kind {
                TokenKind::Decimal(_) | TokenKind::Int(_) => {
                    let span = self.advance();
                    NumLit {
                        text: self.text[span.start..span.end].to_string(),
                        span,
                    }
                }
                _ => {
                    return Err(self
                        .expected("a quantile between 0 and 1, such as 0.9")
                        .with_hint("write QUANTILE(income, 0.9) for the 90th percentile"))
                }
            };
            let end = self.expect(&TokenKind::RParen, "`)`")?;
            return Ok(SelectItem {
                kind: SelectItemKind::Quantile { field, q },
                span: start.to(end),
            });
        }
        let what =
            "COUNT(*), user_id, SUM/AVG/MIN/MAX(field), QUANTILE(field, q) or a field to group by";
        if self.at(&TokenKind::Star) {
            return Err(self
                .expected(what)
                .with_hint("SELECT * is not supported; select COUNT(*) or user_id"));
        }
        let field = self.parse_ident(what)?;
        Ok(SelectItem {
            span: field.span,
            kind: SelectItemKind::Field(field),
        })
    }

    /// `"COUNT" "(" "*" ")"`, at COUNT; its span.
    fn parse_count_star(&mut self) -> Result<Span, QueryError> {
        let start = self.advance();
        self.expect(&TokenKind::LParen, "`(` after COUNT")?;
        if !self.at(&TokenKind::Star) {
            return Err(self.expected("`*` in COUNT(*)").with_hint(
                "COUNT takes only `*`; to count rows with a value, add `WHERE field IS NOT NULL`",
            ));
        }
        self.advance();
        let end = self.expect(&TokenKind::RParen, "`)` after COUNT(*")?;
        Ok(start.to(end))
    }

    /// `COUNT(*) [ASC|DESC]` after ORDER BY, which starts at `start`.
    fn parse_order_by(&mut self, start: Span) -> Result<OrderBy, QueryError> {
        if !self.at_keyword("COUNT") {
            return Err(self
                .expected("COUNT(*) after ORDER BY")
                .with_hint("groups can only be ordered by their count, for now"));
        }
        let mut end = self.parse_count_star()?;
        let mut order = SortOrder::Asc;
        if let Some(span) = self.eat_keyword("ASC") {
            end = span;
        } else if let Some(span) = self.eat_keyword("DESC") {
            order = SortOrder::Desc;
            end = span;
        }
        Ok(OrderBy {
            order,
            span: start.to(end),
        })
    }

    /// `CREATE TABLE …` or `CREATE [OR REPLACE] SEGMENT …`, at CREATE.
    fn parse_create(&mut self) -> Result<StatementKind, QueryError> {
        self.advance();
        if self.eat_keyword("OR").is_some() {
            self.expect_keyword("REPLACE", "REPLACE after CREATE OR")?;
            if self.at_keyword("TAG") {
                return Ok(StatementKind::CreateTag(self.parse_create_tag(true)?));
            }
            if !self.at_keyword("SEGMENT") {
                let err = self.expected("SEGMENT or TAG after CREATE OR REPLACE");
                return Err(if self.at_keyword("TABLE") {
                    err.with_hint("a table cannot be replaced; DROP TABLE it and CREATE it again")
                } else {
                    err
                });
            }
            return Ok(StatementKind::CreateSegment(
                self.parse_create_segment(true)?,
            ));
        }
        if self.at_keyword("SEGMENT") {
            return Ok(StatementKind::CreateSegment(
                self.parse_create_segment(false)?,
            ));
        }
        if self.at_keyword("CAMPAIGN") {
            return self.parse_create_campaign();
        }
        if self.at_keyword("TAG") {
            return Ok(StatementKind::CreateTag(self.parse_create_tag(false)?));
        }
        if !self.at_keyword("TABLE") {
            let err = self.expected("TABLE, SEGMENT, TAG, CAMPAIGN or OR REPLACE after CREATE");
            return Err(match self.peek().kind {
                TokenKind::Word(w) => err.with_hint_opt(
                    suggest::nearest(
                        &w.to_ascii_uppercase(),
                        ["TABLE", "SEGMENT", "TAG", "CAMPAIGN"],
                    )
                    .map(|k| format!("did you mean `{k}`?")),
                ),
                _ => err,
            });
        }
        Ok(StatementKind::CreateTable(self.parse_create_table()?))
    }

    /// `create_segment ::= "CREATE" [ "OR" "REPLACE" ] "SEGMENT" name [ "SNAPSHOT" ]
    ///   "AS" "SELECT" "FROM" name "WHERE" expr`, at SEGMENT.
    fn parse_create_segment(&mut self, or_replace: bool) -> Result<CreateSegment, QueryError> {
        self.advance();
        let name = self.parse_ident("a segment name after SEGMENT")?;
        let snapshot = self.eat_keyword("SNAPSHOT").is_some();
        let what = if snapshot {
            "AS after SNAPSHOT"
        } else {
            "SNAPSHOT or AS after the segment name"
        };
        self.expect_keyword("AS", what)?;
        let (table, filter) = self.parse_segment_select()?;
        Ok(CreateSegment {
            name,
            or_replace,
            snapshot,
            table,
            filter,
        })
    }

    /// `segment_select ::= "SELECT" "FROM" name "WHERE" expr`, then `;` or
    /// the end: a segment's definition, after AS (or alone, as the HTTP API
    /// takes it).
    pub(super) fn parse_segment_select(&mut self) -> Result<(Ident, crate::ast::Expr), QueryError> {
        self.expect_keyword("SELECT", "SELECT after AS")
            .map_err(|e| e.with_hint("write CREATE SEGMENT s AS SELECT FROM t WHERE …"))?;
        if !self.at_keyword("FROM") {
            let err = self.expected("FROM after SELECT");
            return Err(
                if matches!(self.peek().kind, TokenKind::Eof | TokenKind::Semicolon) {
                    err
                } else {
                    err.with_hint(
                        "a segment is the rows its WHERE clause keeps; select nothing: \
                     CREATE SEGMENT s AS SELECT FROM t WHERE …",
                    )
                },
            );
        }
        self.advance();
        let table = self.parse_ident("a table name after FROM")?;
        if !self.at_keyword("WHERE") {
            let err = self.expected("WHERE and the segment's condition");
            return Err(
                if matches!(self.peek().kind, TokenKind::Eof | TokenKind::Semicolon) {
                    err.with_hint("a segment needs a WHERE clause; the whole table is `WHERE user_id IS NOT NULL`")
                } else {
                    err
                },
            );
        }
        self.advance();
        let filter = self.parse_expr()?;
        if !matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            let err = self.expected("AND, OR, `;` or the end of the input");
            let clause = ["GROUP", "ORDER", "LIMIT", "AS"]
                .iter()
                .any(|k| self.at_keyword(k));
            return Err(if clause {
                err.with_hint("a segment's SELECT has only FROM and WHERE")
            } else {
                err
            });
        }
        Ok((table, filter))
    }

    /// `call ::= "CALL" name "(" [ arg ( "," arg )* ] ")"`,
    /// `arg ::= value | name "=>" value` (positional arguments first).
    fn parse_call(&mut self) -> Result<Call, QueryError> {
        self.advance();
        let name = self.parse_ident("a procedure name after CALL")?;
        let open = self
            .expect(&TokenKind::LParen, "`(` and the arguments")
            .map_err(|e| {
                e.with_hint(format!(
                    "write CALL {name}(…), with () if there are no arguments"
                ))
            })?;
        let mut args: Vec<Arg> = Vec::new();
        if let Some(close) = self.eat(&TokenKind::RParen) {
            self.expect_statement_end("`;` or the end of the input after the CALL")?;
            return Ok(Call {
                name,
                args,
                args_span: open.to(close),
            });
        }
        loop {
            self.check_list_len(args.len())?;
            let named = matches!(
                self.peek().kind,
                TokenKind::Word(_) | TokenKind::QuotedIdent(_)
            ) && self.peek_nth(1).kind == TokenKind::Arrow;
            let arg = if named {
                // Before `=>` any word is a parameter's name, reserved or not
                // (`limit => 10`).
                let param = match self.peek().kind {
                    TokenKind::Word(w) => Ident {
                        name: w.to_string(),
                        span: self.advance(),
                    },
                    _ => self.parse_ident("a parameter name")?,
                };
                self.advance();
                let value = self.parse_value(format_args!("a value after `{param} =>`"))?;
                Arg {
                    name: Some(param),
                    value,
                }
            } else {
                if let Some(prev) = args.iter().rev().find_map(|a| a.name.as_ref()) {
                    return Err(self.expected("a named argument `name => value`").with_hint(
                        format!(
                            "positional arguments come before named ones (`{} => …`)",
                            prev.name
                        ),
                    ));
                }
                let value = self.parse_value("an argument: a string, an integer, true or false")?;
                if self.at(&TokenKind::Arrow) {
                    return Err(self
                        .expected("`,` or `)` after the argument")
                        .with_hint("a parameter's name is written bare: name => value"));
                }
                Arg { name: None, value }
            };
            args.push(arg);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        let close = self.expect(&TokenKind::RParen, "`,` or `)` after the argument")?;
        self.expect_statement_end("`;` or the end of the input after the CALL")?;
        Ok(Call {
            name,
            args,
            args_span: open.to(close),
        })
    }

    /// `create_table ::= "CREATE" "TABLE" name "(" field_decl ( "," field_decl )* ")"`, at TABLE.
    fn parse_create_table(&mut self) -> Result<CreateTable, QueryError> {
        self.expect_keyword("TABLE", "TABLE after CREATE")?;
        let name = self.parse_ident("a table name after CREATE TABLE")?;
        self.expect(&TokenKind::LParen, "`(` and the table's fields")?;
        let mut fields = Vec::new();
        loop {
            self.check_list_len(fields.len())?;
            fields.push(self.parse_field_decl()?);
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        let what = match fields.last() {
            Some(f) => format!("{}`,` or `)`", what_may_follow(f)),
            None => "`,` or `)`".to_owned(),
        };
        self.expect(&TokenKind::RParen, &what)?;
        if !matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            return Err(self.expected("`;` or the end of the input after the statement"));
        }
        Ok(CreateTable { name, fields })
    }

    /// `field_decl ::= name kind [ "CLOSED" ] [ "SENSITIVE" ] [ "CATEGORY" name ]`
    fn parse_field_decl(&mut self) -> Result<FieldDecl, QueryError> {
        let name = self.parse_ident("a field name")?;
        let kind = match self.peek().kind {
            TokenKind::Word(w) => KindName::from_keyword(w),
            _ => None,
        };
        let Some(kind) = kind else {
            let what = format!(
                "a field kind (ENUM, SET, BOOL, INT, EVENT or TEXT) after `{}`",
                name.name
            );
            let err = self.expected(what);
            let kinds = ["ENUM", "SET", "BOOL", "INT", "EVENT", "TEXT"];
            return Err(match self.peek().kind {
                TokenKind::Word(w) => err.with_hint_opt(match w.to_ascii_uppercase().as_str() {
                    "STRING" | "VARCHAR" | "CHAR" => Some("use TEXT for strings".into()),
                    "BIGINT" | "SMALLINT" | "TINYINT" => Some("use INT for integers".into()),
                    upper => suggest::nearest(upper, kinds).map(|k| format!("did you mean {k}?")),
                }),
                _ => err,
            });
        };
        let mut end = self.advance();
        let closed = self.eat_keyword("CLOSED");
        if let Some(span) = closed {
            end = span;
        }
        let sensitive = self.eat_keyword("SENSITIVE");
        if let Some(span) = sensitive {
            end = span;
        }
        let mut category = None;
        if self.eat_keyword("CATEGORY").is_some() {
            let c = self.parse_ident(format!(
                "a category name after CATEGORY (e.g. `{} {} CATEGORY finance`)",
                name.name,
                kind.as_str()
            ))?;
            end = c.span;
            category = Some(c);
        }
        if self.at_keyword("CLOSED") && (sensitive.is_some() || category.is_some()) {
            return Err(self
                .expected("`,`, `)`, `;` or the end of the input")
                .with_hint("write CLOSED right after the kind: `city ENUM CLOSED SENSITIVE`"));
        }
        if self.at_keyword("SENSITIVE") && category.is_some() {
            return Err(self
                .expected("`,`, `)`, `;` or the end of the input")
                .with_hint(
                    "write SENSITIVE before CATEGORY: `income INT SENSITIVE CATEGORY finance`",
                ));
        }
        Ok(FieldDecl {
            span: name.span.to(end),
            name,
            kind,
            closed,
            sensitive,
            category,
        })
    }
}

/// The clauses that may still follow a field declaration, for an error
/// saying what was expected after it: `SENSITIVE, CATEGORY, ` when it has
/// neither.
fn what_may_follow(field: &FieldDecl) -> &'static str {
    let may_close = matches!(field.kind, KindName::Enum | KindName::Set);
    match (
        field.closed.is_some() || !may_close,
        field.sensitive.is_some(),
        field.category.is_some(),
    ) {
        (_, _, true) => "",
        (_, true, false) => "CATEGORY, ",
        (true, false, false) => "SENSITIVE, CATEGORY, ",
        (false, false, false) => "CLOSED, SENSITIVE, CATEGORY, ",
    }
}
