//! The `search` service of the sample shop; see [`portico_shop::search`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portico_shop::lifecycle::main("search", portico_shop::search::Search::new).await
}
