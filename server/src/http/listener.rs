//! The server's listener: accepts connections, bounds what each may hold, and serves them — with hyper,
//! except one whose first request opens the journal's event stream.
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
//!
//! What an anonymous client can hold is bounded ([`Limits`]): the number of open connections (from the
//! process's file-descriptor limit, so that the database and the modem always find one), a deadline for
//! every request head (the first bytes, the rest of the head, and on a kept-alive connection the wait
//! for the next request, which is hyper's header-read timeout), and an idle limit on every connection:
//! nothing read or written for that long and it is closed. A peer that closes is let go at once: the
//! first bytes are read, not peeked (a peek sees the same byte again and again and never the close), and
//! handed on to whoever serves the connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header, response};
use futures::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// The first bytes of a request that opens an event stream; a space or `?` follows.
const STREAM_REQUEST: &[u8] = b"GET /api/events";

/// The largest request head read here (hyper's own limit is larger, but an event stream's request is a
/// few hundred bytes: a path, a cookie, a few browser headers).
const MAX_HEAD: usize = 16 * 1024;

/// The most header fields in a request head read here.
const MAX_HEADERS: usize = 64;

/// File descriptors kept for everything but client connections: the database's, the modem's, logs.
const RESERVED_FDS: u64 = 256;

/// What one connection may hold, and how many there may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From accepting a connection (or the end of its last response) to the end of its next request's
    /// head.
    pub head: Duration,
    /// Nothing read or written for this long, and the connection is closed. Event streams send a
    /// `ping` every 20 seconds, so an open journal is never idle this long.
    pub idle: Duration,
    /// Open client connections at most; one more is closed as soon as it is accepted.
    pub connections: usize,
}

impl Limits {
    /// Ten seconds for a head, a minute of silence, and as many connections as the file-descriptor limit
    /// allows after raising it to its hard maximum (less those kept for the rest).
    pub fn from_system() -> Self {
        let fds = raise_fd_limit();
        let connections = usize::try_from(fds.saturating_sub(RESERVED_FDS).max(64)).unwrap_or(usize::MAX);
        Self { head: Duration::from_secs(10), idle: Duration::from_secs(60), connections }
    }
}

/// Raises the soft limit on open files to the hard one, and returns it.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// Serves `router` on `tcp` until `shutdown` completes, then stops accepting and waits for the
/// connections hyper serves to finish their requests. Event streams run on a runtime of their own, and
/// end when the server stops (`Journal::stop_streams`, which `shutdown` sets) or are cut.
pub async fn serve(
    tcp: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Half the cores at most: the other half stays free for requests and the modem task. On two
    // cores, two stream threads delivered a burst faster but made top-ups wait (docs/performance.md).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads((cores / 2).max(1))
        .thread_name("event-streams")
        .enable_all()
        .build()?;
    let streams = runtime.handle().clone();
    let open = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    // Set when the server stops: a connection that has not sent its first bytes yet is closed then, and
    // does not hold the shutdown for its head deadline.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let mut full_since: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                // The peer gave up before we took it: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors or memory: wait rather than spin (as `axum::serve` does).
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Closed at once, so that the file descriptor is free again; said once per episode.
            if full_since.is_none() {
                tracing::warn!(limit = limits.connections, %peer, "too many open connections: refusing new ones");
            }
            full_since = Some(Instant::now());
            drop(socket);
            continue;
        };
        if let Some(since) = full_since.take() {
            tracing::info!(after = ?since.elapsed(), "accepting connections again");
        }
        let connection = Connection { peer, limits, _permit: permit };
        let stopped = stopped.clone();
        tokio::spawn(connection.route(socket, router.clone(), streams.clone(), graceful.watcher(), stopped));
    }
    drop(tcp);
    stopping.send_replace(true);
    // Kept-alive connections close after their current request; a client that never finishes reading
    // its response is cut by the idle limit.
    graceful.shutdown().await;
    // Within the server's runtime, so without waiting.
    runtime.shutdown_background();
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection and the slot it holds.
struct Connection {
    peer: SocketAddr,
    limits: Limits,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Reads the connection's first bytes and serves it accordingly.
    async fn route(
        self,
        mut socket: TcpStream,
        router: Router,
        streams: Handle,
        graceful: hyper_util::server::graceful::Watcher,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        let _ = socket.set_nodelay(true);
        let deadline = Instant::now() + self.limits.head;
        let first = tokio::select! {
            first = first_bytes(&mut socket, deadline) => first,
            // The server stops before the client said anything: nothing was asked, nothing is cut.
            _ = stopped.wait_for(|stopped| *stopped) => None,
        };
        let Some((seen, opens_stream)) = first else {
            // Closed, failed, or said too little in time: nothing to serve.
            return;
        };
        if opens_stream {
            // To the streams' runtime, so that its many writes never queue before requests and the work
            // they start (the session check, a top-up's commit, the feed's read of what changed).
            let socket = match socket.into_std() {
                Ok(socket) => socket,
                Err(e) => {
                    return tracing::debug!(error = %e, peer = %self.peer, "event stream: connection lost");
                }
            };
            streams.spawn(async move {
                let peer = self.peer;
                let served = match TcpStream::from_std(socket) {
                    Ok(socket) => self.serve_stream(socket, seen, deadline, router).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = served {
                    tracing::debug!(error = %e, %peer, "event stream ended");
                }
            });
        } else {
            self.serve_hyper(socket, seen, router, graceful).await;
        }
    }

    /// Serves the connection with hyper, its first bytes `seen` given back in front of the rest.
    async fn serve_hyper(
        self,
        socket: TcpStream,
        seen: Vec<u8>,
        router: Router,
        graceful: hyper_util::server::graceful::Watcher,
    ) {
        let activity = Arc::new(Activity::new());
        let io = Tracked { prefix: seen, at: 0, inner: socket, activity: activity.clone() };
        let peer = self.peer;
        let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(self.limits.head);
        let served = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::select! {
            result = served => if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended");
            },
            () = activity.idle_for(self.limits.idle) => {
                tracing::debug!(%peer, "closed an idle connection");
            }
        }
    }

