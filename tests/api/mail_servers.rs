//! Real mail servers on loopback for the email tests, one of each per test: Dovecot (Debian's
//! `dovecot-imapd`, the IMAP server most mail hosts run) with a static password and maildirs in a
//! temporary folder, and an aiosmtpd SMTP server (tests/mail/smtp_server.py) that keeps each mail
//! it takes and answers `tempfail…` and `reject…` recipients with 451 and 550.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use parley::channels::email::imap;
use parley::channels::email::{Security, Server};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::receiver::start_python;

const SMTP_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/smtp_server.py");
pub const SMTP_PASSWORD: &str = "smtp-secret";
pub const IMAP_PASSWORD: &str = "imap-secret";

/// A mail the SMTP server took.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub raw: Vec<u8>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
}

impl Delivered {
    /// The parsed mail.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("a mail")
    }
}

/// An SMTP server.
pub struct Smtp {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

impl Smtp {
    pub async fn start() -> Smtp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (child, port) = start_python(&[SMTP_SCRIPT, "--dir", &dir.path().display().to_string()], "aiosmtpd").await;
        Smtp { port, dir, _child: child }
    }

    /// A channel's SMTP settings for this server.
    pub fn settings(&self) -> Value {
        json!({"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none", "smtp_password": SMTP_PASSWORD})
    }

    /// The mails taken so far, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("mail dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|path| {
                let meta: Value =
                    serde_json::from_slice(&std::fs::read(path.with_extension("json")).expect("envelope"))
                        .expect("json");
                Delivered {
                    raw: std::fs::read(&path).expect("mail"),
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// A Dovecot IMAP server; every user name logs in with [`IMAP_PASSWORD`] and has its own
/// mailbox (INBOX and Sent).
pub struct Dovecot {
    pub port: u16,
    dir: tempfile::TempDir,
    /// Whether it offers IDLE.
    idle: bool,
    child: Option<Child>,
}

impl Dovecot {
    pub async fn start() -> Dovecot {
        Dovecot::start_with(true).await
    }

    /// A server that does not offer IDLE (as some hosts' do not).
    pub async fn start_without_idle() -> Dovecot {
        Dovecot::start_with(false).await
    }

    async fn start_with(idle: bool) -> Dovecot {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("address").port()
        };
        let mut dovecot = Dovecot { port, dir, idle, child: None };
        dovecot.run().await;
        dovecot
    }

    /// Starts the server process (again, after [`Dovecot::stop`]) on the same port and mail.
    pub async fn run(&mut self) {
        let root = self.dir.path();
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("home");
        // Mail is kept as `nobody`, as Dovecot refuses to keep it as root.
        std::process::Command::new("chmod").args(["-R", "777", &root.display().to_string()]).status().expect("chmod");
        let config = format!(
            r#"base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={home}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \Sent
    auto = create
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
{capability}
"#,
            root = root.display(),
            home = home.display(),
            port = self.port,
            capability = match self.idle {
                true => "",
                false => "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS",
            },
        );
        let path = root.join("dovecot.conf");
        std::fs::write(&path, config).expect("config");
        let child = Command::new("dovecot")
            .args(["-F", "-c", &path.display().to_string()])
            // Its log is dovecot.log in the folder; what it prints is noise about permissions.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting dovecot: {e} (apt-get install dovecot-imapd, or run scripts/test)"));
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dovecot did not start: {}", std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default());
    }

    /// Stops the server (the mail stays).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill dovecot");
        }
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A channel's IMAP settings for `user`'s mailbox.
    pub fn settings(&self, user: &str) -> Value {
        json!({"imap_host": "127.0.0.1", "imap_port": self.port, "imap_security": "none", "imap_user": user,
            "imap_password": IMAP_PASSWORD})
    }

    fn server(&self, user: &str) -> Server {
        Server {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            security: Security::None,
            user: user.to_owned(),
            password: IMAP_PASSWORD.to_owned(),
        }
    }

    /// Whether the server tells `user`'s client that it offers IDLE.
    pub async fn offers_idle(&self, user: &str) -> bool {
        let mut mailbox = imap::connect(&self.server(user)).await.expect("IMAP login");
        let idle = imap::supports_idle(&mut mailbox).await.expect("CAPABILITY");
        imap::logout(mailbox).await;
        idle
    }

    /// Puts a mail in `user`'s folder, as a delivery does.
    pub async fn deliver(&self, user: &str, folder: &str, raw: &[u8]) {
        let mut mailbox = imap::connect(&self.server(user)).await.expect("IMAP login");
        imap::append_sent(&mut mailbox, folder, raw).await.expect("APPEND");
        imap::logout(mailbox).await;
    }

    /// Deletes `user`'s folder if it exists and creates it anew: its UIDs start again under a new
    /// UIDVALIDITY (Dovecot takes the time in seconds, so not twice in one second).
    pub async fn recreate(&self, user: &str, folder: &str) {
        let mut mailbox = imap::connect(&self.server(user)).await.expect("IMAP login");
        let _ = mailbox.delete(folder).await;
        mailbox.create(folder).await.expect("CREATE");
        imap::logout(mailbox).await;
    }

    /// Every mail in `user`'s folder, oldest first.
    pub async fn mails(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        let mut mailbox = imap::connect(&self.server(user)).await.expect("IMAP login");
        imap::select(&mut mailbox, folder).await.expect("SELECT");
        let uids = imap::uids_after(&mut mailbox, 0).await.expect("SEARCH");
        let mails = imap::fetch(&mut mailbox, &uids).await.expect("FETCH");
        imap::logout(mailbox).await;
        mails.into_iter().map(|(_, raw)| raw).collect()
    }
}
