//! Local mail: printed to the console and saved as a file under `<data dir>/mail/`.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Mail, MailSender};

pub struct LocalMailer {
    dir: PathBuf,
}

impl LocalMailer {
    pub fn new(data_dir: &std::path::Path) -> Self {
        LocalMailer {
            dir: data_dir.join("mail"),
        }
    }
}

#[async_trait]
impl MailSender for LocalMailer {
    async fn send(&self, from: &str, mail: &Mail) -> anyhow::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let text = format!(
            "From: {from}\nTo: {}\nSubject: {}\n\n{}\n",
            mail.to, mail.subject, mail.text
        );
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.dir.join(format!("{id}.txt"));
        tokio::fs::write(&path, &text).await?;
        println!(
            "\n──── mail ({}) ────\n{text}──── end of mail ────\n",
            path.display()
        );
        Ok(id)
    }
}
