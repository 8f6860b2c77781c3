//! The station's data logger: 8 KB, the size of the DS1996 iButton the original station uses. A ring of
//! fixed 16-byte records, oldest overwritten first; every load onto a key is one record.

/// Bytes of memory (DS1996: 64 kbit).
pub const CAPACITY: usize = 8192;
/// Bytes per record.
pub const RECORD: usize = 16;
/// How many records the logger holds before it overwrites the oldest.
pub const RECORDS: usize = CAPACITY / RECORD;

/// One load onto a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Unix time in seconds (the station's clock).
    pub time: u32,
    /// The transaction number, its low 32 bits.
    pub tx: u32,
    pub key: u16,
    /// Rappen loaded; at most 167,772.15 CHF (24 bits).
    pub amount: u32,
    /// Rappen on the key afterwards (24 bits).
    pub balance: u32,
}

impl Record {
    fn to_bytes(self) -> [u8; RECORD] {
        let mut b = [0u8; RECORD];
        b[0..4].copy_from_slice(&self.time.to_be_bytes());
        b[4..8].copy_from_slice(&self.tx.to_be_bytes());
        b[8..10].copy_from_slice(&self.key.to_be_bytes());
        b[10..13].copy_from_slice(&self.amount.to_be_bytes()[1..]);
        b[13..16].copy_from_slice(&self.balance.to_be_bytes()[1..]);
        b
    }

    fn from_bytes(b: &[u8]) -> Self {
        let u24 = |s: &[u8]| u32::from_be_bytes([0, s[0], s[1], s[2]]);
        Self {
            time: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            tx: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            key: u16::from_be_bytes([b[8], b[9]]),
            amount: u24(&b[10..13]),
            balance: u24(&b[13..16]),
        }
    }
}

/// The largest amount or balance a record can hold (24 bits of Rappen).
pub const MAX_VALUE: u32 = (1 << 24) - 1;

#[derive(Clone, PartialEq, Eq)]
pub struct DataLogger {
    memory: Vec<u8>,
    /// Records ever written; the next goes to slot `written % RECORDS`.
    written: u64,
}

impl Default for DataLogger {
    fn default() -> Self {
        Self { memory: vec![0; CAPACITY], written: 0 }
    }
}

impl std::fmt::Debug for DataLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLogger").field("written", &self.written).finish_non_exhaustive()
    }
}

impl serde::Serialize for DataLogger {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

impl<'de> serde::Deserialize<'de> for DataLogger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        bytes
            .and_then(|b| Self::from_bytes(&b))
            .ok_or_else(|| serde::de::Error::custom("not a data logger image"))
    }
}

impl DataLogger {
    /// Appends a record, overwriting the oldest when full. Amount and balance must be at most
    /// [`MAX_VALUE`]; the station refuses larger top-ups before they get here.
    pub fn push(&mut self, record: Record) {
        debug_assert!(record.amount <= MAX_VALUE && record.balance <= MAX_VALUE);
        let slot = (self.written % RECORDS as u64) as usize * RECORD;
        self.memory[slot..slot + RECORD].copy_from_slice(&record.to_bytes());
        self.written += 1;
    }

    /// The records still in memory, oldest first.
    pub fn records(&self) -> Vec<Record> {
        let kept = self.written.min(RECORDS as u64);
        (self.written - kept..self.written)
            .map(|i| {
                let slot = (i % RECORDS as u64) as usize * RECORD;
                Record::from_bytes(&self.memory[slot..slot + RECORD])
            })
            .collect()
    }

    /// How many records were ever written (including overwritten ones).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The raw memory and the write count, as the station saves them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.written.to_be_bytes().to_vec();
        out.extend_from_slice(&self.memory);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 8 + CAPACITY {
            return None;
        }
        let written = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        Some(Self { memory: bytes[8..].to_vec(), written })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u32) -> Record {
        Record {
            time: 1_700_000_000 + i,
            tx: i,
            key: (i % 65536) as u16,
            amount: i * 100 % MAX_VALUE,
            balance: MAX_VALUE - i,
        }
    }

    #[test]
    fn keeps_the_last_512_records_in_8_kb() {
        assert_eq!(RECORDS, 512);
        let mut logger = DataLogger::default();
        for i in 0..700 {
            logger.push(record(i));
        }
        let records = logger.records();
        assert_eq!(records.len(), 512);
        assert_eq!(records[0], record(188));
        assert_eq!(*records.last().unwrap(), record(699));
        assert_eq!(DataLogger::from_bytes(&logger.to_bytes()).unwrap(), logger);
    }
}
