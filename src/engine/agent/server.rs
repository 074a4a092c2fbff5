//! The agent's event loop: a single-threaded tokio runtime.
//!
//! Events come from three places: client connections (each served by a small task that forwards
//! requests over a channel), the supervisor's socket (process starts and exits), and the nearest
//! deadline the core asks for. After each batch of events the core reconciles once, so a burst of
//! exits becomes one transaction.

use std::os::unix::net::{UnixListener, UnixStream};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::core::Core;
use super::daemon::Options;
use super::lock::AgentLock;
use super::protocol::{Reply, Request};
use crate::engine::error::{Error, Result};
use crate::engine::launcher::protocol::FromSupervisor;
use crate::engine::launcher::socket;
use crate::engine::paths::Layout;

/// What connection tasks hand to the loop.
pub enum ClientEvent {
    Request(Request, mpsc::UnboundedSender<Reply>),
}

pub fn serve(
    layout: Layout,
    options: Options,
    listener: UnixListener,
    supervisor: (UnixStream, bool),
    lock: AgentLock,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the agent's runtime", e))?;
    let result = runtime.block_on(run(layout, options, listener, supervisor));
    // Logged while the lock is held: a client that waited for the lock (to delete the
    // workspace) finds the log complete.
    if result.is_ok() {
        tracing::info!("stopped");
    }
    drop(lock);
    result
}

async fn run(layout: Layout, options: Options, listener: UnixListener, supervisor: (UnixStream, bool)) -> Result<()> {
    let io = |context: &str| {
        let context = context.to_string();
        move |e: std::io::Error| Error::io(context.clone(), e)
    };
    listener.set_nonblocking(true).map_err(io("agent socket"))?;
    let listener = tokio::net::UnixListener::from_std(listener).map_err(io("agent socket"))?;
    let (supervisor, fresh_supervisor) = supervisor;
    supervisor.set_nonblocking(true).map_err(io("supervisor socket"))?;
    let supervisor = tokio::net::UnixStream::from_std(supervisor).map_err(io("supervisor socket"))?;
    let (supervisor_read, mut supervisor_write) = supervisor.into_split();
    let mut supervisor_lines = BufReader::new(supervisor_read).lines();

    let mut core = Core::open(layout, options, fresh_supervisor)?;
    let (client_tx, mut client_rx) = mpsc::unbounded_channel::<ClientEvent>();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io("installing the SIGTERM handler"))?;

    loop {
        // Hand the supervisor what the last turn decided.
        let outbox = core.take_outbox();
        if !outbox.is_empty() {
            supervisor_write.write_all(&outbox).await.map_err(io("writing to the supervisor"))?;
        }
        if core.stopping() {
            return Ok(());
        }
        let deadline = core.next_deadline();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let std_stream = stream.into_std().map_err(io("client socket"))?;
                    if socket::check_peer(&std_stream).is_ok() {
                        std_stream.set_nonblocking(true).map_err(io("client socket"))?;
                        let stream = tokio::net::UnixStream::from_std(std_stream).map_err(io("client socket"))?;
                        tokio::spawn(serve_client(stream, client_tx.clone()));
                    }
                }
            }
            line = supervisor_lines.next_line() => {
                match line {
                    Ok(Some(line)) => match serde_json::from_str::<FromSupervisor>(&line) {
                        Ok(message) => core.on_supervisor(message),
                        Err(e) => tracing::warn!("malformed message from the supervisor: {e}"),
                    },
                    // The supervisor is gone: start over in a fresh process, which starts a new one.
                    Ok(None) | Err(_) => return Err(Error::Agent("lost the supervisor".into())),
                }
                // Take every message already buffered before reconciling once.
                while let Some(Ok(Some(line))) = futures_now(supervisor_lines.next_line()) {
                    if let Ok(message) = serde_json::from_str::<FromSupervisor>(&line) {
                        core.on_supervisor(message);
                    }
                }
            }
            Some(event) = client_rx.recv() => {
                core.on_client(event);
                while let Ok(event) = client_rx.try_recv() {
                    core.on_client(event);
                }
            }
            _ = sleep => {}
            _ = terminate.recv() => core.request_stop(),
        }
        core.turn();
    }
}

/// Poll a future once; `None` if it is not ready.
fn futures_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

async fn serve_client(stream: tokio::net::UnixStream, events: mpsc::UnboundedSender<ClientEvent>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Reply>();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { return };
                match serde_json::from_str::<Request>(&line) {
                    Ok(request) => {
                        if events.send(ClientEvent::Request(request, reply_tx.clone())).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let reply = Reply::Error { message: format!("malformed request: {e}") };
                        if write_reply(&mut write, &reply).await.is_err() {
                            return;
                        }
                    }
                }
            }
            Some(reply) = reply_rx.recv() => {
                if write_reply(&mut write, &reply).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn write_reply(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}
