//! The agent's event loop: a single-threaded tokio runtime.
//!
//! Events come from three places: client connections (each served by a small task that forwards
//! requests over a channel), the supervisor's socket (process starts and exits), and the nearest
//! deadline the core asks for. After each batch of events the core reconciles once, so a burst of
//! exits becomes one transaction.

use std::os::unix::net::{UnixListener, UnixStream};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::core::{Core, Now, Settings};
use super::daemon::Options;
use super::lock::AgentLock;
use super::protocol::{Reply, Request};
use crate::engine::engines::local::{LocalEngine, Outbox, event_from_supervisor};
use crate::engine::engines::slurm::SlurmEngine;
use crate::engine::engines::{EngineEvent, Engines};
use crate::engine::error::{Error, Result};
use crate::engine::launcher::protocol::{FromSupervisor, ToSupervisor, write_line};
use crate::engine::launcher::socket;
use crate::engine::paths::Layout;
use crate::engine::store::Store;

/// How often the agent looks whether its workspace still exists. Like every event, the check
/// ends in a turn, which reads what others committed (SQLite's `data_version` says whether
/// anything was): so work committed without a wake-up (the agent was stopped or unreachable when
/// the client woke it) is found within this time too.
const FOLDER_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

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

fn io_error(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e: std::io::Error| Error::io(context.to_string(), e)
}

/// The supervisor's socket, split for the loop.
struct SupervisorLink {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
    fresh: bool,
}

fn link(stream: UnixStream, fresh: bool) -> Result<SupervisorLink> {
    stream.set_nonblocking(true).map_err(io_error("supervisor socket"))?;
    let stream = tokio::net::UnixStream::from_std(stream).map_err(io_error("supervisor socket"))?;
    let (read, write) = stream.into_split();
    Ok(SupervisorLink { lines: BufReader::new(read).lines(), write, fresh })
}

/// A core over the store as it is now, with the local engine writing to `outbox` and the Slurm
/// engine reporting to `events`.
fn open_core(
    layout: &Layout,
    options: &Options,
    outbox: &Outbox,
    events: &mpsc::UnboundedSender<EngineEvent>,
) -> Result<Core> {
    let mut store = Store::open(layout.clone())?;
    store.checkpoint_often()?;
    store.keep_reserve();
    let slurm = SlurmEngine::new(layout.clone(), &options.python, options.core_module.as_deref(), events.clone());
    let engines =
        Engines::default().with(Box::new(LocalEngine::new(layout.clone(), outbox.clone()))).with(Box::new(slurm));
    Core::open(store, engines, options.clone(), Settings::from_environment(), Now::system())
}

