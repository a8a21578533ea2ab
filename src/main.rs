//! The `parley` binary: parse the command line, set up logs, run the command.

use std::process::ExitCode;

use clap::Parser;
use parley::config::{AccountsCommand, ChannelsCommand, Cli, Command, CreditCommand, KeysCommand};
use parley::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    telemetry::init_logs(args.config.log_format);
    let outcome = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve(args.config).await,
        Command::Migrate => cli::migrate(args.config).await,
        Command::Accounts(AccountsCommand::Create { name }) => cli::create_account(args.config, &name).await,
        Command::Keys(command) => match command {
            KeysCommand::Create { account, name } => cli::create_key(args.config, account, &name).await,
            KeysCommand::List { account } => cli::list_keys(args.config, account).await,
            KeysCommand::Revoke { account, id } => cli::revoke_key(args.config, account, id).await,
        },
        Command::Channels(command) => match command {
            ChannelsCommand::Add { account, kind, name, address, simulation } => {
                cli::add_channel(args.config, account, kind, name, address, simulation).await
            }
            ChannelsCommand::List { account } => cli::list_channels(args.config, account).await,
        },
        Command::Credit(CreditCommand::TopUp { account, amount, reason }) => {
            cli::top_up_credit(args.config, account, amount, reason).await
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
