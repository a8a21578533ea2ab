//! The `parley` binary: parse the command line, set up logs, run the command.

use std::process::ExitCode;

use clap::Parser;
use parley::config::{AccountsCommand, ChannelsCommand, Cli, Command, CreditCommand, KeysCommand};
use parley::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    let command = args.command.unwrap_or_else(|| Command::Serve(Box::new(args.config)));
    telemetry::init_logs(command.store().log_format);
    let outcome = match command {
        Command::Serve(config) => cli::serve(*config).await,
        Command::Migrate(store) => cli::migrate(store).await,
        Command::Accounts(AccountsCommand::Create { store, name }) => cli::create_account(store, &name).await,
        Command::Keys(command) => match command {
            KeysCommand::Create { store, account, name } => cli::create_key(store, account, &name).await,
            KeysCommand::List { store, account } => cli::list_keys(store, account).await,
            KeysCommand::Revoke { store, account, id } => cli::revoke_key(store, account, id).await,
        },
        Command::Channels(command) => match command {
            ChannelsCommand::Add { store, account, kind, name, address, simulation } => {
                cli::add_channel(store, account, kind, name, address, simulation).await
            }
            ChannelsCommand::List { store, account } => cli::list_channels(store, account).await,
        },
        Command::Credit(CreditCommand::TopUp { store, account, amount, reason }) => {
            cli::top_up_credit(store, account, amount, reason).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
