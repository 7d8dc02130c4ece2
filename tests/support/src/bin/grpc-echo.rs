//! The test `Echo` gRPC service as a process, for the gRPC benchmark:
//! `grpc-echo ID ADDRESS` serves h2c on ADDRESS until killed.

use portico_testkit::grpc::GrpcInstance;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(id), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: grpc-echo ID ADDRESS");
        std::process::exit(2);
    };
    let _instance = GrpcInstance::start_at(&id, &addr).await;
    println!("grpc-echo {id} serving on {addr}");
    std::future::pending::<()>().await;
}
