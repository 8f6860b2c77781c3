//! What the top-up form offers and checks beyond each field: a warning before the same top-up is sent
//! twice, the amounts a gérance usually sends, the keys last topped up at a station. Pure.

use crate::{Amount, KeyNumber};

/// How long an earlier top-up of the same key and amount at the same station makes a new one ask
/// first: a working day, in which a second identical top-up is more likely a slip than a purchase.
pub const REPEAT_WINDOW_MS: i64 = 12 * 3600 * 1000;

/// How many earlier top-ups of a gérance [`usual_amounts`] looks at.
pub const USUAL_AMOUNTS_FROM: i64 = 500;

/// The amounts sent most often among `recent` (newest first), at most `n`, most frequent first; of
/// equally frequent ones, the most recently sent first. Sorted by value for the buttons, so that they
/// keep their places from one top-up to the next.
pub fn usual_amounts(recent: &[Amount], n: usize) -> Vec<Amount> {
    let mut counted: Vec<(Amount, usize, usize)> = Vec::new(); // amount, count, first position
    for (at, amount) in recent.iter().enumerate() {
        match counted.iter_mut().find(|(a, ..)| a == amount) {
            Some((_, count, _)) => *count += 1,
            None => counted.push((*amount, 1, at)),
        }
    }
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let mut usual: Vec<Amount> = counted.into_iter().take(n).map(|(amount, ..)| amount).collect();
    usual.sort();
    usual
}

/// The distinct keys of `recent` (newest first), at most `n`, newest first.
pub fn recent_keys(recent: &[KeyNumber], n: usize) -> Vec<KeyNumber> {
    let mut keys = Vec::with_capacity(n);
    for key in recent {
        if keys.len() == n {
            break;
        }
        if !keys.contains(key) {
            keys.push(*key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chf(francs: i64) -> Amount {
        Amount::from_rappen(francs * 100).unwrap()
    }

    #[test]
    fn the_usual_amounts_are_the_most_frequent_shown_in_order_of_value() {
        let recent = [chf(50), chf(20), chf(50), chf(100), chf(20), chf(50), chf(7), chf(30)];
        assert_eq!(usual_amounts(&recent, 3), [chf(20), chf(50), chf(100)]);
        // 100, 7 and 30 were each sent once: the most recent of them (100) is kept.
        assert_eq!(usual_amounts(&recent, 2), [chf(20), chf(50)]);
        assert!(usual_amounts(&[], 4).is_empty());
    }

    #[test]
    fn recent_keys_are_distinct_and_newest_first() {
        let keys = [5, 7, 5, 9, 7, 1, 2].map(KeyNumber);
        assert_eq!(recent_keys(&keys, 3), [5, 7, 9].map(KeyNumber));
        assert_eq!(recent_keys(&keys, 10), [5, 7, 9, 1, 2].map(KeyNumber));
    }
}
