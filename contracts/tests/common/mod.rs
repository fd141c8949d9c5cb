//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod header;
pub mod module;
