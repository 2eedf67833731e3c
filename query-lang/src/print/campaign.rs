//! `CREATE CAMPAIGN` as canonical text: the clauses in one fixed order
//! (the parser takes them in any order, so the text parses back to the
//! same tree).

use crate::ast::DurationLit;
use std::fmt::{self, Display, Formatter};

use super::{write_param_name, write_quoted};
use crate::ast::{
    CampaignAudience, CreateCampaign, ScheduleClause, SettingValue, Settings, StrLit,
};

impl Display for StrLit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_quoted(f, &self.text, '\'')
    }
}

impl Display for Settings {
    /// `kind` or `kind (name => value, …)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.settings.is_empty() {
            return Ok(());
        }
        f.write_str(" (")?;
        for (i, s) in self.settings.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_param_name(f, &s.name.name)?;
            f.write_str(" => ")?;
            match &s.value {
                SettingValue::Literal(l) => write!(f, "{l}")?,
                SettingValue::Number(n) => write!(f, "{n}")?,
            }
        }
        f.write_str(")")
    }
}

impl Display for CreateCampaign {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE CAMPAIGN {} ON {}", self.name, self.table)?;
        match &self.audience {
            CampaignAudience::Where(e) => write!(f, " AUDIENCE WHERE {e}")?,
            CampaignAudience::Segment(s) => write!(f, " AUDIENCE SEGMENT {s}")?,
        }
        write!(f, " CHANNEL {}", self.channel)?;
        for v in &self.variants {
            write!(
                f,
                " VARIANT {} WEIGHT {} TEMPLATE {}",
                v.name, v.weight, v.template
            )?;
        }
        if let Some(h) = &self.holdout {
            write!(f, " HOLDOUT {h}")?;
        }
        if let Some(s) = &self.split {
            write!(f, " SPLIT {s}")?;
        }
        if let Some(cap) = &self.cap {
            write!(f, " CAP {} PER {} DAYS", cap.max, cap.days)?;
        }
        if let Some(p) = &self.priority {
            write!(f, " PRIORITY {p}")?;
        }
        if let Some((kind, _)) = &self.kind {
            write!(f, " KIND {}", kind.as_str())?;
        }
        match &self.schedule {
            ScheduleClause::Now(_) => f.write_str(" SCHEDULE NOW")?,
            ScheduleClause::At(t) => write!(f, " SCHEDULE AT {t}")?,
            ScheduleClause::Daily(t) => write!(f, " SCHEDULE DAILY AT {t}")?,
            ScheduleClause::OnEvent(t) => {
                write!(f, " SCHEDULE ON EVENT {}", t.event)?;
                if let Some((b, d)) = &t.and_not {
                    write!(f, " AND NOT {b} WITHIN {d}")?;
                }
                if let Some(d) = &t.reentry {
                    write!(f, " REENTRY {d}")?;
                }
                if let Some(e) = &t.condition {
                    write!(f, " WHERE {e}")?;
                }
            }
        }
        if self.approval_required.is_some() {
            f.write_str(" APPROVAL REQUIRED")?;
        }
        if let Some(r) = &self.rate {
            write!(f, " RATE {r} PER SECOND")?;
        }
        if self.allow_sensitive.is_some() {
            f.write_str(" ALLOW SENSITIVE")?;
        }
        if let Some(g) = &self.goal {
            let unit = if g.days.value == 1 { "DAY" } else { "DAYS" };
            write!(f, " GOAL did({}, {} {unit} AFTER SEND)", g.event, g.days)?;
        }
        Ok(())
    }
}

impl fmt::Display for DurationLit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit_seconds {
            1 => "SECOND",
            60 => "MINUTE",
            3600 => "HOUR",
            _ => "DAY",
        };
        let s = if self.n.value == 1 { "" } else { "S" };
        write!(f, "{} {unit}{s}", self.n)
    }
}
