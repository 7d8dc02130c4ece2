//! The `checkout` service of the sample shop; see [`portico_shop::checkout`].

use clap::Parser;
use portico_shop::checkout::Checkout;
use portico_shop::config::ServiceArgs;
use portico_shop::lifecycle::{init_logging, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let args = ServiceArgs::parse();
    match run("checkout", args, Checkout::new).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("checkout: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
