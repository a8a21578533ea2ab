//! Use cases shared by the native API, API dialects, provider hooks, the operator UI and jobs.

pub mod agents;
pub mod answers;
pub mod auth;
pub mod channels;
pub mod comments;
pub mod contacts;
pub mod conversations;
pub mod credit;
pub mod escalations;
pub mod events;
pub mod fallback;
pub mod group_commit;
pub mod hooks;
pub mod inbound;
pub mod media;
pub mod media_fetch;
pub mod messages;
pub mod outbound;
pub mod profiles;
pub mod rcs_templates;
pub mod routing;
pub mod sessions;
pub mod templates;
pub mod views;
pub mod visitors;
pub mod webhooks;
