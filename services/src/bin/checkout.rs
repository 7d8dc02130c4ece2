//! The `checkout` service of the sample shop; see [`portico_shop::checkout`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_shop::lifecycle::main("checkout", portico_shop::checkout::Checkout::new).await
}
