//! Recharge's host: the axum server that renders the app, checks sessions and owns the database, and the
//! `recharge` command line.

// The islands' deeply nested view types are laid out in this crate, where the app is rendered.
#![recursion_limit = "256"]

pub mod alerts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod feed;
pub mod http;
pub mod keys;
pub mod lease;
pub mod metrics;
pub mod payments;
pub mod sms;
pub mod startup;
pub mod stations;
