//! `CREATE CAMPAIGN name ON table clause…` and `DROP CAMPAIGN name`.
//!
//! After `ON table` the clauses come in any order, each at most once
//! (VARIANT once per variant); AUDIENCE, CHANNEL, VARIANT and SCHEDULE are
//! required. A clause written twice is an error at its second keyword; a
//! missing one is an error at the end of the statement.

use super::lexer::TokenKind;
use super::Parser;
use crate::ast::{
    CampaignAudience, CapClause, CreateCampaign, DurationLit, GoalClause, Ident, MessageKind,
    NumLit, ScheduleClause, Setting, SettingValue, Settings, Span, StatementKind, StrLit,
    TriggerClause, VariantClause,
};
use crate::error::QueryError;
use crate::suggest;

/// The clauses' first words, in canonical order.
const CLAUSES: &[&str] = &[
    "AUDIENCE", "CHANNEL", "VARIANT", "HOLDOUT", "SPLIT", "CAP", "PRIORITY", "KIND", "SCHEDULE",
    "APPROVAL", "RATE", "ALLOW", "GOAL",
];

/// A clause being built: every clause optional until the end.
#[derive(Default)]
struct Clauses {
    audience: Option<CampaignAudience>,
    channel: Option<Settings>,
    variants: Vec<VariantClause>,
    holdout: Option<NumLit>,
    split: Option<Settings>,
    cap: Option<CapClause>,
    priority: Option<crate::ast::IntLit>,
    kind: Option<(MessageKind, Span)>,
    schedule: Option<ScheduleClause>,
    approval_required: Option<Span>,
    rate: Option<crate::ast::IntLit>,
    allow_sensitive: Option<Span>,
    goal: Option<GoalClause>,
    /// Whether the clause just parsed is `AUDIENCE WHERE …`, whose
    /// condition AND and OR may still continue.
    after_where: bool,
}

impl Clauses {
    /// Whether the clause opened by `word` (one of [`CLAUSES`]) is given.
    fn has(&self, word: &str) -> bool {
        match word {
            "AUDIENCE" => self.audience.is_some(),
            "CHANNEL" => self.channel.is_some(),
            "HOLDOUT" => self.holdout.is_some(),
            "SPLIT" => self.split.is_some(),
            "CAP" => self.cap.is_some(),
            "PRIORITY" => self.priority.is_some(),
            "KIND" => self.kind.is_some(),
            "SCHEDULE" => self.schedule.is_some(),
            "APPROVAL" => self.approval_required.is_some(),
            "RATE" => self.rate.is_some(),
            "ALLOW" => self.allow_sensitive.is_some(),
            "GOAL" => self.goal.is_some(),
            _ => false,
        }
    }
}

