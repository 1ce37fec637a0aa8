//! The domain's contexts keep the layers docs/architecture.md lists ("The domain's contexts"):
//! a file of one context imports only contexts on layers below its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Context → layer (1 at the bottom), from the numbered list of the architecture document.
fn documented_layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let section = doc
        .split("### The domain's contexts")
        .nth(1)
        .expect("docs/architecture.md has a section \"The domain's contexts\"")
        .split("\n#")
        .next()
        .unwrap();
    let mut layers = BTreeMap::new();
    for line in section.lines() {
        let Some((number, rest)) = line.split_once(". `") else {
            continue;
        };
        let Ok(layer) = number.parse::<usize>() else {
            continue;
        };
        // "`ads`, `app_sessions` — …": every name before the dash is on this layer.
        let names = rest.split(" — ").next().unwrap();
        for name in names.split(", ") {
            layers.insert(name.trim_matches('`').to_string(), layer);
        }
    }
    assert!(!layers.is_empty(), "no layer list in docs/architecture.md");
    layers
}

/// Every domain file but `mod.rs` at the top, with the context it belongs to.
fn domain_files() -> Vec<(String, PathBuf)> {
    let root = repo().join("shared/src/domain");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                files.push((name.clone(), inner.unwrap().path()));
            }
        } else if name != "mod" {
            files.push((name, path));
        }
    }
    files
}

/// The contexts a file names: `crate::domain::x`, `crate::domain::{x, y::…}`, and from a
/// file at the top of the domain `super::x`.
fn contexts_named(source: &str, top_level: bool) -> Vec<String> {
    let mut named = Vec::new();
    let mut prefixes = vec!["crate::domain::"];
    if top_level {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (at, _) in source.match_indices(prefix) {
            let rest = &source[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Names at the first level of the braces.
                let mut depth = 0;
                let mut start = true;
                let mut name = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                            name.push(c)
                        }
                        _ if start && !name.is_empty() => {
                            named.push(std::mem::take(&mut name));
                            start = false;
                        }
                        _ => {}
                    }
                }
                if !name.is_empty() {
                    named.push(name);
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                named.push(name);
            }
        }
    }
    named
}

#[test]
fn domain_contexts_import_only_the_layers_below() {
    let layers = documented_layers();
    let mut wrong = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (context, path) in domain_files() {
        let Some(&own) = layers.get(&context) else {
            wrong.push(format!(
                "{}: context `{context}` is not in the layer list of docs/architecture.md",
                path.display()
            ));
            continue;
        };
        seen.insert(context.clone());
        let source = std::fs::read_to_string(&path).unwrap();
        let top_level = path.parent().unwrap().ends_with("domain");
        for named in contexts_named(&source, top_level) {
            // Names that are not contexts: items of domain/mod.rs (`RequestMeta`).
            let Some(&theirs) = layers.get(&named) else {
                continue;
            };
            if named != context && theirs >= own {
                wrong.push(format!(
                    "{} (`{context}`, layer {own}) imports `{named}` (layer {theirs})",
                    path.display()
                ));
            }
        }
    }
    for context in layers.keys() {
        if !seen.contains(context) {
            wrong.push(format!(
                "docs/architecture.md lists `{context}`, which shared/src/domain does not have"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_import_reader_sees_grouped_and_relative_imports() {
    let source =
        "use crate::domain::{ledger::{self, EntryKind}, oauth};\nuse super::ads::Campaign;";
    assert_eq!(contexts_named(source, true), ["ledger", "oauth", "ads"]);
    assert_eq!(contexts_named(source, false), ["ledger", "oauth"]);
}
