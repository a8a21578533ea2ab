//! WhatsApp Business Cloud API (Meta): channel settings, webhook signatures and the webhook
//! payload's mapping to Parley's ingestion events.

pub mod graph;
pub mod settings;
pub mod signature;
pub mod webhook;
