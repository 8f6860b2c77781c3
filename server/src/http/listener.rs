//! The server's listener: every connection goes to hyper (through `axum::serve`), except one whose first
//! request opens the journal's event stream.
//!
//! An event stream stays open as long as a journal page does, and an operator may have thousands; hyper
//! keeps a read buffer and a header buffer of 8 KB each for every HTTP/1 connection
//! (`INIT_BUFFER_SIZE`, not configurable), which is most of what an open stream costs. So a connection
//! whose first bytes are `GET /api/events` is served here: its request head is read and parsed with
//! `httparse` (hyper's own parser), passed through the same router and layers as every other request
//! (session check, security headers, the same handler), and the response is written as it comes. The
//! response ends with the connection (`Connection: close`), so it needs no chunked framing and no
//! buffer of its own. A stream asked for on a connection that already carried another request is
//! served by hyper, with the same handler, as before.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header, response};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// The first bytes of a request that opens an event stream; a space or `?` follows.
const STREAM_REQUEST: &[u8] = b"GET /api/events";

/// How long a new connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request head read here (hyper's own limit is larger, but an event stream's request is a
/// few hundred bytes: a path, a cookie, a few browser headers).
const MAX_HEAD: usize = 16 * 1024;

/// The most header fields in a request head read here.
const MAX_HEADERS: usize = 64;

/// Accepted connections waiting for hyper.
const QUEUE: usize = 1024;

/// Accepts connections, serves event streams itself and hands the rest to `axum::serve`.
pub struct Listener {
    local: SocketAddr,
    for_hyper: mpsc::Receiver<(TcpStream, SocketAddr)>,
    accepting: JoinHandle<()>,
    /// The event streams' own runtime (`None` once dropped).
    streams: Option<Runtime>,
}

