//! Faults on the wire: [`MockBody`], the response body type of the whole service, and
//! [`respond`], which turns a rendered response plus an optional fault and body delay into
//! what hyper sends.
//!
//! hyper writes the status line and headers as soon as the body first returns `Pending`, so
//! faults that must show the headers before failing insert a `Flush` (one `Pending` with an
//! immediate wake-up). A body that returns an error makes hyper drop the connection without
//! finishing the message: that is how "close after headers", "truncate" and "lie long" cut
//! the connection. "reset" and "hang" never produce a response; the service returns
//! [`Abort`], its only error, and hyper closes the connection (with an RST for "reset" only).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::{Response, StatusCode};
use tokio::time::Sleep;

use super::Fault;
use crate::protocol::response::Rendered;

/// The service's only error: the connection is dropped without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// The `reset` fault: the connection ends with a TCP RST.
    Reset,
    /// The `hang` fault: the server gives up and closes the connection in order (FIN), so the
    /// client sees an end of stream rather than the reset another fault stands for.
    Close,
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Abort::Reset => "connection reset by a scenario fault",
            Abort::Close => "connection closed by a scenario fault",
        })
    }
}

impl std::error::Error for Abort {}

/// A body that ends the connection mid-message on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyAbort;

impl fmt::Display for BodyAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response body cut by a scenario fault")
    }
}

impl std::error::Error for BodyAbort {}

/// Whether `fault` works on the real response's bytes (so the real action must run).
pub fn shapes_body(fault: &Fault) -> bool {
    matches!(
        fault,
        Fault::CloseAfterHeaders
            | Fault::Truncate { .. }
            | Fault::ContentLengthShort
            | Fault::ContentLengthLong
            | Fault::Drip { .. }
    )
}

#[derive(Debug)]
enum Part {
    Data(Bytes),
    Wait(Duration),
    /// `rest` sent `step` bytes at a time, `interval` apart: cut as it is sent, since a
    /// script of every piece made up front held an entry per piece (a one-byte drip of a
    /// 1 MiB body, millions) for the whole drip. Each piece is due `interval` after the
    /// previous one was due (`due`), not after it was sent: a timer fires up to a
    /// millisecond late, and sleeping `interval` from each late wake-up added that to every
    /// interval (a 1 ms drip ran at half speed).
    Drip {
        rest: Bytes,
        step: usize,
        interval: Duration,
        due: Option<tokio::time::Instant>,
    },
    /// Return `Pending` once so hyper flushes what it has buffered.
    Flush,
    Fail,
}

/// The response body: a plain buffer, or a script of data, waits and a failure.
#[derive(Debug)]
pub struct MockBody {
    /// A plain body, kept apart from `parts` so that the answer to nearly every request
    /// needs no queue allocated: its own bytes, then any part shared with a cache
    /// ([`Rendered::tail`]).
    plain: [Option<Bytes>; 2],
    parts: VecDeque<Part>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Known length (plain bodies); scripted bodies set Content-Length themselves.
    exact: Option<u64>,
}

