//! The Masakari side of the oxha agents, once: `masakari-restart` (VM notifications) and
//! `fence_masakari` (COMPUTE_HOST notifications, optionally nova `forced_down`) use it.
//!
//! * [`params`]: the connection parameter group both agents declare ([`CONNECTION_PARAMS`])
//!   and the [`Connection`] read from it;
//! * [`session`]: keystone v3 password authentication (or none, for `noauth2`), the token's
//!   service catalog and endpoint lookup, requests through the oxha-http policy, each cut to
//!   the caller's deadline;
//! * [`masakari`]: segments, hosts and notifications, with typed answers;
//! * [`nova`]: marking a nova-compute service `forced_down` (API microversion 2.53), stopping
//!   a server whose guest crashed.
//!
//! Each agent invocation is short-lived, so a token is fetched on first use and not cached on
//! disk (a token file would be a secret in a state directory). It is cheap: a whole
//! fence_masakari `off` (token, host lookup, forced_down, notification) takes about 0.25 s
//! against the test cloud's keystone, and masakari-restart's report about 0.1 s.

pub mod error;
pub mod keystone;
pub mod masakari;
pub mod nova;
pub mod params;
pub mod session;

pub use error::Failure;
pub use masakari::{Host, MasakariClient, Notification, PostOutcome, Segment};
pub use params::{Auth, Connection, Credentials, Password, CONNECTION_PARAMS};
pub use session::Session;

#[cfg(test)]
mod tests;
