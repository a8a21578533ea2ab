//! Provider formats: what each network's settings, webhooks and signatures look like, and how they
//! map to Parley's inputs. Pure code: no database, no HTTP server, no outgoing calls.

pub mod whatsapp;
