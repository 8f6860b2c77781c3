//! Authentication: password hashing, session tokens and the policies for expiry and throttling.
//!
//! The policies are pure functions of a record and the current time, so they are tested without a clock
//! or a database; the HTTP handlers in `crate::http::auth` apply them.

pub mod password;
pub mod session;
pub mod throttle;
