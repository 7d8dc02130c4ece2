//! The `cart` service of the sample shop; see [`portico_shop::cart`].

use clap::Parser;
use portico_shop::cart::Carts;
use portico_shop::config::ServiceArgs;
use portico_shop::lifecycle::{init_logging, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let args = ServiceArgs::parse();
    match run("cart", args, Carts::new).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cart: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