impl MockBody {
    /// A complete body; hyper sets Content-Length.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::chain(bytes.into(), Bytes::new())
    }

    /// `head` then `tail`, each its own frame: hyper copies both into its write buffer,
    /// so `tail` is sent without first being copied after `head`.
    fn chain(head: Bytes, tail: Bytes) -> Self {
        Self {
            exact: Some((head.len() + tail.len()) as u64),
            plain: [Some(head), Some(tail).filter(|t| !t.is_empty())],
            parts: VecDeque::new(),
            sleep: None,
        }
    }

    fn scripted(parts: Vec<Part>) -> Self {
        Self {
            plain: [None, None],
            parts: parts.into(),
            sleep: None,
            exact: None,
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = BodyAbort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAbort>>> {
        let this = self.get_mut();
        if let Some(b) = this
            .plain
            .iter_mut()
            .find_map(|b| b.take().filter(|b| !b.is_empty()))
        {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        loop {
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            match this.parts.pop_front() {
                None => return Poll::Ready(None),
                Some(Part::Data(b)) if b.is_empty() => {}
                Some(Part::Data(b)) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Part::Wait(d)) => this.sleep = Some(Box::pin(tokio::time::sleep(d))),
                Some(Part::Drip {
                    mut rest,
                    step,
                    interval,
                    due,
                }) => {
                    if rest.is_empty() {
                        continue;
                    }
                    let now = tokio::time::Instant::now();
                    if let Some(t) = due.filter(|t| now < *t) {
                        this.parts.push_front(Part::Drip {
                            rest,
                            step,
                            interval,
                            due,
                        });
                        this.sleep = Some(Box::pin(tokio::time::sleep_until(t)));
                        continue;
                    }
                    let piece = rest.split_to(step.min(rest.len()));
                    if !rest.is_empty() {
                        // Late by less than an interval: the schedule holds. Later (a client
                        // that stopped reading): it starts again from now, rather than send
                        // the pieces it missed in a burst.
                        let base = due
                            .filter(|t| now.saturating_duration_since(*t) < interval)
                            .unwrap_or(now);
                        this.parts.push_front(Part::Drip {
                            rest,
                            step,
                            interval,
                            due: Some(base + interval),
                        });
                    }
                    return Poll::Ready(Some(Ok(Frame::data(piece))));
                }
                Some(Part::Flush) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(Part::Fail) => return Poll::Ready(Some(Err(BodyAbort))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.plain.iter().all(Option::is_none) && self.parts.is_empty() && self.sleep.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// A plain response.
pub fn plain(
    status: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<MockBody> {
    with_body(status, content_type, MockBody::full(body))
}

fn with_body(status: u16, content_type: &'static str, body: MockBody) -> Response<MockBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn scripted(
    status: u16,
    content_type: &'static str,
    declared_len: u64,
    parts: Vec<Part>,
) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::scripted(parts));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(declared_len));
    resp
}

/// The page a load balancer in front of the API shows (Alibaba's front ends run Tengine).
pub fn html_page(status: u16) -> String {
    let title = match status {
        501 => "501 Not Implemented",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        _ => "504 Gateway Time-out",
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// 64 printable bytes that parse as neither JSON nor XML, derived from `noise`.
pub fn garbage(noise: &[u8; 32]) -> Vec<u8> {
    const ALPHABET: &[u8] =
        b"!#$%()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~";
    let mut out = b"%!".to_vec();
    out.extend(
        noise
            .iter()
            .chain(noise.iter())
            .take(62)
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()]),
    );
    out
}

/// Builds what goes on the wire for `rendered` under `fault` (none: the response itself),
/// with `body_delay` between the headers and the body.
///
/// # Errors
/// [`Abort`] for `reset` and `hang` (the caller sleeps for `hang` first).
pub fn respond(
    rendered: Rendered,
    fault: Option<Fault>,
    body_delay: Option<Duration>,
    noise: impl FnOnce() -> [u8; 32],
) -> Result<Response<MockBody>, Abort> {
    if fault.is_none() && body_delay.is_none() {
        return Ok(unfaulted(rendered));
    }
    // Faults and delays cut or replace the body as a whole.
    let body = if rendered.tail.is_empty() {
        Bytes::from(rendered.body.into_boxed_slice())
    } else {
        Bytes::from(rendered.full_body())
    };
    let len = body.len() as u64;
    let ct = rendered.content_type;
    // Headers first, then the delay, when a delay goes between them.
    let lead = |mut parts: Vec<Part>| -> Vec<Part> {
        if let Some(d) = body_delay {
            parts.splice(0..0, [Part::Flush, Part::Wait(d)]);
        }
        parts
    };
    let simple = |status: u16, ct: &'static str, body: Bytes| match body_delay {
        None => plain(status, ct, body),
        Some(_) => scripted(status, ct, body.len() as u64, lead(vec![Part::Data(body)])),
    };
    Ok(match fault {
        None => simple(rendered.status, ct, body),
        Some(Fault::Reset) => return Err(Abort::Reset),
        Some(Fault::Hang { .. }) => return Err(Abort::Close),
        Some(Fault::Garbage) => simple(200, ct, Bytes::from(garbage(&noise()))),
        Some(Fault::Empty) => simple(200, ct, Bytes::new()),
        Some(Fault::Html502) => html(simple(502, "text/html", Bytes::from(html_page(502)))),
        Some(Fault::Html503) => html(simple(503, "text/html", Bytes::from(html_page(503)))),
        Some(Fault::Html504) => html(simple(504, "text/html", Bytes::from(html_page(504)))),
        Some(Fault::CloseAfterHeaders) => scripted(
            rendered.status,
            ct,
            len,
            lead(vec![Part::Flush, Part::Fail]),
        ),
        Some(Fault::Truncate { bytes }) => {
            // Always at least one byte short, whatever k says.
            let k = bytes.min(len.saturating_sub(1)) as usize;
            scripted(
                rendered.status,
                ct,
                len,
                lead(vec![Part::Data(body.slice(..k)), Part::Flush, Part::Fail]),
            )
        }
        Some(Fault::ContentLengthShort) => {
            // hyper sends no more than the declared length: the client reads a cut body on
            // a connection that looks healthy.
            scripted(rendered.status, ct, len / 2, lead(vec![Part::Data(body)]))
        }
        Some(Fault::ContentLengthLong) => scripted(
            rendered.status,
            ct,
            len + 64,
            lead(vec![Part::Data(body), Part::Flush, Part::Fail]),
        ),
        Some(Fault::Drip { bytes, interval_ms }) => scripted(
            rendered.status,
            ct,
            len,
            lead(vec![
                Part::Flush,
                Part::Drip {
                    rest: body,
                    step: usize::try_from(bytes.max(1)).unwrap_or(usize::MAX),
                    interval: Duration::from_millis(interval_ms),
                    due: None,
                },
            ]),
        ),
    })
}

/// `rendered` as it is.
pub fn unfaulted(rendered: Rendered) -> Response<MockBody> {
    // A boxed slice becomes `Bytes` as it is; a `Vec` with spare capacity would take a
    // second allocation to share it.
    let head = Bytes::from(rendered.body.into_boxed_slice());
    let body = MockBody::chain(head, rendered.tail);
    with_body(rendered.status, rendered.content_type, body)
}

/// The answer to a request whose body has a transfer coding other than `chunked`: hyper
/// reads `gzip, chunked` as plain chunked (its last coding), which would hand the action a
/// compressed body as if it were the form. RFC 9112 §6.1 asks for 501, which the front ends'
/// Tengine gives. The body cannot be read as a request, so the caller closes the connection.
pub fn unknown_transfer_coding() -> Response<MockBody> {
    html(plain(501, "text/html", Bytes::from(html_page(501))))
}

fn html(mut resp: Response<MockBody>) -> Response<MockBody> {
    resp.headers_mut()
        .insert(SERVER, HeaderValue::from_static("Tengine"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (white-box review, sixteenth session): the drip's script held every piece
    /// from the start, millions of entries for a one-byte drip of a large body.
    #[tokio::test(start_paused = true)]
    async fn a_drip_cuts_its_pieces_as_it_sends_them() {
        use http_body_util::BodyExt as _;
        let mut body = MockBody {
            plain: [None, None],
            parts: VecDeque::from([Part::Drip {
                rest: Bytes::from(vec![7u8; 1 << 20]),
                step: 3,
                interval: Duration::from_millis(1),
                due: None,
            }]),
            sleep: None,
            exact: None,
        };
        for _ in 0..1_000 {
            let piece = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(piece.len(), 3);
            assert!(body.parts.len() <= 2, "{}", body.parts.len());
        }
    }

    /// Regression (black-box review, twenty-seventh session): each interval was slept from
    /// the moment the previous piece went out, so every late wake-up (up to a millisecond
    /// here) was added to the drip: 5 bytes every 1 ms took twice as long as it should.
    #[tokio::test(start_paused = true)]
    async fn a_drip_keeps_its_schedule_when_pieces_go_out_late() {
        // The second piece goes out a millisecond late (a busy thread, a coarse timer): the
        // third is still due 20 ms after the first, not 10 after the second.
        assert_eq!(
            drip_times(50, 11).await,
            [0, 11, 20, 30, 40, 50, 60, 70, 80, 90]
        );
        // A piece a whole interval late or more (a client that stopped reading) restarts
        // the schedule instead of bringing the missed pieces in a burst.
        assert_eq!(drip_times(20, 35).await, [0, 35, 45, 55]);
    }

    /// When each piece of a drip of `len` bytes, 5 every 10 ms, went out (ms from the first),
    /// with `late_ms` passing before the second is asked for.
    async fn drip_times(len: usize, late_ms: u64) -> Vec<u128> {
        use http_body_util::BodyExt as _;
        let mut body = MockBody::scripted(vec![Part::Drip {
            rest: Bytes::from(vec![7u8; len]),
            step: 5,
            interval: Duration::from_millis(10),
            due: None,
        }]);
        let start = tokio::time::Instant::now();
        let mut sent_at = Vec::new();
        while let Some(frame) = body.frame().await {
            frame.unwrap();
            sent_at.push(start.elapsed().as_millis());
            if sent_at.len() == 1 {
                tokio::time::advance(Duration::from_millis(late_ms)).await;
            }
        }
        sent_at
    }

    #[test]
    fn garbage_is_neither_json_nor_xml() {
        for seed in 0..50u64 {
            let g = garbage(&crate::ids::derive("g", seed, &[]));
            assert_eq!(g.len(), 64);
            assert!(serde_json::from_slice::<serde_json::Value>(&g).is_err());
            assert!(!g.contains(&b'<'));
        }
    }

    /// Every frame of `body`, polled to its end (plain bodies never wait).
    fn frames(mut body: MockBody) -> Vec<Bytes> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(f))) => out.push(f.into_data().expect("a data frame")),
                Poll::Ready(None) => break,
                other => panic!("a plain body gave {other:?}"),
            }
        }
        assert!(body.is_end_stream());
        out
    }

    #[test]
    fn a_plain_body_is_one_frame_of_known_length() {
        let body = MockBody::full(&b"{\"RequestId\":\"x\"}"[..]);
        assert_eq!(body.size_hint().exact(), Some(17));
        assert!(!body.is_end_stream());
        assert_eq!(frames(body), [Bytes::from_static(b"{\"RequestId\":\"x\"}")]);
        // The empty body of the `empty` fault: no data frame at all.
        let empty = MockBody::full(Bytes::new());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(frames(empty).is_empty());
    }

    fn rendered_with_tail() -> Rendered {
        let mut r = crate::protocol::response::json(b"{\"RequestId\":\"x\",\"Items\":[".to_vec());
        r.tail = Bytes::from_static(b"1,2,3]}");
        r
    }

    #[test]
    fn a_shared_tail_is_its_own_frame_after_the_head() {
        let resp = unfaulted(rendered_with_tail());
        assert_eq!(resp.status(), 200);
        let body = resp.into_body();
        assert_eq!(body.size_hint().exact(), Some(33));
        let frames = frames(body);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames.concat(), b"{\"RequestId\":\"x\",\"Items\":[1,2,3]}");
    }

    #[test]
    fn faults_shape_the_body_with_its_tail() {
        // The declared length is half of the whole body, tail included, and the whole body
        // is what the fault starts from.
        let resp = respond(
            rendered_with_tail(),
            Some(Fault::ContentLengthShort),
            None,
            || [0; 32],
        )
        .expect("a response");
        assert_eq!(resp.headers()[CONTENT_LENGTH], "16");
        assert_eq!(
            frames(resp.into_body()).concat(),
            b"{\"RequestId\":\"x\",\"Items\":[1,2,3]}"
        );
    }

    #[test]
    fn only_body_shaping_faults_need_the_real_response() {
        assert!(shapes_body(&Fault::Drip {
            bytes: 1,
            interval_ms: 1
        }));
        assert!(shapes_body(&Fault::Truncate { bytes: 1 }));
        assert!(!shapes_body(&Fault::Reset));
        assert!(!shapes_body(&Fault::Html503));
    }
}
