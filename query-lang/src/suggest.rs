//! "Did you mean …?": the nearest name by edit distance.

/// Names longer than this get no suggestion (the distance is quadratic).
const MAX_LEN: usize = 200;

/// The candidate nearest to `name`, if one is near enough: a candidate
/// that differs only in case, one within about a third of the name's
/// length in edits (insert, delete, replace, swap two neighbours), or one
/// the name abbreviates (its letters in order, at least 3 of them and at
/// least half the candidate's: `usr` for `users`). Ties go to the earlier
/// candidate. `name` itself is never suggested.
pub(crate) fn nearest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let wanted: Vec<char> = name.to_lowercase().chars().collect();
    if wanted.is_empty() || wanted.len() > MAX_LEN {
        return None;
    }
    let limit = wanted.len().div_ceil(3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let len = candidate.chars().count();
        let may_abbreviate = wanted.len() >= 3 && len <= 2 * wanted.len();
        if len > MAX_LEN || len.abs_diff(wanted.len()) > limit && !may_abbreviate {
            continue;
        }
        let have: Vec<char> = candidate.to_lowercase().chars().collect();
        let d = distance(&wanted, &have);
        let near = d <= limit || may_abbreviate && abbreviates(&wanted, &have);
        if near && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether `short` is `long` with letters left out (`usr`, `users`),
/// starting with the same letter.
fn abbreviates(short: &[char], long: &[char]) -> bool {
    if short.first() != long.first() {
        return false;
    }
    let mut rest = long.iter();
    short.iter().all(|c| rest.any(|l| l == c))
}

/// Optimal string alignment distance: edits are insert, delete, replace
/// and swapping two neighbours.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let d = |a: &str, b: &str| {
            distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("city", "city"), 0);
        assert_eq!(d("cty", "city"), 1);
        assert_eq!(d("ctiy", "city"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
    }

    #[test]
    fn nearest_names() {
        let names = ["gender", "age", "city", "district", "is_owner", "income"];
        assert_eq!(nearest("cty", names), Some("city"));
        assert_eq!(nearest("City", names), Some("city"));
        assert_eq!(nearest("gendr", names), Some("gender"));
        assert_eq!(nearest("isowner", names), Some("is_owner"));
        assert_eq!(nearest("zzzzzz", names), None);
        assert_eq!(nearest("city", names), None);
        assert_eq!(nearest("", names), None);
        // Abbreviations: the letters in order, from the first one.
        assert_eq!(nearest("usr", ["users", "events"]), Some("users"));
        assert_eq!(nearest("dstrct", names), Some("district"));
        assert_eq!(nearest("sur", ["users"]), None);
        assert_eq!(nearest("us", ["users"]), None);
        assert_eq!(nearest("inc", ["interests_and_more"]), None);
    }
}
