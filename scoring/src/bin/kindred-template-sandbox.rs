//! Standalone chat-template sandbox child (see `kindred_scoring::template::Sandbox`).

fn main() {
    std::process::exit(kindred_scoring::template::serve_sandbox());
}
