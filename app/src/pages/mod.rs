//! One module per page.

mod home;
mod login;
mod not_found;

pub use home::{Home, Journal, TopUp};
pub use login::Login;
pub use not_found::NotFound;