impl Listener {
    /// Starts accepting on `tcp`; event streams are answered by `router`.
    pub fn new(tcp: TcpListener, router: Router) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (to_hyper, for_hyper) = mpsc::channel(QUEUE);
        // Half the cores at most: the other half stays free for requests and the modem task. On two
        // cores, two stream threads delivered a burst faster but made top-ups wait (docs/performance.md).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let streams = tokio::runtime::Builder::new_multi_thread()
            .worker_threads((cores / 2).max(1))
            .thread_name("event-streams")
            .enable_all()
            .build()?;
        let accepting = tokio::spawn(accept_forever(tcp, router, to_hyper, streams.handle().clone()));
        Ok(Self { local, for_hyper, accepting, streams: Some(streams) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accepting.abort();
        // Dropped from within the server's runtime, so without waiting (its streams have ended, see
        // `Journal::stop_streams`, or are cut).
        if let Some(streams) = self.streams.take() {
            streams.shutdown_background();
        }
    }
}

impl axum::serve::Listener for Listener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.for_hyper.recv().await {
            Some(connection) => connection,
            // The accepting task ended: only when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_forever(
    tcp: TcpListener,
    router: Router,
    to_hyper: mpsc::Sender<(TcpStream, SocketAddr)>,
    streams: Handle,
) {
    loop {
        match tcp.accept().await {
            Ok((socket, peer)) => {
                tokio::spawn(route(socket, peer, router.clone(), to_hyper.clone(), streams.clone()));
            }
            // The peer gave up before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors or memory: wait rather than spin (as `axum::serve` does).
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Looks at a connection's first bytes (without taking them) and serves it accordingly.
async fn route(
    socket: TcpStream,
    peer: SocketAddr,
    router: Router,
    to_hyper: mpsc::Sender<(TcpStream, SocketAddr)>,
    streams: Handle,
) {
    let mut first = [0u8; STREAM_REQUEST.len() + 1];
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    let opens_stream = loop {
        match tokio::time::timeout_at(deadline, socket.peek(&mut first)).await {
            // A quiet connection (a browser opens some ahead of need): hyper waits for its request.
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => match opens_stream(&first[..n]) {
                Some(decided) => break decided,
                // The request line arrives in pieces: look again in a moment.
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    };
    if opens_stream {
        // To the streams' runtime, so that its many writes never queue before requests and the work
        // they start (the session check, a top-up's commit, the feed's read of what changed).
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => return tracing::debug!(error = %e, %peer, "event stream: connection lost"),
        };
        streams.spawn(async move {
            let served = match TcpStream::from_std(socket) {
                Ok(socket) => serve_stream(socket, peer, router).await,
                Err(e) => Err(e),
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "event stream ended");
            }
        });
    } else {
        // Fails only when the server is shutting down: the connection is then closed.
        let _ = to_hyper.send((socket, peer)).await;
    }
}

/// Whether a connection whose first bytes are `seen` opens an event stream; `None` until enough arrived
/// to tell.
fn opens_stream(seen: &[u8]) -> Option<bool> {
    let common = seen.len().min(STREAM_REQUEST.len());
    if seen[..common] != STREAM_REQUEST[..common] {
        return Some(false);
    }
    seen.get(STREAM_REQUEST.len()).map(|next| matches!(next, b' ' | b'?'))
}

/// Serves one request on `socket` through `router`, writing the response as it comes, then closes.
/// The response ends when its body does (an event stream's when the server stops, see
/// `Journal::stop_streams`) or when the client leaves.
async fn serve_stream(mut socket: TcpStream, peer: SocketAddr, router: Router) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let request = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut socket)).await {
        Err(_) => return Ok(()),
        Ok(Err(Refused::Io(e))) => return Err(e),
        Ok(Err(Refused::Status(status))) => {
            socket.write_all(&refusal(status, SystemTime::now())).await?;
            return socket.shutdown().await;
        }
        Ok(Ok(request)) => request,
    };
    let mut request = request;
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    socket.write_all(&response_head(&parts, SystemTime::now())).await?;
    let mut body = body.into_data_stream();
    // What a client sends after its request is not read; a read only tells that it has gone.
    let mut ignored = [0u8; 64];
    loop {
        tokio::select! {
            data = body.next() => match data {
                Some(Ok(data)) => socket.write_all(&data).await?,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "event stream: the response failed");
                    break;
                }
                None => break,
            },
            readable = socket.readable() => {
                readable?;
                match socket.try_read(&mut ignored) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    socket.shutdown().await
}

/// Why a request head is not served.
enum Refused {
    Io(io::Error),
    /// Answered with this status and closed.
    Status(StatusCode),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused::Io(e)
    }
}

/// Reads a request head (and nothing after it matters: the connection closes after its response).
async fn read_head(socket: &mut TcpStream) -> Result<Request<Body>, Refused> {
    let mut head = Vec::with_capacity(1024);
    loop {
        if socket.read_buf(&mut head).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if let Some(request) = parse_head(&head).map_err(Refused::Status)? {
            return Ok(request);
        }
        if head.len() >= MAX_HEAD {
            return Err(Refused::Status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
    }
}

/// The request in `head`, `None` while it is incomplete, or the status that refuses it. Only a `GET`
/// without a body is served here.
fn parse_head(head: &[u8]) -> Result<Option<Request<Body>>, StatusCode> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    }
    if parsed.method != Some("GET") {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    let uri: Uri = parsed.path.unwrap_or_default().parse().map_err(|_| StatusCode::BAD_REQUEST)?;
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut request = Request::builder().method(Method::GET).uri(uri).version(version);
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| StatusCode::BAD_REQUEST)?;
        let has_body = name == header::TRANSFER_ENCODING
            || (name == header::CONTENT_LENGTH && value.as_bytes().iter().any(|b| *b != b'0'));
        if has_body {
            return Err(StatusCode::BAD_REQUEST);
        }
        request = request.header(name, value);
    }
    request.body(Body::empty()).map(Some).map_err(|_| StatusCode::BAD_REQUEST)
}

