//! The HTTP API, driven over real HTTP against a running instance, on both databases.
//! One test binary: each scenario runs once on SQLite and once on MariaDB, each on a fresh
//! database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

mod authz;
mod background;
mod bad_input;
mod cli;
mod cluster;
mod crash;
mod escrow_flow;
mod escrow_support;
mod gateway;
mod hardening;
mod ledger;
mod logs;
mod members;
mod money;
mod nats_cluster;
mod newcomer;
mod outage;
mod products;
mod races;
mod refund_crash;
mod returns;
mod returns_races;
mod settlements;
mod standalone_sandbox;
mod system;
mod vbank;
mod vbank_races;
mod webhooks;
mod webhooks_v2;
