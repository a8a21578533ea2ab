//! The IMAP side of a mailbox: connecting (TLS, STARTTLS or plain on loopback), listing and
//! fetching mail by UID, waiting with IDLE, and appending a sent copy. It only talks IMAP; the
//! service keeps the cursor (UIDVALIDITY and the last UID) and ingests.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Security, Server};

/// A byte stream IMAP runs over (TCP, or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

/// A logged-in IMAP session.
pub type Mailbox = Session<Box<dyn Io>>;

/// How long connecting and each command may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most mails fetched in one command.
pub const FETCH_BATCH: usize = 50;

/// Connects and logs in.
pub async fn connect(server: &Server) -> Result<Mailbox, String> {
    tokio::time::timeout(TIMEOUT, login(server))
        .await
        .map_err(|_| format!("{}:{} did not answer within {}s", server.host, server.port, TIMEOUT.as_secs()))?
}

async fn login(server: &Server) -> Result<Mailbox, String> {
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", server.host, server.port))?;
    let stream: Box<dyn Io> = match server.security {
        Security::Tls => Box::new(tls(&server.host, tcp).await?),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| format!("STARTTLS refused: {e}"))?;
            Box::new(tls(&server.host, client.into_inner()).await?)
        }
        Security::None => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    if server.security != Security::StartTls {
        greeting(&mut client).await?;
    }
    client
        .login(&server.user, &server.password)
        .await
        .map_err(|(e, _)| format!("the server refused the login of {}: {e}", server.user))
}

async fn greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<(), String> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the server closed the connection before greeting".to_owned()),
        Err(e) => Err(format!("no greeting from the server: {e}")),
    }
}

/// TLS over `tcp`, checking the server's certificate for `host` against the Mozilla roots.
async fn tls(host: &str, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let roots = tokio_rustls::rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("TLS: {host}: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host} failed: {e}"))
}

/// A folder's identity and how far it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folder {
    /// UIDVALIDITY: when it changes, every UID before means nothing.
    pub uid_validity: u32,
}

/// Selects a folder.
pub async fn select(mailbox: &mut Mailbox, folder: &str) -> Result<Folder, String> {
    let selected =
        command(mailbox.select(folder)).await.map_err(|e| format!("cannot open the folder {folder}: {e}"))?;
    Ok(Folder { uid_validity: selected.uid_validity.unwrap_or(0) })
}

/// The UIDs after `last_uid` in the selected folder, oldest first.
pub async fn uids_after(mailbox: &mut Mailbox, last_uid: u32) -> Result<Vec<u32>, String> {
    let found = command(mailbox.uid_search(format!("UID {}:*", last_uid.saturating_add(1))))
        .await
        .map_err(|e| format!("UID SEARCH failed: {e}"))?;
    // `n:*` names the last mail even when its UID is below n.
    let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > last_uid).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The UIDs of the mails received since `since` (Unix ms; IMAP counts whole days), oldest first.
pub async fn uids_since(mailbox: &mut Mailbox, since: i64) -> Result<Vec<u32>, String> {
    let day = chrono::DateTime::from_timestamp_millis(since).unwrap_or_default().format("%-d-%b-%Y");
    let found =
        command(mailbox.uid_search(format!("SINCE {day}"))).await.map_err(|e| format!("UID SEARCH failed: {e}"))?;
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable();
    Ok(uids)
}

/// Fetches these mails' raw bytes without marking them read, in UID order; a mail the server no
/// longer has is left out.
pub async fn fetch(mailbox: &mut Mailbox, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut mails = Vec::with_capacity(uids.len());
    for batch in uids.chunks(FETCH_BATCH) {
        let set = batch.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let fetched: Vec<_> =
            command(async { mailbox.uid_fetch(&set, "(UID BODY.PEEK[])").await?.try_collect::<Vec<_>>().await })
                .await
                .map_err(|e| format!("UID FETCH failed: {e}"))?;
        for fetch in fetched {
            if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                mails.push((uid, body.to_vec()));
            }
        }
    }
    mails.sort_by_key(|(uid, _)| *uid);
    Ok(mails)
}

/// Whether the server offers IDLE (a client must not use it otherwise, RFC 2177).
pub async fn supports_idle(mailbox: &mut Mailbox) -> Result<bool, String> {
    let capabilities = command(mailbox.capabilities()).await.map_err(|e| format!("CAPABILITY failed: {e}"))?;
    Ok(capabilities.has_str("IDLE"))
}

/// Waits in IDLE until the folder changes or `wait` passes; answers the session back.
pub async fn idle(mailbox: Mailbox, wait: Duration) -> Result<Mailbox, String> {
    let mut handle = mailbox.idle();
    handle.init().await.map_err(|e| format!("IDLE refused: {e}"))?;
    let (answer, _stop) = handle.wait_with_timeout(wait);
    match answer.await.map_err(|e| format!("IDLE failed: {e}"))? {
        IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt => {}
    }
    command(handle.done()).await.map_err(|e| format!("ending IDLE failed: {e}"))
}

/// Appends a sent mail, marked read, to a folder.
pub async fn append_sent(mailbox: &mut Mailbox, folder: &str, mail: &[u8]) -> Result<(), String> {
    command(mailbox.append(folder, Some("(\\Seen)"), None, mail))
        .await
        .map_err(|e| format!("APPEND to {folder} failed: {e}"))
}

/// Says goodbye; errors are of no interest by then.
pub async fn logout(mut mailbox: Mailbox) {
    let _ = tokio::time::timeout(Duration::from_secs(5), mailbox.logout()).await;
}

/// A command with the timeout.
async fn command<T>(
    call: impl std::future::Future<Output = async_imap::error::Result<T>>,
) -> Result<T, async_imap::error::Error> {
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(answer) => answer,
        Err(_) => Err(async_imap::error::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the server did not answer in time",
        ))),
    }
}
