//! A campaign's effects (`delivered`, `clicked`, …), as the language names
//! them and as the table stores them: each run's users who had an effect
//! are the rows holding the value `{campaign id}/{run}/{effect}` of the
//! hidden SET field [`EFFECTS_FIELD`], so that `clicked(spring)` binds to
//! an ordinary SET lookup (ARCHITECTURE.md, "Campaign effects").

/// The system field holding every campaign's effects on a table.
pub const EFFECTS_FIELD: &str = "#effects";

/// What a user did with a message, as the receiver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// The message reached the device or inbox.
    Delivered,
    /// It was opened.
    Opened,
    /// A link in it was clicked.
    Clicked,
    /// The user did what it asked (bought, booked).
    Converted,
    /// The user switched notifications off.
    Unsubscribed,
    /// The user removed the app.
    Uninstalled,
}

impl Effect {
    /// Every effect, in the order reports list them.
    pub const ALL: [Effect; 6] = [
        Effect::Delivered,
        Effect::Opened,
        Effect::Clicked,
        Effect::Converted,
        Effect::Unsubscribed,
        Effect::Uninstalled,
    ];

    /// Its name (in effect lines, reports and the language).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Delivered => "delivered",
            Effect::Opened => "opened",
            Effect::Clicked => "clicked",
            Effect::Converted => "converted",
            Effect::Unsubscribed => "unsubscribed",
            Effect::Uninstalled => "uninstalled",
        }
    }

    /// The effect named `word` (any case).
    pub fn parse(word: &str) -> Option<Effect> {
        Effect::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(word))
    }
}

/// The value of [`EFFECTS_FIELD`] held by the users of run `run` of the
/// campaign with id `campaign` who had `effect`.
pub fn effect_value(campaign: u64, run: u32, effect: Effect) -> String {
    format!("{campaign}/{run}/{}", effect.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_values_are_distinct() {
        for e in Effect::ALL {
            assert_eq!(Effect::parse(e.as_str()), Some(e));
            assert_eq!(Effect::parse(&e.as_str().to_uppercase()), Some(e));
        }
        assert_eq!(Effect::parse("bounced"), None);
        assert_eq!(effect_value(7, 12, Effect::Clicked), "7/12/clicked");
        assert_ne!(
            effect_value(71, 2, Effect::Clicked),
            effect_value(7, 12, Effect::Clicked)
        );
    }
}
