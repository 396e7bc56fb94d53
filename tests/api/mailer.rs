//! A real mail server for a test: Debian's aiosmtpd on a free loopback port, storing what it
//! accepts in a Maildir and refusing the recipients a rules file names (`tests/mail/
//! rulemailbox.py`: `{"bob@example.com": 451, "eve@example.com": "550 5.1.1 No such user"}`,
//! re-read on every `RCPT TO`). `scripts/test` installs it (python3-aiosmtpd) and names the
//! Python that has it in `FLOODGATE_TEST_PYTHON` (default `/usr/bin/python3`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use uuid::Uuid;

/// One test's mail server.
pub struct MailServer {
    child: Option<Child>,
    pub port: u16,
    /// The Maildir it stores accepted mail in.
    pub maildir: PathBuf,
    rules: PathBuf,
}

/// A mail as the server stored it.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The envelope (`MAIL FROM`, `RCPT TO`), as the handler recorded them.
    pub mail_from: String,
    pub rcpt_to: String,
    /// Headers of the message, unfolded.
    pub headers: Vec<(String, String)>,
    /// The decoded text and HTML parts.
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first header of this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers of this name the message has.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The order link in the text part (`…/orders/{id}?k=…`).
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.contains("/orders/") && w.contains("?k="))
            .unwrap_or_else(|| panic!("no order link in {}", self.text))
            .to_string()
    }

    /// The order the link names.
    pub fn order_id(&self) -> String {
        let link = self.link();
        let after = link.split("/orders/").nth(1).unwrap();
        after.split('?').next().unwrap().to_string()
    }
}

fn python() -> String {
    std::env::var("FLOODGATE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl MailServer {
    /// A server on a free port, accepting everyone (until rules say otherwise).
    pub fn start() -> MailServer {
        let dir = std::env::temp_dir().join(format!("floodgate-mail-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = MailServer {
            child: None,
            port: free_port(),
            maildir: dir.join("maildir"),
            rules: dir.join("rules.json"),
        };
        server.set_rules(&serde_json::json!({}));
        server.resume();
        server
    }

    /// A server's address that nothing answers yet: start it later with [`Self::resume`].
    pub fn stopped() -> MailServer {
        let mut server = Self::start();
        server.stop();
        server
    }

    /// `SMTP_URL` for the app.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the mail server runs already");
        let handler = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail");
        let started = Instant::now();
        loop {
            let child = Command::new(python())
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{}", self.port))
                .args(["-c", "rulemailbox.RuleMailbox"])
                .arg(&self.maildir)
                .arg(&self.rules)
                .env("PYTHONPATH", handler)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "starting aiosmtpd with {}: {e} (scripts/test installs python3-aiosmtpd)",
                        python()
                    )
                });
            self.child = Some(child);
            while started.elapsed() < Duration::from_secs(15) {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    // The port may linger a moment after a stop: try again.
                    self.child = None;
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "aiosmtpd exited with {status} (is python3-aiosmtpd installed for {}?)",
                        python()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.child.is_some() {
                panic!("aiosmtpd did not listen on {} in time", self.port);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server at once (connections refused from now on).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Replaces the recipient rules (read again on every `RCPT TO`).
    pub fn set_rules(&self, rules: &Value) {
        let partial = self.rules.with_extension("partial");
        std::fs::write(&partial, rules.to_string()).unwrap();
        std::fs::rename(partial, &self.rules).unwrap();
    }

    /// Every mail stored so far.
    pub fn mails(&self) -> Vec<Mail> {
        let mut mails = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries {
                let raw = std::fs::read(entry.unwrap().path()).unwrap();
                mails.push(parse(&String::from_utf8_lossy(&raw)));
            }
        }
        mails
    }

    /// Waits until at least `n` mails are stored (panics after `within`); returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let started = Instant::now();
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                started.elapsed() < within,
                "{} of {n} mails arrived within {within:?}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.maildir.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Splits a header block into unfolded `(name, value)` pairs.
fn header_lines(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// The value of the first header of this name (any case), or empty.
fn header_value(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Splits a message at its first blank line.
fn split(message: &str) -> (&str, &str) {
    message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .unwrap_or((message, ""))
}

/// Decodes a part's body by its transfer encoding.
fn decode(encoding: &str, body: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        }
        "quoted-printable" => {
            let soft = body.replace("=\r\n", "").replace("=\n", "");
            let bytes = soft.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_string(),
    }
}

/// Reads a stored mail: the handler's envelope lines, the headers, and the text and HTML
/// parts of a `multipart/alternative` body.
fn parse(raw: &str) -> Mail {
    let (head, body) = split(raw);
    let headers = header_lines(head);
    let value = |name: &str| header_value(&headers, name);
    let content_type = value("Content-Type");
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("not a multipart mail: {raw}"));
    let (mut text, mut html) = (String::new(), String::new());
    for part in body.split(&format!("--{boundary}")).skip(1) {
        let (part_head, part_body) = split(part.trim_start_matches(['\r', '\n']));
        let part_headers = header_lines(part_head);
        let of = |name: &str| header_value(&part_headers, name);
        let decoded = decode(&of("Content-Transfer-Encoding"), part_body);
        let kind = of("Content-Type");
        if kind.starts_with("text/plain") {
            text = decoded;
        } else if kind.starts_with("text/html") {
            html = decoded;
        }
    }
    Mail {
        mail_from: value("X-MailFrom"),
        rcpt_to: value("X-RcptTo"),
        headers,
        text,
        html,
    }
}
