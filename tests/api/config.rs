//! The configuration's documentation matches the code: every variable `Config` reads is in
//! `.env.example` and in the README's configuration table.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

/// The names `shared/src/config.rs` reads with its `env.*("NAME", …)` calls.
fn variables_read() -> Vec<String> {
    let source = read("shared/src/config.rs");
    let mut names = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find("env.") {
        rest = &rest[at + 4..];
        let Some(open) = rest.find('(') else { break };
        let call = &rest[..open];
        if !call.chars().all(|c| {
            c.is_ascii_lowercase()
                || c == '_'
                || c == ':'
                || c == '<'
                || c == '>'
                || c.is_ascii_digit()
        }) {
            continue;
        }
        let args = rest[open + 1..].trim_start();
        if let Some(quoted) = args.strip_prefix('"') {
            let name: String = quoted.chars().take_while(|c| *c != '"').collect();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_variable_is_in_the_env_example_and_the_readme() {
    let names = variables_read();
    assert!(names.len() > 40, "found only {names:?}");
    let example = read(".env.example");
    let readme = read("README.md");
    for name in &names {
        assert!(
            example.contains(&format!("# {name}=")),
            ".env.example lacks {name}"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "the README's configuration table lacks {name}"
        );
    }
}
