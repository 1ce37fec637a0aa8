//! The README's walk-throughs ("Try it", the account, OAuth and points for operator-app
//! developers), run as a reader runs them: every ```sh block after a `<!-- walkthrough -->`
//! line, in order, in one bash, against the real `buddo` server in a fresh directory, on
//! both backends. What the reader does outside that shell — the server's own shell, the mail,
//! the authenticator — is `readme.sh`, put before the blocks: `cargo run` starts or restarts
//! the server, and the placeholders `MAIL_TOKEN='<…>'` and `TOTP='<…>'` become the mailed
//! code and a fresh TOTP code. The blocks say `localhost:3000`; the test gives another port.
//! Every request must succeed, and every answer a block shows as `# → {…}` (with `…` for
//! what varies) must appear in the output, in order.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{dynamodb_endpoint, Backend};

const README: &str = include_str!("../../README.md");
const PRELUDE: &str = include_str!("readme.sh");
const MARKER: &str = "<!-- walkthrough -->";
const BIN: &str = env!("CARGO_BIN_EXE_buddo");
/// The walk-throughs take 10 to 25 seconds (more on a loaded machine); waiting for a TOTP
/// step can add five. Past this, something hangs.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// The README's walk-through blocks as one script.
struct Walkthrough {
    script: String,
    /// The `## ` sections that have walk-through blocks.
    sections: Vec<String>,
    /// The answers the blocks show (`# → {…}`), in order.
    answers: Vec<String>,
    mail_tokens: usize,
    totp_codes: usize,
}

fn walkthrough(readme: &str, port: u16) -> Walkthrough {
    let mut walk = Walkthrough {
        script: PRELUDE.to_string(),
        sections: Vec::new(),
        answers: Vec::new(),
        mail_tokens: 0,
        totp_codes: 0,
    };
    let mut section = "";
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading;
        }
        if line.trim() != MARKER {
            continue;
        }
        assert_eq!(
            lines.next(),
            Some("```sh"),
            "{MARKER} in \"{section}\" must come right before a ```sh block"
        );
        if walk.sections.last().map(String::as_str) != Some(section) {
            walk.sections.push(section.to_string());
        }
        walk.script.push_str(&format!("\n# README: {section}\n"));
        for line in lines.by_ref().take_while(|l| *l != "```") {
            let line = line.replace("localhost:3000", &format!("127.0.0.1:{port}"));
            let line = match placeholder(&line) {
                Some(("MAIL_TOKEN", rest)) => {
                    walk.mail_tokens += 1;
                    format!("MAIL_TOKEN=$(readme_mail_token){rest}")
                }
                Some(("TOTP", rest)) => {
                    walk.totp_codes += 1;
                    format!("TOTP=$(readme_totp_code){rest}")
                }
                Some((name, _)) => panic!("no value for the placeholder {name} in \"{section}\""),
                None => line,
            };
            if let Some(answer) = shown_answer(&line) {
                walk.answers.push(answer.to_string());
            }
            walk.script.push_str(&line);
            walk.script.push('\n');
        }
    }
    walk
}

/// `NAME='<what the reader puts here>' …` → `(NAME, " …")`.
fn placeholder(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once("='<")?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return None;
    }
    let (_, rest) = rest.split_once(">'")?;
    Some((name, rest))
}

/// The JSON after `# → ` (an object or array, `…` for what varies; prose after it is not
/// part of it).
fn shown_answer(line: &str) -> Option<&str> {
    let (_, shown) = line.split_once("# → ")?;
    if !shown.starts_with(['{', '[']) {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in shown.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(&shown[..=i]);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced answer in the README: {line}");
}

/// Where each answer's parts (split at `…`) appear in `output`, in order; the first answer
/// missing is the error.
fn find_answers(output: &str, answers: &[String]) -> Result<(), String> {
    let mut from = 0;
    for answer in answers {
        for part in answer.split('…').filter(|p| !p.is_empty()) {
            match output[from..].find(part) {
                Some(at) => from += at + part.len(),
                None => return Err(format!("{answer} (its part {part:?})")),
            }
        }
    }
    Ok(())
}

/// The bash process group: the walk-through and the server it started. Killed when dropped,
/// so a failing or hung walk-through leaves no server behind.
struct ProcessGroup(std::process::Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn run_walkthroughs(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("buddo-readme-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let walk = walkthrough(README, port);
    for section in [
        "Try it",
        "OAuth for operator-app developers",
        "Points, for operator-app developers",
    ] {
        assert!(
            walk.sections.iter().any(|s| s == section),
            "no walk-through block in \"{section}\": {:?}",
            walk.sections
        );
    }
    assert!(walk.mail_tokens >= 1 && walk.totp_codes >= 1);
    assert!(walk.answers.len() >= 3, "{:?}", walk.answers);
    std::fs::write(dir.join("walkthrough.sh"), &walk.script).unwrap();

    let mut cmd = Command::new("bash");
    cmd.arg("walkthrough.sh")
        .current_dir(&dir)
        .env_remove("BUDDO_STORE")
        .env_remove("BUDDO_DATA_DIR")
        .env_remove("TABLE_NAME")
        .env("README_BIN", BIN)
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    match backend {
        Backend::Embedded => cmd.env("README_STORE_ARGS", ""),
        Backend::Dynamo => cmd
            .env("README_STORE_ARGS", "--dynamodb")
            .env(
                "TABLE_NAME",
                format!("readme-{}", uuid::Uuid::new_v4().simple()),
            )
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1"),
    };
    let mut group = ProcessGroup(cmd.spawn().expect("bash"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(group);

    let report = || {
        format!(
            "script: {}\n--- output (end) ---\n{}\n--- errors (end) ---\n{}\n--- server log (end) ---\n{}",
            dir.join("walkthrough.sh").display(),
            tail(&dir.join("stdout")),
            tail(&dir.join("stderr")),
            tail(&dir.join("server.log")),
        )
    };
    match status {
        None => panic!("the walk-throughs took over {TIME_LIMIT:?}\n{}", report()),
        Some(s) if !s.success() => panic!("a walk-through command failed ({s})\n{}", report()),
        Some(_) => {}
    }
    let output = std::fs::read_to_string(dir.join("stdout")).unwrap();
    if let Err(missing) = find_answers(&output, &walk.answers) {
        panic!(
            "the README shows an answer the server did not give: {missing}\n{}",
            report()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

crate::backend_tests! {
    async fn the_walkthroughs_run_as_written(backend) {
        run_walkthroughs(backend).await;
    }
}

#[test]
fn placeholders_and_answers_are_read_as_meant() {
    assert_eq!(
        placeholder("TOTP='<the code your authenticator shows>'   # six digits"),
        Some(("TOTP", "   # six digits"))
    );
    assert_eq!(placeholder("CODE=$(echo \"$A\" | json code)"), None);
    assert_eq!(
        shown_answer(r#"curl …   # → {"points":570}: 450, and 20 {for} each"#),
        Some(r#"{"points":570}"#)
    );
    assert_eq!(shown_answer("# → the same answer"), None);
    let answers = vec![r#"{"code":"bac_…","state":"xyz"}"#.to_string()];
    assert!(find_answers(r#"{"code":"bac_1","state":"xyz"}"#, &answers).is_ok());
    assert!(find_answers(r#"{"code":"bac_1","state":"abc"}"#, &answers).is_err());
}
