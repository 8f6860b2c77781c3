//! The station's display: four lines of 16 characters, as on the original Orion circuit.

/// Characters per line.
pub const WIDTH: usize = 16;

/// What the display shows: four lines, each at most [`WIDTH`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen(pub [String; 4]);

impl Screen {
    fn new(lines: [&str; 4]) -> Self {
        Self(lines.map(|l| l.chars().take(WIDTH).collect()))
    }

    /// Waiting for a key.
    pub fn idle() -> Self {
        Self::new(["ORION SYSTEM", "", "PRESENTEZ", "VOTRE CLE"])
    }

    /// The key's number and balance: `N° de clé 34586`, `** Fr. 50.00 **`.
    pub fn balance(key: u16, rappen: u32) -> Self {
        Self::new([
            "ORION SYSTEM",
            &key_line(key),
            "SOLDE SUR LA CLE",
            &format!("** Fr. {} **", francs(rappen)),
        ])
    }

    /// The credit about to be written onto the key.
    pub fn loading(key: u16, rappen: u32) -> Self {
        Self::new(["ORION SYSTEM", &key_line(key), "RECHARGE", &format!("+ Fr. {}", francs(rappen))])
    }

    pub fn lines(&self) -> &[String; 4] {
        &self.0
    }
}

fn key_line(key: u16) -> String {
    format!("N° de clé {key}")
}

/// `50.00` for 5000 Rappen.
pub fn francs(rappen: u32) -> String {
    format!("{}.{:02}", rappen / 100, rappen % 100)
}

/// A sequence of screens after a key presentation: each shown from its offset (ms) until the next, the
/// last until `duration` has passed; then the idle screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    pub started: u64,
    pub frames: Vec<(u64, Screen)>,
}

/// How long the display shows a presented key (the original: about 15 s).
pub const SHOW_MS: u64 = 15_000;

impl Presentation {
    /// What is on the display at `now` (ms), or `None` once the presentation is over.
    pub fn screen_at(&self, now: u64) -> Option<&Screen> {
        let elapsed = now.checked_sub(self.started)?;
        if elapsed >= SHOW_MS {
            return None;
        }
        self.frames.iter().rev().find(|(at, _)| *at <= elapsed).map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_screen_is_the_original_one() {
        let s = Screen::balance(34586, 5000);
        assert_eq!(
            s.lines(),
            &["ORION SYSTEM", "N° de clé 34586", "SOLDE SUR LA CLE", "** Fr. 50.00 **"].map(String::from)
        );
        assert!(Screen::balance(65535, 16_777_215).lines().iter().all(|l| l.chars().count() <= WIDTH));
    }
}
