//! What each `parley` command does.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::{Config, Store};
use crate::service::{auth, channels, credit};
use crate::state::AppState;
use crate::store::Db;

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let state = AppState::open(config).await?;
    if let Some(first) = crate::cluster::one_at_a_time(&state.db, auth::bootstrap(&state.db, &state.config)).await?? {
        println!("Parley is set up. This is shown once: keep it.");
        println!("  Admin API key:  {}", first.api_key);
        match &first.generated_password {
            Some(password) => println!("  Operator login: {} / {password}", first.admin_email),
            None => println!("  Operator login: {} (password from PARLEY_BOOTSTRAP_ADMIN_PASSWORD)", first.admin_email),
        }
    }
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let public = state.config.effective_public_url();
    tracing::info!(address = %listener.local_addr()?, "Parley listening; API reference at {public}/docs");
    println!(
        "Parley listening on http://{} (operator inbox: {public}/, API reference: {public}/docs)",
        listener.local_addr()?
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(state.clone(), shutdown.clone()));
    app::serve(state, listener, shutdown).await
}

/// On SIGINT or SIGTERM: drains (`/readyz` answers 503 and jobs stop taking work) for the drain
/// time, then stops taking connections and lets requests and jobs in flight finish.
async fn stop_on_signal(state: AppState, shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    state.draining.cancel();
    let drain = std::time::Duration::from_millis(state.config.drain_ms);
    if !drain.is_zero() {
        tracing::info!(?drain, "draining: /readyz answers 503, jobs stop taking work");
        tokio::time::sleep(drain).await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}

/// Opens the database of `store`, creating it when missing, and applies pending migrations.
async fn create_or_open(store: &Store) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&store.data_dir).with_context(|| format!("creating {}", store.data_dir.display()))?;
    let db = Db::connect(&store.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

/// Opens an existing Parley database (applying pending migrations); refuses one that is not
/// there, so a mistyped `--data-dir` or URL is an error rather than a new empty database.
async fn open(store: &Store) -> anyhow::Result<Db> {
    let db = match &store.database_url {
        None => {
            let path = store.sqlite_path();
            if !path.is_file() {
                anyhow::bail!(
                    "no Parley database at {}: pass the --data-dir (PARLEY_DATA_DIR) the server uses, or run \
                     `parley migrate` to create one there",
                    path.display()
                );
            }
            Db::connect(&format!("sqlite://{}?mode=rw", path.display())).await?
        }
        Some(url) => Db::connect(url).await?,
    };
    if !db.is_initialized().await? {
        db.close().await;
        anyhow::bail!(
            "the database has no Parley tables: check --database-url, or run `parley migrate` to create them"
        );
    }
    db.migrate().await?;
    Ok(db)
}

/// The services over an existing database, for the commands that need more than the store.
async fn open_state(store: Store) -> anyhow::Result<AppState> {
    open(&store).await?.close().await;
    AppState::open(Config::over(store)?).await
}

/// Creates the database, or applies pending migrations.
pub async fn migrate(store: Store) -> anyhow::Result<()> {
    let db = create_or_open(&store).await?;
    crate::service::reports::fold_history(&db).await.context("building the reports of earlier history")?;
    db.close().await;
    println!("database is up to date");
    Ok(())
}

/// Creates an account and prints its admin key last.
pub async fn create_account(store: Store, name: &str) -> anyhow::Result<()> {
    let db = open(&store).await?;
    let (account_id, key) = auth::create_account(&db, name, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("account {account_id} created; admin API key:");
    println!("{}", key.value);
    Ok(())
}

/// Creates an API key and prints it last.
pub async fn create_key(store: Store, account: i64, name: &str) -> anyhow::Result<()> {
    let db = open(&store).await?;
    let key = auth::create_api_key(&db, account, name, None, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("key {} created:", key.key.id);
    println!("{}", key.value);
    Ok(())
}

/// Prints an account's keys.
pub async fn list_keys(store: Store, account: i64) -> anyhow::Result<()> {
    let db = open(&store).await?;
    for key in auth::list_api_keys(&db, account).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
        println!(
            "{}\t{}\t{}…\t{state}\tcreated {}\tlast used {}",
            key.id,
            key.name,
            key.prefix,
            key.created_at,
            key.last_used_at.unwrap_or_else(|| "never".into())
        );
    }
    Ok(())
}

/// Revokes a key.
pub async fn revoke_key(store: Store, account: i64, id: i64) -> anyhow::Result<()> {
    let db = open(&store).await?;
    auth::revoke_api_key(&db, account, id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("key {id} revoked");
    Ok(())
}

/// Adds a channel and prints its id.
pub async fn add_channel(
    store: Store,
    account: i64,
    kind: String,
    name: String,
    address: String,
    simulation: bool,
) -> anyhow::Result<()> {
    let state = open_state(store).await?;
    let input = channels::ChannelInput {
        kind: Some(kind),
        name: Some(name),
        address: Some(address),
        simulation: Some(simulation),
        ..Default::default()
    };
    let channel = channels::create(&state, account, input).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "channel {} created ({} {}{})",
        channel.id,
        channel.kind,
        channel.address,
        if channel.simulation { ", simulation" } else { "" }
    );
    Ok(())
}

/// Prints an account's channels.
pub async fn list_channels(store: Store, account: i64) -> anyhow::Result<()> {
    let state = open_state(store).await?;
    for channel in channels::list(&state, account).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        println!(
            "{}\t{}\t{}\t{}{}",
            channel.id,
            channel.kind,
            channel.address,
            channel.name,
            if channel.simulation { "\tsimulation" } else { "" }
        );
    }
    Ok(())
}

/// Tops up an account's credit and prints the balance after.
pub async fn top_up_credit(store: Store, account: i64, amount: i64, reason: Option<String>) -> anyhow::Result<()> {
    let state = open_state(store).await?;
    let entry = credit::top_up(&state, account, amount, reason.as_deref()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("account {account} credited {amount}; balance {}", entry.balance_after);
    Ok(())
}
