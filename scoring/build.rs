//! Links the system OpenBLAS when present (Debian: `apt-get install libopenblas-dev`), for CPU
//! matrix products 2–3× faster than candle's built-in gemm on this hardware. Without it the crate
//! still builds and runs on candle's gemm. `KINDRED_BLAS=off` forces the fallback.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kindred_openblas)");
    println!("cargo::rerun-if-env-changed=KINDRED_BLAS");
    if std::env::var("KINDRED_BLAS").as_deref() == Ok("off") {
        return;
    }
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ];
    for dir in dirs {
        let lib = Path::new(dir).join("libopenblas.so");
        if lib.exists() {
            println!("cargo::rerun-if-changed={}", lib.display());
            println!("cargo::rustc-link-search=native={dir}");
            println!("cargo::rustc-link-lib=dylib=openblas");
            println!("cargo::rustc-cfg=kindred_openblas");
            return;
        }
    }
    println!(
        "cargo::warning=OpenBLAS not found (apt-get install libopenblas-dev); CPU scoring falls back to candle's slower gemm"
    );
}
