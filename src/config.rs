//! Command line and configuration: every setting is a flag and a `PARLEY_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::media::{Backing, S3Settings};

/// Parley: one inbox for every customer conversation. Without a command it serves, as
/// `parley serve` does.
#[derive(Debug, Parser)]
#[command(name = "parley", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The server's settings, for `parley` without a command.
    #[command(flatten)]
    pub config: Config,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where Parley keeps its data and how it logs: what every command needs.
#[derive(Clone, Args)]
pub struct Store {
    /// Directory for the SQLite database and media files.
    #[arg(long, env = "PARLEY_DATA_DIR", default_value = "./parley-data")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); the SQLite file in the data directory when omitted.
    #[arg(long, env = "PARLEY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log output format.
    #[arg(long, env = "PARLEY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// The server's settings. Its `Debug` output redacts secrets.
#[derive(Clone, Args)]
pub struct Config {
    /// Where the data is, and how to log.
    #[command(flatten)]
    pub store: Store,
    /// Address the HTTP server listens on.
    #[arg(long, env = "PARLEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL clients use to reach this server (for signed media links); `http://<listen>` when omitted.
    #[arg(long, env = "PARLEY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// On first start, make the admin API key exactly this value.
    #[arg(long, env = "PARLEY_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// On first start, the admin operator's email.
    #[arg(long, env = "PARLEY_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    /// On first start, the admin operator's password.
    #[arg(long, env = "PARLEY_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// Milliseconds between each simulated delivery step (sent → delivered → read).
    #[arg(long, env = "PARLEY_SIMULATION_STEP_MS", default_value_t = 1500)]
    pub simulation_step_ms: u64,
    /// Largest JSON request body accepted, in bytes.
    #[arg(long, env = "PARLEY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest a POST with an `Idempotency-Key` may run, in milliseconds; its claim on the key lasts
    /// one second more, so a key whose request died with its process is free again after that.
    #[arg(long, env = "PARLEY_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Milliseconds a client has to send a request's headers; an idle keep-alive connection is
    /// closed after as long.
    #[arg(long, env = "PARLEY_HEADER_READ_TIMEOUT_MS", default_value_t = 15_000)]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a request body may go without sending data before the request fails with 408.
    #[arg(long, env = "PARLEY_BODY_READ_TIMEOUT_MS", default_value_t = 15_000)]
    pub body_read_timeout_ms: u64,
    /// Open connections allowed from one client address (trusted proxies excepted).
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,
    /// Open connections allowed in all; keep it below the process's file descriptor limit.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS", default_value_t = 8192)]
    pub max_connections: usize,
    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` names the
    /// client, for per-client limits; other peers are the client themselves.
    #[arg(long, env = "PARLEY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest media upload accepted, in bytes.
    #[arg(long, env = "PARLEY_MAX_MEDIA_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_media_bytes: usize,
    /// Requests per minute allowed per API key on the native API.
    #[arg(long, env = "PARLEY_RATE_LIMIT_PER_MINUTE", default_value_t = 6000)]
    pub rate_limit_per_minute: u32,
    /// Requests allowed in a burst per API key on the native API.
    #[arg(long, env = "PARLEY_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// Failed authentications (wrong API keys or passwords) allowed per client address a minute;
    /// after that the address is refused with 429 until the minute ends.
    #[arg(long, env = "PARLEY_AUTH_FAILURES_PER_MINUTE", default_value_t = 20)]
    pub auth_failures_per_minute: u32,
    /// Requests per minute allowed per API key (or operator) on each compatible API (the drop-in
    /// copies of other platforms' APIs, e.g. `/api/partner-gateway/v1`).
    #[arg(long, env = "PARLEY_COMPAT_RATE_LIMIT_PER_MINUTE", default_value_t = 1000)]
    pub compat_rate_limit_per_minute: u32,
    /// Requests per second allowed per API key (or operator) on each compatible API (bursts).
    #[arg(long, env = "PARLEY_COMPAT_RATE_LIMIT_BURST", default_value_t = 50)]
    pub compat_rate_limit_burst: u32,
    /// Price of one outbound message per channel kind, in thousandths of the currency unit, e.g.
    /// `sms=70,whatsapp=50,rcs=40`. Only kinds listed here are charged and need credit; with none
    /// listed (the default) sends are free and never refused for credit.
    #[arg(long, env = "PARLEY_CREDIT_PRICES")]
    pub credit_prices: Option<String>,
    /// Milliseconds the background jobs wait between polls when idle.
    #[arg(long, env = "PARLEY_JOB_POLL_MS", default_value_t = 250)]
    pub job_poll_ms: u64,
    /// How long a claimed job stays invisible to other workers: after a crash, the wait before
    /// another node (or the restarted one) takes it over. Longer than the slowest job.
    #[arg(long, env = "PARLEY_JOB_LEASE_MS", default_value_t = 60_000)]
    pub job_lease_ms: u64,
    /// Milliseconds a virtual agent waits after a customer's message before answering, so a burst
    /// of messages gets one answer.
    #[arg(long, env = "PARLEY_AGENT_DEBOUNCE_MS", default_value_t = 1500)]
    pub agent_debounce_ms: u64,
    /// Seconds between reads of an email channel's IMAP folder when its server offers no IDLE
    /// (with IDLE, new mail is read as it arrives).
    #[arg(long, env = "PARLEY_IMAP_POLL_SECONDS", default_value_t = 60)]
    pub imap_poll_seconds: u64,
    /// Answers virtual agents write at once for one account (the queue is fair across accounts).
    #[arg(long, env = "PARLEY_AGENT_CONCURRENCY_PER_ACCOUNT", default_value_t = 4)]
    pub agent_concurrency_per_account: u32,
    /// Answers virtual agents write at once in all.
    #[arg(long, env = "PARLEY_AGENT_CONCURRENCY", default_value_t = 32)]
    pub agent_concurrency: u32,
    /// Allow webhook targets on loopback, private and link-local addresses (local development and tests).
    #[arg(long, env = "PARLEY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Milliseconds a webhook target has to answer before the attempt counts as failed.
    #[arg(long, env = "PARLEY_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Largest webhook body sent, in bytes; a larger event is sent without its object (`"truncated": true`).
    #[arg(long, env = "PARLEY_WEBHOOK_MAX_PAYLOAD_BYTES", default_value_t = 256 * 1024)]
    pub webhook_max_payload_bytes: usize,
    /// Webhook requests in flight at once (each subscription gets at most a quarter of them).
    #[arg(long, env = "PARLEY_WEBHOOK_CONCURRENCY", default_value_t = 64)]
    pub webhook_concurrency: usize,
    /// Where media files are kept: the data directory, or an S3-compatible bucket.
    #[arg(long, env = "PARLEY_MEDIA_STORE", value_enum, default_value = "local")]
    pub media_store: MediaStoreKind,
    /// S3 bucket for media files (with `--media-store s3`).
    #[arg(long, env = "PARLEY_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible server (MinIO, Ceph, R2…); AWS when omitted.
    #[arg(long, env = "PARLEY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "PARLEY_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id; from the usual `AWS_*` environment when omitted.
    #[arg(long, env = "PARLEY_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key; from the usual `AWS_*` environment when omitted.
    #[arg(long, env = "PARLEY_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Address objects as `endpoint/bucket/key` (most self-hosted servers) instead of `bucket.endpoint/key`.
    #[arg(long, env = "PARLEY_S3_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// Run as one node of several on the same PostgreSQL database (media in S3): live events reach
    /// every node, singleton work runs on one, send pace and rate limits are shared.
    #[arg(long, env = "PARLEY_CLUSTER", default_value_t = false, action = clap::ArgAction::Set)]
    pub cluster: bool,
    /// This node's name among the cluster's nodes (`/readyz`); the host name and port when omitted.
    #[arg(long, env = "PARLEY_NODE_NAME")]
    pub node_name: Option<String>,
    /// On SIGTERM, how long `/readyz` answers 503 before the node stops taking connections, so a
    /// load balancer's health checks move traffic away first.
    #[arg(long, env = "PARLEY_DRAIN_MS", default_value_t = 0)]
    pub drain_ms: u64,
}

/// Where media files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaStoreKind {
    /// Files under `<data dir>/media`.
    Local,
    /// An S3-compatible bucket (`PARLEY_S3_*`).
    S3,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Commands of the `parley` binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and background jobs (the default).
    Serve(Box<Config>),
    /// Create the database or apply pending migrations, and exit.
    Migrate(Store),
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage channels.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Manage credit.
    #[command(subcommand)]
    Credit(CreditCommand),
}

/// `parley credit …`
#[derive(Debug, Subcommand)]
pub enum CreditCommand {
    /// Add credit to an account and print the balance after.
    TopUp {
        #[command(flatten)]
        store: Store,
        /// Account to credit.
        #[arg(long)]
        account: i64,
        /// Thousandths of the currency unit to add (1000 = 1.000).
        #[arg(long)]
        amount: i64,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `parley accounts …`
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account and print its admin API key on the last line.
    Create {
        #[command(flatten)]
        store: Store,
        /// The account's name.
        name: String,
    },
}

/// `parley keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it on the last line.
    Create {
        #[command(flatten)]
        store: Store,
        /// Account the key belongs to.
        #[arg(long, default_value_t = 1)]
        account: i64,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List an account's API keys (never their values).
    List {
        #[command(flatten)]
        store: Store,
        /// Account whose keys to list.
        #[arg(long, default_value_t = 1)]
        account: i64,
    },
    /// Revoke an API key by id.
    Revoke {
        #[command(flatten)]
        store: Store,
        /// Account the key belongs to.
        #[arg(long, default_value_t = 1)]
        account: i64,
        /// The key's id.
        id: i64,
    },
}

/// `parley channels …`
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel.
    Add {
        #[command(flatten)]
        store: Store,
        /// Account the channel belongs to.
        #[arg(long, default_value_t = 1)]
        account: i64,
        /// whatsapp, rcs, messenger, instagram, sms, email or webchat.
        #[arg(long)]
        kind: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// The business address on that network (phone number, page id, email…).
        #[arg(long)]
        address: String,
        /// Never call the provider; simulate delivery.
        #[arg(long)]
        simulation: bool,
    },
    /// List an account's channels.
    List {
        #[command(flatten)]
        store: Store,
        /// Account whose channels to list.
        #[arg(long, default_value_t = 1)]
        account: i64,
    },
}

impl Config {
    /// The configured price of one message on a channel of `kind` (thousandths), if it is charged.
    pub fn message_price(&self, kind: &str) -> Option<i64> {
        self.credit_prices.as_deref()?.split(',').find_map(|entry| {
            let (name, price) = entry.split_once('=')?;
            (name.trim().eq_ignore_ascii_case(kind)).then(|| price.trim().parse().ok()).flatten()
        })
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("store", &self.store)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("bootstrap_api_key", &redacted(&self.bootstrap_api_key))
            .field("bootstrap_admin_email", &self.bootstrap_admin_email)
            .field("bootstrap_admin_password", &redacted(&self.bootstrap_admin_password))
            .field("simulation_step_ms", &self.simulation_step_ms)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_media_bytes", &self.max_media_bytes)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("header_read_timeout_ms", &self.header_read_timeout_ms)
            .field("body_read_timeout_ms", &self.body_read_timeout_ms)
            .field("max_connections_per_client", &self.max_connections_per_client)
            .field("max_connections", &self.max_connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("compat_rate_limit_per_minute", &self.compat_rate_limit_per_minute)
            .field("compat_rate_limit_burst", &self.compat_rate_limit_burst)
            .field("credit_prices", &self.credit_prices)
            .field("job_poll_ms", &self.job_poll_ms)
            .field("agent_debounce_ms", &self.agent_debounce_ms)
            .field("imap_poll_seconds", &self.imap_poll_seconds)
            .field("agent_concurrency_per_account", &self.agent_concurrency_per_account)
            .field("agent_concurrency", &self.agent_concurrency)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .field("webhook_max_payload_bytes", &self.webhook_max_payload_bytes)
            .field("webhook_concurrency", &self.webhook_concurrency)
            .field("media_store", &self.media_store)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &redacted(&self.s3_secret_access_key))
            .field("s3_path_style", &self.s3_path_style)
            .field("job_lease_ms", &self.job_lease_ms)
            .field("cluster", &self.cluster)
            .field("node_name", &self.node_name)
            .field("drain_ms", &self.drain_ms)
            .finish()
    }
}

/// An address (`10.0.0.1`) or a CIDR range (`10.0.0.0/8`).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR range"))
}