/// The status line and header fields of a response that ends with its connection, dated `now` (as hyper
/// dates every other response: RFC 9110 asks it of a server with a clock).
fn response_head(parts: &response::Parts, now: SystemTime) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\ndate: ");
    head.extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        // The framing is this module's: the body ends with the connection.
        if name == header::CONNECTION
            || name == header::TRANSFER_ENCODING
            || name == "keep-alive"
            || name == header::DATE
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

/// A whole answer refusing a request head.
fn refusal(status: StatusCode, now: SystemTime) -> Vec<u8> {
    let reason = status.canonical_reason().unwrap_or("");
    let date = httpdate::fmt_http_date(now);
    format!(
        "HTTP/1.1 {} {reason}\r\ndate: {date}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        status.as_str()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_of_the_event_stream_is_taken() {
        assert_eq!(opens_stream(b"GET /api/events HTTP/1.1\r\n"), Some(true));
        assert_eq!(opens_stream(b"GET /api/events?since=4 HTTP/1.1\r\n"), Some(true));
        assert_eq!(opens_stream(b"GET /api/eventsX HTTP/1.1\r\n"), Some(false));
        assert_eq!(opens_stream(b"GET /api/events/more HTTP/1.1\r\n"), Some(false));
        assert_eq!(opens_stream(b"POST /api/events HTTP/1.1\r\n"), Some(false));
        assert_eq!(opens_stream(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(opens_stream(b"\x16\x03\x01"), Some(false), "a TLS hello");
        // Until the character after the path, it cannot be told.
        assert_eq!(opens_stream(b""), None);
        assert_eq!(opens_stream(b"GET /api/ev"), None);
        assert_eq!(opens_stream(b"GET /api/events"), None);
    }

    #[test]
    fn a_request_head_becomes_the_router_s_request() {
        let head = b"GET /api/events?since=12 HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\nLast-Event-ID: 9\r\n\r\n";
        let request = parse_head(head).unwrap().unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), "/api/events");
        assert_eq!(request.uri().query(), Some("since=12"));
        assert_eq!(request.version(), Version::HTTP_11);
        assert_eq!(request.headers()["cookie"], "a=b");
        assert_eq!(request.headers()["last-event-id"], "9");
        assert!(parse_head(&head[..head.len() - 2]).unwrap().is_none(), "incomplete");
    }

    #[test]
    fn a_head_that_is_not_a_plain_get_is_refused() {
        let refused = |head: &[u8]| parse_head(head).err();
        assert_eq!(
            refused(b"GET /api/events HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(refused(b"GET /api/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), None);
        assert_eq!(
            refused(b"GET /api/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(refused(b"GET http://evil/api/events HTTP/1.1\r\n\r\n"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            refused(b"GET /api/events HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(refused(b"GET /api/events HTTP/2.0\r\n\r\n"), Some(StatusCode::BAD_REQUEST));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET /api/events HTTP/1.1\r\n{many}\r\n");
        assert_eq!(refused(head.as_bytes()), Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
    }

    #[test]
    fn the_response_head_ends_with_the_connection() {
        let response = axum::http::Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("transfer-encoding", "chunked")
            .header("connection", "keep-alive")
            .header("date", "Thu, 01 Jan 1970 00:00:00 GMT")
            .body(())
            .unwrap();
        let (parts, ()) = response.into_parts();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(
            String::from_utf8(response_head(&parts, now)).unwrap(),
            "HTTP/1.1 200 OK\r\ndate: Wed, 18 Nov 2026 11:06:40 GMT\r\ncontent-type: text/event-stream\r\n\
             connection: close\r\n\r\n"
        );
        assert_eq!(
            String::from_utf8(refusal(StatusCode::BAD_REQUEST, now)).unwrap(),
            "HTTP/1.1 400 Bad Request\r\ndate: Wed, 18 Nov 2026 11:06:40 GMT\r\ncontent-length: 0\r\n\
             connection: close\r\n\r\n"
        );
    }
}
