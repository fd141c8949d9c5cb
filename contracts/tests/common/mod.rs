//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod header;
pub mod host;
pub mod module;
