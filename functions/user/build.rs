//! Embeds the committed OpenAPI document (`docs/openapi.json`) without its indentation: the
//! same document in about half the bytes of the Lambda binary.

use std::path::Path;

fn main() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source).expect("docs/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("openapi.json");
    std::fs::write(out, serde_json::to_string(&document).expect("serializes")).expect("writing");
}
