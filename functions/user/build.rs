//! Embeds the committed OpenAPI document (`docs/openapi.json`) without its indentation: the
//! same document in about half the bytes of the Lambda binary.

use std::path::Path;

fn main() {
    // The crate being built, read when the script runs: a script binary built for one checkout
    // and reused by another (a shared target directory) still reads its own checkout's file.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let source = Path::new(&manifest_dir).join("../../docs/openapi.json");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source).expect("docs/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("openapi.json");
    std::fs::write(out, serde_json::to_string(&document).expect("serializes")).expect("writing");
}
