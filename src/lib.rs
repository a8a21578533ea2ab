//! Parley: a self-hosted omnichannel conversation hub.

pub mod agents;
pub mod app;
pub mod channels;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod media;
pub mod ratelimit;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;
