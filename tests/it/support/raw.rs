//! HTTP/1.1 over a raw TCP connection, for requests no well-behaved client would
//! send (megabyte headers, bodies the server refuses early) and for checking what
//! happens to the connection afterwards.
//!
//! The request is written while the response is read, so that a server answering
//! before it has read everything is seen answering, not as a failed write.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(20);

pub struct RawConnection {
    stream: TcpStream,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, lowercased names: `(name, value)`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl RawConnection {
    pub async fn open(addr: SocketAddr) -> RawConnection {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        RawConnection { stream }
    }

    /// Writes bytes without waiting for an answer.
    pub async fn write(&mut self, bytes: &[u8]) {
        tokio::time::timeout(TIMEOUT, self.stream.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// Writes `request` and reads one response. `Err` if the connection fails
    /// before a whole response arrived (a write error after it is ignored).
    pub async fn exchange(&mut self, request: &[u8]) -> std::io::Result<RawResponse> {
        let (mut reader, mut writer) = self.stream.split();
        let write = writer.write_all(request);
        let read = read_response(&mut reader);
        tokio::pin!(write, read);
        let mut written = false;
        let exchange = async {
            loop {
                tokio::select! {
                    result = &mut write, if !written => {
                        written = true;
                        // A refused write is fine if the server answered anyway.
                        let _ = result;
                    }
                    response = &mut read => return response,
                }
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("no response in time")))
    }
}

async fn read_response(reader: &mut tokio::net::tcp::ReadHalf<'_>) -> std::io::Result<RawResponse> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed after {} bytes of response", buf.len()),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside the body",
            ));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A `POST path` request with a JSON body.
pub fn post_json(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: stowage\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

pub const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: stowage\r\n\r\n";
