//! The recharge station and the messages it exchanges with the server.
//!
//! - [`protocol`]: the signed SMS protocol between server and station (`docs/protocol.md`): one printable
//!   message per SMS, HMAC-SHA256 over a direction label and every field, a replay window per direction.
//! - [`machine`]: the station's behaviour as a pure state machine: verified top-ups are stored in its
//!   non-volatile state, loaded onto a key when it is presented, recorded in the data logger, reported.
//! - [`logger`]: the 8 KB (DS1996-sized) data logger.
//! - [`lcd`]: the four 16-character lines of the display.
//!
//! - [`sim`]: the I/O shell around the core for a simulated station on the `sms` crate's GSM network
//!   emulator; the `station-sim` command runs a network of them.
//!
//! Only [`sim`] does I/O: the core modules could run unchanged on the station's board.

pub mod lcd;
pub mod logger;
pub mod machine;
pub mod protocol;
pub mod sim;
