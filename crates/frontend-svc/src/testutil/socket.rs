//! Real sockets: a frontend served by `serve()` on 127.0.0.1:0, and raw HTTP/1.1 over
//! `TcpStream`s, for the failures that need real connections (slow bodies, idle connections).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::FrontendConfig;

/// How long a test waits for anything on a socket before failing: generous, since the machine
/// is shared and nothing here asserts on time.
pub(crate) const SOCKET_PATIENCE: Duration = Duration::from_secs(60);

/// A frontend served by [`crate::serve`] on a real socket until [`Served::stop`].
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<crate::Result<()>>,
}

impl Served {
    /// Serves `config` on 127.0.0.1:0.
    pub(crate) async fn start(config: FrontendConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(config, listener, async {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    /// Stops serving and checks that `serve` returned `Ok`.
    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// One answer as read off a socket.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl RawAnswer {
    /// The `code` of a JSON error body, if the body is one.
    pub(crate) fn error_code(&self) -> Option<String> {
        let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        Some(body["error"]["code"].as_str()?.to_string())
    }
}

/// Reads one HTTP/1.1 answer off `stream` (its body by `Content-Length`), or `None` if the
/// server closed the connection first.
pub(crate) async fn read_answer(stream: &mut TcpStream) -> Option<RawAnswer> {
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = bytes[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(RawAnswer { status, head, body })
}

/// Sends `request` (raw bytes) on a fresh connection and reads the answer.
pub(crate) async fn exchange(addr: SocketAddr, request: &[u8]) -> Option<RawAnswer> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    // A server that refuses early may close before taking it all; its answer is still there.
    let _ = stream.write_all(request).await;
    tokio::time::timeout(SOCKET_PATIENCE, read_answer(&mut stream))
        .await
        .expect("an answer within the patience")
}

/// `GET path` on a fresh connection.
pub(crate) async fn get_fresh(addr: SocketAddr, path: &str) -> Option<RawAnswer> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: pygmy\r\n\r\n");
    exchange(addr, request.as_bytes()).await
}

/// Waits until the server has closed `stream` (a read gives end of file or an error); fails
/// the test if it is still open after [`SOCKET_PATIENCE`] or sends something instead.
pub(crate) async fn closed_by_server(stream: &mut TcpStream) {
    let mut byte = [0_u8; 1];
    let read = tokio::time::timeout(SOCKET_PATIENCE, stream.read(&mut byte)).await;
    match read.expect("the server closes the connection within the patience") {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("the server answered instead of closing"),
    }
}

/// Raises this process's soft open-file limit to the hard one (tests open thousands of
/// sockets, two descriptors each).
pub(crate) fn raise_descriptor_limit() {
    crate::connections::raise_descriptor_limit();
}
