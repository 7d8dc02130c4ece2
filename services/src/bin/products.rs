//! The `products` service of the sample shop; see [`portico_shop::products`].

use clap::Parser;
use portico_shop::config::ServiceArgs;
use portico_shop::lifecycle::{init_logging, run};
use portico_shop::products::Products;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let args = ServiceArgs::parse();
    match run("products", args, Products::new).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("products: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