impl Parser<'_> {
    /// `trigger ::= "EVENT" name ["AND" "NOT" name "WITHIN" duration]
    /// ["REENTRY" duration] ["WHERE" expr]`, after SCHEDULE ON.
    fn parse_trigger(&mut self) -> Result<TriggerClause, QueryError> {
        self.expect_keyword("EVENT", "EVENT after SCHEDULE ON")
            .map_err(|e| {
                e.with_hint("write SCHEDULE ON EVENT order AND NOT pay WITHIN 10 MINUTES")
            })?;
        let event = self.parse_ident("an EVENT field after ON EVENT")?;
        let mut and_not = None;
        if self.eat_keyword("AND").is_some() {
            self.expect_keyword("NOT", "NOT after AND (AND NOT event WITHIN n MINUTES)")?;
            let b = self.parse_ident("an EVENT field after AND NOT")?;
            self.expect_keyword("WITHIN", "WITHIN and how long after the event")
                .map_err(|e| e.with_hint(format!("write AND NOT {b} WITHIN 10 MINUTES")))?;
            and_not = Some((b, self.parse_duration("WITHIN")?));
        }
        let reentry = match self.eat_keyword("REENTRY") {
            Some(_) => Some(self.parse_duration("REENTRY")?),
            None => None,
        };
        let condition = match self.eat_keyword("WHERE") {
            Some(_) => Some(self.parse_expr()?),
            None => None,
        };
        Ok(TriggerClause {
            event,
            and_not,
            reentry,
            condition,
        })
    }

    /// `duration ::= int ("SECOND" | "SECONDS" | "MINUTE" | "MINUTES" |
    /// "HOUR" | "HOURS" | "DAY" | "DAYS")`.
    fn parse_duration(&mut self, after: &str) -> Result<DurationLit, QueryError> {
        let n = self.parse_int(format!("a number after {after}, such as 10 MINUTES"))?;
        let unit = match self.peek().kind {
            TokenKind::Word(w) => match w.to_ascii_uppercase().as_str() {
                "SECOND" | "SECONDS" => Some(1),
                "MINUTE" | "MINUTES" => Some(60),
                "HOUR" | "HOURS" => Some(3600),
                "DAY" | "DAYS" => Some(86_400),
                _ => None,
            },
            _ => None,
        };
        let Some(unit_seconds) = unit else {
            return Err(self.expected(format!(
                "SECONDS, MINUTES, HOURS or DAYS after {after} {}",
                n.value
            )));
        };
        let end = self.advance().end;
        Ok(DurationLit {
            n,
            unit_seconds,
            span: Span::new(n.span.start, end),
        })
    }

    /// `create_campaign ::= "CREATE" "CAMPAIGN" name "ON" name campaign_clause+`,
    /// at CAMPAIGN.
    pub(super) fn parse_create_campaign(&mut self) -> Result<StatementKind, QueryError> {
        self.advance();
        let name = self.parse_ident("a campaign name after CAMPAIGN")?;
        self.expect_keyword("ON", "ON and the campaign's table")
            .map_err(|e| e.with_hint(format!("write CREATE CAMPAIGN {name} ON users …")))?;
        let table = self.parse_ident("a table name after ON")?;
        let mut c = Clauses::default();
        while !matches!(self.peek().kind, TokenKind::Semicolon | TokenKind::Eof) {
            self.parse_campaign_clause(&mut c)?;
        }
        let missing = |what: &str| {
            self.expected(format!(
                "{what} (a campaign needs AUDIENCE, CHANNEL, VARIANT and SCHEDULE)"
            ))
        };
        let Some(audience) = c.audience else {
            return Err(missing("an AUDIENCE clause")
                .with_hint("add AUDIENCE WHERE … or AUDIENCE SEGMENT name"));
        };
        let Some(channel) = c.channel else {
            return Err(missing("a CHANNEL clause").with_hint(
                "add CHANNEL webhook (url => 'http://…') or CHANNEL file (dir => '/path', format => 'jsonl')",
            ));
        };
        if c.variants.is_empty() {
            return Err(missing("a VARIANT clause")
                .with_hint("add VARIANT a WEIGHT 1 TEMPLATE 'Hi {city}'"));
        }
        let Some(schedule) = c.schedule else {
            return Err(missing("a SCHEDULE clause").with_hint(
                "add SCHEDULE NOW, SCHEDULE AT '2026-12-24T09:00:00Z' or SCHEDULE DAILY AT '09:30'",
            ));
        };
        Ok(StatementKind::CreateCampaign(Box::new(CreateCampaign {
            name,
            table,
            audience,
            channel,
            variants: c.variants,
            holdout: c.holdout,
            split: c.split,
            cap: c.cap,
            priority: c.priority,
            kind: c.kind,
            schedule,
            approval_required: c.approval_required,
            rate: c.rate,
            allow_sensitive: c.allow_sensitive,
            goal: c.goal,
        })))
    }

    /// One clause, into `c`.
    fn parse_campaign_clause(&mut self, c: &mut Clauses) -> Result<(), QueryError> {
        let word = CLAUSES.iter().copied().find(|w| self.at_keyword(w));
        let Some(word) = word else {
            return Err(self.unexpected_campaign_clause(c));
        };
        if c.has(word) {
            return Err(self.unexpected_campaign_clause(c).with_hint(format!(
                "a campaign has one {word} clause; this one is written twice"
            )));
        }
        self.advance();
        c.after_where = false;
        match word {
            "AUDIENCE" => {
                c.audience = Some(if self.eat_keyword("SEGMENT").is_some() {
                    CampaignAudience::Segment(self.parse_ident("a segment name after SEGMENT")?)
                } else if self.eat_keyword("WHERE").is_some() {
                    c.after_where = true;
                    CampaignAudience::Where(self.parse_expr()?)
                } else {
                    return Err(self.expected("WHERE or SEGMENT after AUDIENCE"));
                });
            }
            "CHANNEL" => {
                c.channel = Some(self.parse_settings("a channel after CHANNEL: webhook or file")?)
            }
            "SPLIT" => {
                c.split = Some(self.parse_settings("a split after SPLIT: weights or copy_race")?)
            }
            "VARIANT" => {
                self.check_list_len(c.variants.len())?;
                let name = self.parse_ident("a variant name after VARIANT")?;
                self.expect_keyword("WEIGHT", "WEIGHT after the variant's name")
                    .map_err(|e| {
                        e.with_hint(format!(
                            "write VARIANT {name} WEIGHT 1 TEMPLATE 'Hi {{city}}'"
                        ))
                    })?;
                let weight = self.parse_int("a whole number after WEIGHT")?;
                self.expect_keyword("TEMPLATE", "TEMPLATE after the weight")?;
                let template = self.parse_str("the message template, a string, after TEMPLATE")?;
                c.variants.push(VariantClause {
                    name,
                    weight,
                    template,
                });
            }
            "HOLDOUT" => {
                c.holdout =
                    Some(self.parse_number("a share of the audience after HOLDOUT, such as 0.1")?)
            }
            "CAP" => {
                let max = self.parse_int("a number of messages after CAP")?;
                self.expect_keyword("PER", "PER after the number of messages")
                    .map_err(|e| e.with_hint("write CAP 2 PER 7 DAYS"))?;
                let days = self.parse_int("a number of days after PER")?;
                if self.eat_keyword("DAYS").is_none() && self.eat_keyword("DAY").is_none() {
                    return Err(self.expected("DAYS after the number of days"));
                }
                c.cap = Some(CapClause { max, days });
            }
            "PRIORITY" => c.priority = Some(self.parse_int("a whole number after PRIORITY")?),
            "KIND" => {
                let kind = if self.at_keyword("MARKETING") {
                    MessageKind::Marketing
                } else if self.at_keyword("TRANSACTIONAL") {
                    MessageKind::Transactional
                } else {
                    let err = self.expected("MARKETING or TRANSACTIONAL after KIND");
                    return Err(match self.peek().kind {
                        TokenKind::Word(w) => err.with_hint_opt(
                            suggest::nearest(
                                &w.to_ascii_uppercase(),
                                ["MARKETING", "TRANSACTIONAL"],
                            )
                            .map(|k| format!("did you mean `{k}`?")),
                        ),
                        _ => err,
                    });
                };
                c.kind = Some((kind, self.advance()));
            }
            "SCHEDULE" => {
                c.schedule =
                    Some(if let Some(span) = self.eat_keyword("NOW") {
                        ScheduleClause::Now(span)
                    } else if self.eat_keyword("AT").is_some() {
                        ScheduleClause::At(self.parse_str(
                            "an RFC 3339 time after AT, such as '2026-12-24T09:00:00Z'",
                        )?)
                    } else if self.eat_keyword("DAILY").is_some() {
                        self.expect_keyword("AT", "AT after DAILY")
                            .map_err(|e| e.with_hint("write SCHEDULE DAILY AT '09:30'"))?;
                        ScheduleClause::Daily(
                            self.parse_str("a time of day 'HH:MM' (UTC) after DAILY AT")?,
                        )
                    } else if self.eat_keyword("ON").is_some() {
                        let t = self.parse_trigger()?;
                        c.after_where = t.condition.is_some();
                        ScheduleClause::OnEvent(Box::new(t))
                    } else {
                        return Err(self.expected("NOW, AT, DAILY or ON EVENT after SCHEDULE"));
                    });
            }
            "APPROVAL" => {
                c.approval_required =
                    Some(self.expect_keyword("REQUIRED", "REQUIRED after APPROVAL")?)
            }
            "RATE" => {
                let n = self.parse_int("a number of messages after RATE")?;
                self.expect_keyword("PER", "PER after the number of messages")
                    .map_err(|e| e.with_hint("write RATE 500 PER SECOND"))?;
                self.expect_keyword("SECOND", "SECOND after PER")?;
                c.rate = Some(n);
            }
            "GOAL" => c.goal = Some(self.parse_goal()?),
            _ => {
                c.allow_sensitive = Some(self.expect_keyword("SENSITIVE", "SENSITIVE after ALLOW")?)
            }
        }
        Ok(())
    }

    /// `goal ::= "did" "(" name "," integer ( "DAYS" | "DAY" ) "AFTER" "SEND" ")"`,
    /// after GOAL.
    fn parse_goal(&mut self) -> Result<GoalClause, QueryError> {
        let example = "write GOAL did(book, 7 days after send)";
        let start = self
            .expect_keyword("did", "did(…) after GOAL")
            .map_err(|e| e.with_hint(example))?;
        self.expect(&TokenKind::LParen, "`(` after did")?;
        let event = self.parse_ident("an EVENT field's name")?;
        self.expect(&TokenKind::Comma, "`,` after the event's name")
            .map_err(|e| e.with_hint(example))?;
        let days = self.parse_int("a number of days")?;
        if self.eat_keyword("DAYS").is_none() && self.eat_keyword("DAY").is_none() {
            return Err(self
                .expected("DAYS after the number of days")
                .with_hint(example));
        }
        self.expect_keyword("AFTER", "AFTER after DAYS")
            .map_err(|e| e.with_hint(example))?;
        self.expect_keyword("SEND", "SEND after AFTER")
            .map_err(|e| e.with_hint(example))?;
        let end = self.expect(&TokenKind::RParen, "`)` after SEND")?;
        Ok(GoalClause {
            event,
            days,
            span: Span::new(start.start, end.end),
        })
    }

    /// The error for a token where a clause (or the end) should be.
    fn unexpected_campaign_clause(&self, c: &Clauses) -> QueryError {
        let allowed: Vec<&str> = CLAUSES
            .iter()
            .copied()
            .filter(|w| !c.has(w))
            .map(|w| match w {
                "APPROVAL" => "APPROVAL REQUIRED",
                "ALLOW" => "ALLOW SENSITIVE",
                w => w,
            })
            .collect();
        let and_or = if c.after_where { "AND, OR, " } else { "" };
        let err = self.expected(format!(
            "{and_or}a campaign clause ({}), `;` or the end of the input",
            allowed.join(", ")
        ));
        match self.peek().kind {
            TokenKind::Word(w) if !CLAUSES.iter().any(|k| k.eq_ignore_ascii_case(w)) => err
                .with_hint_opt(
                    suggest::nearest(&w.to_ascii_uppercase(), CLAUSES.iter().copied())
                        .map(|k| format!("did you mean `{k}`?")),
                ),
            _ => err,
        }
    }

    /// `settings ::= name [ "(" [ setting ( "," setting )* ] ")" ]`,
    /// `setting ::= param "=>" ( value | decimal )`.
    fn parse_settings(&mut self, what: &str) -> Result<Settings, QueryError> {
        let kind = self.parse_ident(what)?;
        let mut settings = Vec::new();
        if self.eat(&TokenKind::LParen).is_none() {
            return Ok(Settings { kind, settings });
        }
        if self.eat(&TokenKind::RParen).is_some() {
            return Ok(Settings { kind, settings });
        }
        loop {
            self.check_list_len(settings.len())?;
            // Before `=>` any word is a setting's name, reserved or not.
            let name = match self.peek().kind {
                TokenKind::Word(w) => Ident {
                    name: w.to_string(),
                    span: self.advance(),
                },
                _ => self.parse_ident("a setting's name")?,
            };
            self.expect(&TokenKind::Arrow, "`=>` after the setting's name")
                .map_err(|e| e.with_hint(format!("write {} => value", name.name)))?;
            let value = match self.peek().kind {
                TokenKind::Decimal(_) => SettingValue::Number(self.parse_number("a number")?),
                _ => SettingValue::Literal(
                    self.parse_value(format_args!("a value after `{} =>`", name.name))?,
                ),
            };
            settings.push(Setting { name, value });
            if self.eat(&TokenKind::Comma).is_none() {
                break;
            }
        }
        self.expect(&TokenKind::RParen, "`,` or `)` after the setting")?;
        Ok(Settings { kind, settings })
    }

    /// A string, or fails saying `what` was expected.
    pub(super) fn parse_str(&mut self, what: &str) -> Result<StrLit, QueryError> {
        if !matches!(self.peek().kind, TokenKind::Str(_)) {
            return Err(self.expected(what));
        }
        let text = self.take_string();
        Ok(StrLit {
            text,
            span: self.advance(),
        })
    }

    /// An integer or decimal, kept as written.
    fn parse_number(&mut self, what: &str) -> Result<NumLit, QueryError> {
        match self.peek().kind {
            TokenKind::Decimal(_) | TokenKind::Int(_) => {
                let span = self.advance();
                Ok(NumLit {
                    text: self.text[span.start..span.end].to_string(),
                    span,
                })
            }
            _ => Err(self.expected(what)),
        }
    }
}
