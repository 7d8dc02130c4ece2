//! The `search` service of the sample shop; see [`portico_shop::search`].

use clap::Parser;
use portico_shop::config::ServiceArgs;
use portico_shop::lifecycle::{init_logging, run};
use portico_shop::search::Search;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let args = ServiceArgs::parse();
    match run("search", args, Search::new).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("search: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
