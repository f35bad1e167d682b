//! A real SMTP listener on loopback that keeps every message it receives.
//! Just enough of RFC 5321 for a client such as lettre: EHLO/HELO, MAIL,
//! RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    /// The raw message: headers, blank line, body.
    pub data: String,
}

impl ReceivedMail {
    /// The subject, with RFC 2047 base64 encoded-words decoded (the space
    /// between two encoded words is not part of the text).
    pub fn subject(&self) -> String {
        use base64::Engine;
        let raw = self.header("Subject").unwrap_or_default();
        let mut out = String::new();
        let mut previous_encoded = false;
        for word in raw.split_whitespace() {
            let lower = word.to_ascii_lowercase();
            let encoded = lower.starts_with("=?utf-8?b?") && lower.ends_with("?=");
            let joined_to_previous = encoded && previous_encoded;
            if !out.is_empty() && !joined_to_previous {
                out.push(' ');
            }
            if encoded {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&word[10..word.len() - 2])
                    .unwrap();
                out.push_str(&String::from_utf8(bytes).unwrap());
            } else {
                out.push_str(word);
            }
            previous_encoded = encoded;
        }
        out
    }

    /// The plain-text part (or the whole body of a single-part mail), with
    /// its transfer encoding undone.
    pub fn body(&self) -> String {
        self.part("text/plain")
            .unwrap_or_else(|| decode_part(&self.data).1)
    }

    /// The HTML part, if the mail has one.
    pub fn html(&self) -> Option<String> {
        self.part("text/html")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.data, name)
    }

    fn part(&self, content_type: &str) -> Option<String> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        let boundary = headers.split("boundary=\"").nth(1)?.split('"').next()?;
        self.data
            .split(&format!("--{boundary}"))
            .skip(1)
            .map(decode_part)
            .find(|(headers, _)| headers.to_ascii_lowercase().contains(content_type))
            .map(|(_, body)| body)
    }

    /// The 8-digit code: the first run of exactly eight digits in the text.
    pub fn code(&self) -> String {
        let body = self.body();
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if run == 8 {
                return chars[i..i + 8].iter().collect();
            }
            i += run.max(1);
        }
        panic!("no code in mail: {body}")
    }

    /// The link token from `…#token=<token>` in the body.
    pub fn link_token(&self) -> String {
        let body = self.body();
        let after = body.split("token=").nth(1).expect("no link in mail");
        after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

fn header_of(block: &str, name: &str) -> Option<String> {
    let headers = block.split("\r\n\r\n").next().unwrap_or_default();
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(": ")?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// A MIME entity's headers and its body with the transfer encoding undone.
fn decode_part(entity: &str) -> (String, String) {
    let entity = entity.trim_start_matches("\r\n");
    let (headers, raw) = entity.split_once("\r\n\r\n").unwrap_or(("", entity));
    let decoded = match header_of(headers, "Content-Transfer-Encoding").as_deref() {
        Some("quoted-printable") => decode_quoted_printable(raw),
        Some("base64") => {
            use base64::Engine;
            let compact: String = raw.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        }
        _ => raw.to_string(),
    };
    (headers.to_string(), decoded.replace("\r\n", "\n"))
}

/// RFC 2045 quoted-printable: soft line breaks and `=XX` escapes.
fn decode_quoted_printable(input: &str) -> String {
    let joined = input.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[derive(Clone)]
pub struct MailSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
    /// How long the sink thinks before accepting a message (a slow server).
    accept_delay: Duration,
}

impl MailSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (0: any free one), e.g. a port the service was told
    /// about while nothing listened there.
    pub async fn start_on(port: u16) -> Self {
        Self::start_slow_on(port, Duration::ZERO).await
    }

    /// As [`MailSink::start_on`], for a server that takes `accept_delay` to
    /// answer the end of each message.
    pub async fn start_slow_on(port: u16, accept_delay: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = Self {
            port,
            messages: Arc::default(),
            arrived: Arc::default(),
            accept_delay,
        };
        let accepting = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = accepting.clone();
                tokio::spawn(async move {
                    let _ = sink.serve(stream).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut to = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                "HELO" | "MAIL" | "RSET" | "NOOP" => {
                    if verb == "RSET" {
                        to.clear();
                    }
                    b"250 OK\r\n"
                }
                "RCPT" => {
                    let address = line
                        .split(['<', '>'])
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    to.push(address);
                    b"250 OK\r\n"
                }
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await?;
                    let mut data = String::new();
                    while let Some(line) = lines.next_line().await? {
                        if line == "." {
                            break;
                        }
                        let line = line.strip_prefix('.').unwrap_or(&line);
                        data.push_str(line);
                        data.push_str("\r\n");
                    }
                    tokio::time::sleep(self.accept_delay).await;
                    self.messages.lock().unwrap().push(ReceivedMail {
                        to: std::mem::take(&mut to),
                        data,
                    });
                    self.arrived.notify_waiters();
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(reply).await?;
        }
        Ok(())
    }

    pub fn all(&self) -> Vec<ReceivedMail> {
        self.messages.lock().unwrap().clone()
    }

    pub fn to(&self, address: &str) -> Vec<ReceivedMail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    /// Waits until `address` has received `count` messages, then returns the
    /// latest one.
    pub async fn wait_for_nth(&self, address: &str, count: usize) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            let received = self.to(address);
            if received.len() >= count {
                return received.last().unwrap().clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "{address} received {} mails, expected {count}",
                    received.len()
                );
            }
        }
    }

    pub async fn wait_for(&self, address: &str) -> ReceivedMail {
        self.wait_for_nth(address, 1).await
    }
}
