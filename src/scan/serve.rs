//! `scan serve`: the HTTP sidecar (axum on tokio).
//!
//! - `POST /v1/scan` with `{"text": …, "id": …}` answers one verdict object; a JSON array of such
//!   objects answers `{"verdicts": [...]}` in the same order (an item without a text gets an error
//!   verdict). Malformed JSON or invalid UTF-8: 400; a body over `--max-body` or a batch over
//!   `--max-batch`: 413.
//! - `GET /healthz`: `{"status": "ok", ...}` with the index's size and the requests in flight.
//! - Back-pressure: at most `--workers` scans run at once (on tokio's blocking pool) and at most
//!   `--queue` more wait; a request beyond that is answered 429 at once, and one that waited longer
//!   than `--queue-timeout-ms` 503, both with `Retry-After`.
//! - One JSON access-log line per request on stderr: time, method, path, status, milliseconds,
//!   ids, verdict counts and reason kinds — never the texts.
//! - SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, exit 0.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use vg_attacks::extraction::scan::{Scanner, Verdict, VerdictKind};

use super::sample_log::SampleLog;

/// Limits and logs of the sidecar.
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    pub listen: SocketAddr,
    /// Scans running at once.
    pub workers: usize,
    /// Requests waiting for a worker beyond those running.
    pub queue: usize,
    /// Longest wait for a worker before answering 503.
    pub queue_timeout: Duration,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Most outputs in one batch request.
    pub max_batch: usize,
    /// Continued-inspection log.
    pub sample_log: Option<SampleLog>,
}

struct App {
    scanner: Arc<Scanner>,
    workers: Arc<Semaphore>,
    pending: AtomicUsize,
    max_pending: usize,
    queue_timeout: Duration,
    max_batch: usize,
    sample_log: Option<SampleLog>,
    access: Mutex<Box<dyn Write + Send>>,
}

/// Decrements the pending count when a request is done (or its client went away).
struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the access log records of a request.
#[derive(Default)]
struct Logged {
    ids: Vec<Value>,
    verdicts: Vec<VerdictKind>,
    kinds: Vec<&'static str>,
}

impl App {
    fn log(&self, method: &Method, path: &str, status: StatusCode, started: Instant, logged: Logged) {
        let count = |k: VerdictKind| logged.verdicts.iter().filter(|v| **v == k).count();
        let mut kinds = logged.kinds;
        kinds.sort_unstable();
        kinds.dedup();
        let line = json!({
            "ts": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "method": method.as_str(), "path": path, "status": status.as_u16(),
            "ms": started.elapsed().as_secs_f64() * 1e3,
            "ids": logged.ids,
            "verdicts": {"pass": count(VerdictKind::Pass), "flag": count(VerdictKind::Flag), "error": count(VerdictKind::Error)},
            "kinds": kinds,
        });
        let mut out = self.access.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{line}");
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refuse(status: StatusCode, message: String) -> Response {
    let mut r = json_response(status, &json!({ "error": message }));
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    r
}

/// The outputs of a request: (id, text or why the item is unreadable), and whether it was a batch.
type Items = (Vec<(Value, Result<String, String>)>, bool);

fn parse_request(body: &[u8], max_batch: usize) -> Result<Items, (StatusCode, String)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}")))?;
    let item = |i: usize, v: Value| -> (Value, Result<String, String>) {
        let id = v.get("id").cloned().unwrap_or(json!(i));
        match v.get("text") {
            Some(Value::String(s)) => (id, Ok(s.clone())),
            Some(_) => (id, Err(format!("item {i}: \"text\" is not a string"))),
            None => (id, Err(format!("item {i}: no \"text\" field"))),
        }
    };
    match value {
        Value::Object(_) => {
            let (id, text) = item(0, value);
            let text = text.map_err(|e| (StatusCode::BAD_REQUEST, e.replacen("item 0: ", "", 1)))?;
            Ok((vec![(id, Ok(text))], false))
        }
        Value::Array(items) if items.len() > max_batch => {
            Err((StatusCode::PAYLOAD_TOO_LARGE, format!("batch of {} outputs, over the --max-batch limit of {max_batch}", items.len())))
        }
        Value::Array(items) => Ok((items.into_iter().enumerate().map(|(i, v)| item(i, v)).collect(), true)),
        _ => Err((StatusCode::BAD_REQUEST, "expected {\"text\": ...} or an array of such objects".into())),
    }
}