/// A database URL with its password replaced.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// The SQLite file in the data directory, used when no database URL is given.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("parley.db")
    }

    /// The database URL in effect: the explicit one, or the SQLite file in the data directory
    /// (created when missing).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.sqlite_path().display()),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|url| redact_password(url)))
            .field("log_format", &self.log_format)
            .finish()
    }
}

impl Command {
    /// The data and logs the command works with.
    pub fn store(&self) -> &Store {
        match self {
            Command::Serve(config) => &config.store,
            Command::Migrate(store)
            | Command::Accounts(AccountsCommand::Create { store, .. })
            | Command::Keys(
                KeysCommand::Create { store, .. } | KeysCommand::List { store, .. } | KeysCommand::Revoke { store, .. },
            )
            | Command::Channels(ChannelsCommand::Add { store, .. } | ChannelsCommand::List { store, .. })
            | Command::Credit(CreditCommand::TopUp { store, .. }) => store,
        }
    }
}

impl Config {
    /// The server's settings from the environment and defaults, over `store`: what administration
    /// commands use when they need the services.
    pub fn over(store: Store) -> anyhow::Result<Config> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches_from(["parley"])?;
        let mut config = Config::from_arg_matches(&matches)?;
        config.store = store;
        Ok(config)
    }

    /// Where media bytes live, from the media store settings.
    pub fn media_backing(&self) -> anyhow::Result<Backing> {
        Ok(match self.media_store {
            MediaStoreKind::Local => Backing::Local(self.store.data_dir.join("media")),
            MediaStoreKind::S3 => Backing::S3(S3Settings {
                bucket: self
                    .s3_bucket
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("PARLEY_S3_BUCKET is required with PARLEY_MEDIA_STORE=s3"))?,
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                path_style: self.s3_path_style,
            }),
        })
    }

    /// Refuses settings that cannot work together: a cluster needs PostgreSQL and a shared media store.
    pub fn check_cluster(&self) -> anyhow::Result<()> {
        if !self.cluster {
            return Ok(());
        }
        if !self.store.database_url().starts_with("postgres") {
            anyhow::bail!(
                "PARLEY_CLUSTER (--cluster) needs PostgreSQL: SQLite is one file that one node writes. \
                 Set PARLEY_DATABASE_URL=postgres://… on every node, or run a single node without --cluster"
            );
        }
        if self.media_store == MediaStoreKind::Local {
            anyhow::bail!(
                "PARLEY_CLUSTER (--cluster) needs media every node can read: set PARLEY_MEDIA_STORE=s3 with \
                 PARLEY_S3_BUCKET (the data directory is one machine's)"
            );
        }
        Ok(())
    }

    /// This node's name: the configured one, or the host name and port.
    pub fn node(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
            format!("{}:{}", if host.is_empty() { "parley" } else { &host }, self.listen.port())
        })
    }

    /// Base URL for links this server hands out.
    pub fn effective_public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen)).trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn debug_output_hides_secrets() {
        let cli = Cli::parse_from([
            "parley",
            "--bootstrap-api-key",
            "pk_very_secret_value_123",
            "--bootstrap-admin-password",
            "hunter2hunter2",
            "--database-url",
            "postgres://parley:dbpass@localhost/parley",
            "--s3-secret-access-key",
            "s3-very-secret",
        ]);
        let text = format!("{:?}", cli.config);
        assert!(!text.contains("pk_very_secret") && !text.contains("hunter2") && !text.contains("dbpass"), "{text}");
        assert!(!text.contains("s3-very-secret"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
