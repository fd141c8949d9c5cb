//! The `keel serve` daemon: the chain behind the network server, with kernel programs and metrics.

pub mod config;
pub mod demo;
pub mod lock;
pub mod mempool;
pub mod notify;
pub mod rate;
pub mod reopener;
pub mod service;
pub mod store;
