//! The Portcullis operator: watches Routes and the Services,
//! EndpointSlices, Secrets and ReferenceGrants they reference, compiles
//! them into snapshots, pushes each snapshot to the data planes and reports
//! on every Route whether it is accepted, resolved, programmed and ready.

pub mod cli;
pub mod controller;
pub mod delivery;
pub mod grant;
pub mod kinds;
pub mod metrics;
pub mod ready;
pub mod run;
pub mod secrets;
pub mod status;
pub mod writer;
