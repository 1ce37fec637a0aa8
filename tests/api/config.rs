//! The configuration's documentation matches the code: every variable `Config` reads is in
//! `.env.example` and in the README's configuration table.

use std::path::Path;

use buddo_shared::config::Config;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

#[test]
fn every_variable_is_in_the_env_example_and_the_readme() {
    // The names the parsers ask for, recorded as they parse an empty environment.
    let names = Config::variables();
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