async fn run(layout: Layout, options: Options, listener: UnixListener, supervisor: (UnixStream, bool)) -> Result<()> {
    listener.set_nonblocking(true).map_err(io_error("agent socket"))?;
    let listener = tokio::net::UnixListener::from_std(listener).map_err(io_error("agent socket"))?;
    let mut supervisor = link(supervisor.0, supervisor.1)?;
    let outbox = Outbox::default();
    outbox.push(&watchdog(&layout));
    let (engine_tx, mut engine_rx) = mpsc::unbounded_channel::<EngineEvent>();
    let mut core = match open_core(&layout, &options, &outbox, &engine_tx) {
        Ok(core) => core,
        Err(e) => return delete_damaged(&layout, &mut supervisor, e).await,
    };
    let (client_tx, mut client_rx) = mpsc::unbounded_channel::<ClientEvent>();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io_error("installing the SIGTERM handler"))?;
    // A workspace folder removed behind batchai's back (`rm -rf`): this agent has nothing left
    // to serve and stops; the supervisor kills what the workspace still ran (it checks too).
    let mut folder_check = tokio::time::interval(FOLDER_CHECK);
    folder_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        // Hand the supervisor what the last turn decided.
        let bytes = outbox.take();
        if !bytes.is_empty() && supervisor.write.write_all(&bytes).await.is_err() {
            // Lost mid-write: handled below as a lost supervisor when the read side says so.
            tracing::warn!("could not write to the supervisor");
        }
        if core.stopping() {
            // On purpose: the supervisor must not start this agent again.
            let mut goodbye = Vec::new();
            write_line(&mut goodbye, &ToSupervisor::Goodbye).map_err(io_error("writing to the supervisor"))?;
            let _ = supervisor.write.write_all(&goodbye).await;
            return Ok(());
        }
        let deadline = core.next_deadline();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let mut lost_supervisor = false;
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let std_stream = stream.into_std().map_err(io_error("client socket"))?;
                    if socket::check_peer(&std_stream).is_ok() {
                        std_stream.set_nonblocking(true).map_err(io_error("client socket"))?;
                        let stream = tokio::net::UnixStream::from_std(std_stream).map_err(io_error("client socket"))?;
                        tokio::spawn(serve_client(stream, client_tx.clone()));
                    }
                }
            }
            line = supervisor.lines.next_line() => {
                core.advance(Now::system());
                match line {
                    Ok(Some(line)) => deliver(&mut core, &line, supervisor.fresh),
                    Ok(None) | Err(_) => lost_supervisor = true,
                }
                // Take every message already buffered before reconciling once.
                while !lost_supervisor {
                    match futures_now(supervisor.lines.next_line()) {
                        Some(Ok(Some(line))) => deliver(&mut core, &line, supervisor.fresh),
                        Some(Ok(None)) | Some(Err(_)) => lost_supervisor = true,
                        None => break,
                    }
                }
            }
            Some(event) = engine_rx.recv() => {
                core.advance(Now::system());
                core.on_engine(event);
                while let Ok(event) = engine_rx.try_recv() {
                    core.on_engine(event);
                }
            }
            Some(event) = client_rx.recv() => {
                core.advance(Now::system());
                let ClientEvent::Request(request, reply) = event;
                core.on_client(request, reply);
                while let Ok(ClientEvent::Request(request, reply)) = client_rx.try_recv() {
                    core.on_client(request, reply);
                }
            }
            _ = sleep => core.advance(Now::system()),
            _ = terminate.recv() => core.request_stop(),
            _ = folder_check.tick() => {
                if !layout.db().exists() {
                    tracing::warn!("the workspace's database is gone: stopping");
                    core.request_stop();
                }
            }
        }
        if lost_supervisor {
            // The supervisor is gone (killed, or the machine's process table was cleaned): start a
            // new one and rebuild the core from the store, as a restarted agent would. Clients
            // waiting for jobs keep waiting on the new core.
            tracing::warn!("lost the supervisor; starting a new one");
            let (stream, fresh) = super::daemon::connect_supervisor(&layout)
                .map_err(|e| Error::Agent(format!("cannot restart the supervisor: {e}")))?;
            supervisor = link(stream, fresh)?;
            outbox.take();
            outbox.push(&watchdog(&layout));
            let watchers = core.take_watchers();
            // A new channel: the old Slurm engine's thread ends with its sender's receiver.
            let (tx, rx) = mpsc::unbounded_channel::<EngineEvent>();
            engine_rx = rx;
            core = open_core(&layout, &options, &outbox, &tx)?;
            for (uid, reply) in watchers {
                core.on_client(Request::Watch { jobs: vec![uid.into()] }, reply);
            }
            continue;
        }
        // Every branch, the accept of a client connection too, ends here: a turn reads what
        // others committed until now, so it must not be stamped with an earlier event's time.
        core.advance(Now::system());
        core.turn();
    }
}

/// The store cannot be loaded (a damaged row). If the workspace is being deleted, that need not
/// stop the deletion: kill whatever the supervisor still runs, remove the files, and exit (the
/// waiting client sees the workspace gone). Otherwise the error stands.
async fn delete_damaged(layout: &Layout, supervisor: &mut SupervisorLink, error: Error) -> Result<()> {
    let deleting = Store::open(layout.clone())
        .and_then(|mut s| s.workspace())
        .is_ok_and(|w| w.provisioning_state == crate::engine::model::ProvisioningState::Deleting);
    if !deleting {
        return Err(error);
    }
    tracing::warn!(
        "deleting a workspace whose store cannot be loaded ({error}): killing what runs, removing its files"
    );
    if let Ok(Some(line)) = supervisor.lines.next_line().await
        && let Ok(FromSupervisor::Hello { running, .. }) = serde_json::from_str::<FromSupervisor>(&line)
    {
        let mut out = Vec::new();
        for process in running {
            let marker = process
                .key
                .strip_prefix("setup:")
                .map(|n| format!("setup-{n}"))
                .or_else(|| process.key.split(':').nth(1).map(str::to_string));
            let signal = ToSupervisor::Signal { key: process.key, signal: libc::SIGKILL, marker };
            let _ = write_line(&mut out, &signal);
        }
        let _ = write_line(&mut out, &ToSupervisor::Goodbye);
        let _ = supervisor.write.write_all(&out).await;
    }
    crate::engine::engines::local::workdirs::remove_workspace(layout);
    Ok(())
}

/// How the supervisor starts this agent again if it dies: the same program, arguments and
/// environment, writing to the agent's log.
fn watchdog(layout: &Layout) -> ToSupervisor {
    let args: Vec<String> = std::env::args().collect();
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| args.first().cloned().unwrap_or_default());
    ToSupervisor::Watchdog {
        restart: super::client::agent_request(layout, program, args),
        db: layout.db().display().to_string(),
    }
}

fn deliver(core: &mut Core, line: &str, fresh: bool) {
    match serde_json::from_str::<FromSupervisor>(line) {
        Ok(message) => {
            if let FromSupervisor::Hello { pid, .. } = &message {
                core.set_engine_pid(*pid);
            }
            core.on_engine(event_from_supervisor(message, fresh));
        }
        Err(e) => tracing::warn!("malformed message from the supervisor: {e}"),
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
