//! The `products` service of the sample shop; see [`portico_shop::products`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_shop::lifecycle::main("products", portico_shop::products::Products::new).await
}
