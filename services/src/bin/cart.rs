//! The `cart` service of the sample shop; see [`portico_shop::cart`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_shop::lifecycle::main("cart", portico_shop::cart::Carts::new).await
}
