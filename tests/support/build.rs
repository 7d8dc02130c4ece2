//! Generates the gRPC client and server of the test `Echo` service from a
//! description written in Rust (no `protoc` needed); its messages are in
//! `src/grpc.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, client_streaming: bool, server_streaming: bool) -> Method {
    let mut method = Method::builder()
        .name(name)
        .route_name(route)
        .input_type("crate::grpc::EchoRequest")
        .output_type("crate::grpc::EchoReply")
        .codec_path("tonic::codec::ProstCodec");
    if client_streaming {
        method = method.client_streaming();
    }
    if server_streaming {
        method = method.server_streaming();
    }
    method.build()
}

fn main() {
    let echo = Service::builder()
        .name("Echo")
        .package("portico.test")
        .method(method("unary", "Unary", false, false))
        .method(method("server_stream", "ServerStream", false, true))
        .method(method("client_stream", "ClientStream", true, false))
        .build();
    Builder::new().compile(&[echo]);
}