async fn scan(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    let started = Instant::now();
    let (method, path) = (Method::POST, "/v1/scan");
    let reply = |status: StatusCode, message: String, logged: Logged| {
        app.log(&method, path, status, started, logged);
        refuse(status, message)
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return reply(rejection.status(), rejection.body_text(), Logged::default()),
    };
    // Capacity first: under overload a refusal must not cost a JSON parse of the body.
    if app.pending.fetch_add(1, Ordering::AcqRel) >= app.max_pending {
        app.pending.fetch_sub(1, Ordering::AcqRel);
        return reply(StatusCode::TOO_MANY_REQUESTS, "the scanner is at capacity, retry later".into(), Logged::default());
    }
    let _pending = Pending(&app.pending);
    let (items, batch) = match parse_request(&body, app.max_batch) {
        Ok(parsed) => parsed,
        Err((status, message)) => return reply(status, message, Logged::default()),
    };
    let ids: Vec<Value> = items.iter().map(|(id, _)| id.clone()).collect();
    let permit = match tokio::time::timeout(app.queue_timeout, app.workers.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            let msg = format!("no scanner free within {} ms, retry later", app.queue_timeout.as_millis());
            return reply(StatusCode::SERVICE_UNAVAILABLE, msg, Logged { ids, ..Default::default() });
        }
    };
    let scanner = app.scanner.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        items
            .into_iter()
            .map(|(id, text)| match text {
                Ok(t) => scanner.scan(id, &t),
                Err(e) => Verdict::error(id, e),
            })
            .collect::<Vec<Verdict>>()
    });
    let verdicts = match work.await {
        Ok(v) => v,
        Err(e) => return reply(StatusCode::INTERNAL_SERVER_ERROR, format!("scan failed: {e}"), Logged { ids, ..Default::default() }),
    };
    if let Some(log) = &app.sample_log {
        for v in &verdicts {
            if let Err(e) = log.offer(v) {
                eprintln!("vg-audit: warning: {e:#}");
            }
        }
    }
    let logged = Logged {
        ids,
        verdicts: verdicts.iter().map(|v| v.verdict).collect(),
        kinds: verdicts.iter().flat_map(|v| v.kinds()).collect(),
    };
    app.log(&method, path, StatusCode::OK, started, logged);
    let body = if batch { json!({ "verdicts": verdicts }) } else { serde_json::to_value(&verdicts[0]).unwrap_or(Value::Null) };
    json_response(StatusCode::OK, &body)
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let meta = app.scanner.meta();
    let body = json!({
        "status": "ok", "records": meta.records, "tokens": meta.tokens, "min_span": app.scanner.min_span(),
        "in_flight": app.pending.load(Ordering::Acquire),
    });
    app.log(&Method::GET, "/healthz", StatusCode::OK, Instant::now(), Logged::default());
    json_response(StatusCode::OK, &body)
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    eprintln!("vg-audit: shutting down: finishing the requests in flight");
}

/// Serves until SIGTERM / Ctrl-C. `on_listening` gets the bound address (before the first request).
pub fn serve(scanner: Scanner, opts: ServeOptions, on_listening: &mut dyn FnMut(SocketAddr)) -> anyhow::Result<()> {
    anyhow::ensure!(opts.workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(opts.max_body >= 1 && opts.max_batch >= 1, "--max-body and --max-batch must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(opts.workers + 1)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let app = Arc::new(App {
        scanner: Arc::new(scanner),
        workers: Arc::new(Semaphore::new(opts.workers)),
        pending: AtomicUsize::new(0),
        max_pending: opts.workers + opts.queue,
        queue_timeout: opts.queue_timeout,
        max_batch: opts.max_batch,
        sample_log: opts.sample_log,
        access: Mutex::new(Box::new(std::io::stderr())),
    });
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen).await.with_context(|| format!("listening on {}", opts.listen))?;
        on_listening(listener.local_addr()?);
        let router = Router::new()
            .route("/v1/scan", post(scan))
            .route("/healthz", get(healthz))
            .layer(DefaultBodyLimit::max(opts.max_body))
            .with_state(app);
        axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await.context("serving")?;
        Ok(())
    })
}
