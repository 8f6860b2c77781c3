//! One module per page.

mod account;
mod home;
mod login;
mod not_found;

pub use account::Account;
pub use home::{Home, Journal, TopUp};
pub use login::Login;
pub use not_found::NotFound;
