//! The SMS link between the server and the recharge stations.
//!
//! [`pdu`] encodes and decodes SMS in PDU mode (3GPP TS 23.040 for the transfer layer, TS 23.038 for the
//! alphabets): what a GSM modem takes with `AT+CMGS` and gives with `AT+CMGR`. It is pure: bytes in,
//! values out, errors for anything malformed, never a panic.

pub mod at;
pub mod emulator;
pub mod link;
pub mod modem;
pub mod pdu;
