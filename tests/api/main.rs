//! Parley's integration tests: one binary, each test with its own server and database.
#![allow(clippy::unwrap_used)]

mod helpers;

mod agentclara;
mod agents;
mod attacks;
mod browser;
mod ccai;
mod channel_contract;
mod channels;
mod contacts;
mod conversations;
mod crash;
mod email;
mod eva;
mod event_catalog;
mod events;
mod fuzz;
mod idempotency;
mod keys;
mod mail_servers;
mod media;
mod meta_channels;
mod meta_graph;
mod nul;
mod openai_model;
mod platform;
mod process;
mod qlara_inbox;
mod qlara_rcs;
mod qlara_sends;
mod rbm_api;
mod rcs;
mod receiver;
mod routing;
mod s3;
mod sessions;
mod surveys;
mod twilio;
mod twilio_api;
mod voice;
mod webchat;
mod webhooks;
mod whatsapp;
mod whatsapp_media;
mod whatsapp_outbound;
