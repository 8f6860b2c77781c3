//! Recharge's host: the axum server that renders the app, checks sessions and owns the database, and the
//! `recharge` command line.

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod sms;
pub mod startup;