    /// Serves one request on `socket` (whose first bytes are `seen`) through `router`, writing the
    /// response as it comes, then closes. The response ends when its body does (an event stream's when
    /// the server stops, see `Journal::stop_streams`) or when the client leaves or stops reading.
    async fn serve_stream(
        self,
        mut socket: TcpStream,
        seen: Vec<u8>,
        deadline: Instant,
        router: Router,
    ) -> io::Result<()> {
        let idle = self.limits.idle;
        let request = match tokio::time::timeout_at(deadline, read_head(&mut socket, seen)).await {
            Err(_) => return Ok(()),
            Ok(Err(Refused::Io(e))) => return Err(e),
            Ok(Err(Refused::Status(status))) => {
                write_within(&mut socket, &refusal(status, SystemTime::now()), idle).await?;
                return socket.shutdown().await;
            }
            Ok(Ok(request)) => request,
        };
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        write_within(&mut socket, &response_head(&parts, SystemTime::now()), idle).await?;
        let mut body = body.into_data_stream();
        // What a client sends after its request is not read; a read only tells that it has gone.
        let mut ignored = [0u8; 64];
        loop {
            tokio::select! {
                data = body.next() => match data {
                    Some(Ok(data)) => write_within(&mut socket, &data, idle).await?,
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
}

/// Writes all of `data`, or fails when the client has not taken any of it for `idle`.
async fn write_within(socket: &mut TcpStream, mut data: &[u8], idle: Duration) -> io::Result<()> {
    while !data.is_empty() {
        match tokio::time::timeout(idle, socket.write(data)).await {
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")),
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until it can tell whether the connection opens an event stream: the bytes read and the
/// answer, or `None` if the peer closed, failed or did not say enough before `deadline`.
async fn first_bytes(socket: &mut TcpStream, deadline: Instant) -> Option<(Vec<u8>, bool)> {
    let mut seen = Vec::with_capacity(256);
    loop {
        // At most what is left of the buffer: undecided means fewer than `STREAM_REQUEST` + 1 bytes.
        match tokio::time::timeout_at(deadline, socket.read_buf(&mut seen)).await {
            Err(_) | Ok(Err(_)) | Ok(Ok(0)) => return None,
            Ok(Ok(_)) => {}
        }
        if let Some(decided) = opens_stream(&seen) {
            return Some((seen, decided));
        }
    }
}

/// When a connection last moved a byte, for its idle limit.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), last: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Completes once nothing has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let until = last + limit;
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// A connection that first gives back the bytes already read from it, and notes every byte it moves.
struct Tracked {
    prefix: Vec<u8>,
    at: usize,
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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

/// Reads a request head that starts with `seen` (and nothing after it matters: the connection closes
/// after its response).
async fn read_head(socket: &mut TcpStream, seen: Vec<u8>) -> Result<Request<Body>, Refused> {
    let mut head = seen;
    head.reserve(1024);
    loop {
        if let Some(request) = parse_head(&head).map_err(Refused::Status)? {
            return Ok(request);
        }
        if head.len() >= MAX_HEAD {
            return Err(Refused::Status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        if socket.read_buf(&mut head).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
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
