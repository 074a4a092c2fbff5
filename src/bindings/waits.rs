//! `await`able waits for jobs, without a thread per wait and safe to cancel or abandon.
//!
//! Theory of operation:
//! - Every async wait is a task on one small tokio runtime of this module (one worker thread,
//!   started on first use, again in a forked child): its connection to the agent is a tokio
//!   socket (`engine::agent::watch::watch_async`), so a thousand pending waits hold a thousand
//!   sockets and no thread.
//! - The awaitable is a plain future of the caller's asyncio loop. The task hands its outcome to
//!   the loop with `call_soon_threadsafe`; a loop closed meanwhile refuses it, and the outcome is
//!   dropped in silence: nobody can hear it, and a "Event loop is closed" traceback printed later
//!   helps no one.
//! - Cancelling the future (`task.cancel()`, `asyncio.wait_for`'s timeout, `asyncio.run` ending)
//!   runs its done callback, which aborts the task and waits, without the GIL and for at most a
//!   second, until the task has dropped its connection: by the time the cancelled `await`
//!   returns, the socket is closed.
//! - A loop closed while a wait is pending never runs that callback. So while waits are
//!   pending, one shared check looks every 100 ms whether their loops are closed, and ends the
//!   waits of closed ones.
//! - At interpreter exit (`atexit`) pending waits are aborted, and from then on no task takes
//!   the GIL: a thread taking it during finalization would hang or be killed mid-way.
//!
//! Python code runs only with no lock of this module held: Python may switch threads between
//! any two bytecodes, and a thread waiting for a lock while it holds the GIL would deadlock with
//! one holding the lock while it waits for the GIL.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::Error;
use crate::engine::agent::watch::{Watch, watch_async};
use crate::engine::paths::Layout;

/// How often pending waits' loops are checked for having been closed.
const LOOP_CHECK: Duration = Duration::from_millis(100);
/// How long a cancellation waits for its task to let go of its connection (it takes
/// microseconds; the bound only keeps a wedged runtime from hanging the event loop).
const RELEASE_PATIENCE: Duration = Duration::from_secs(1);

/// A wait in flight: what its task needs to hand back its outcome, and how to stop it.
struct Pending {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    abort: tokio::task::AbortHandle,
}

/// The pending waits, by id, and whether the loop check runs.
struct Registry {
    waits: BTreeMap<u64, Pending>,
    checking: bool,
    /// The process these waits belong to: a forked child starts afresh.
    pid: u32,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { waits: BTreeMap::new(), checking: false, pid: 0 });
static RUNTIME: Mutex<Option<(u32, tokio::runtime::Handle)>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Set at interpreter exit: no task takes the GIL any more.
static SHUTTING_DOWN: RwLock<bool> = RwLock::new(false);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Run `f` with the GIL, unless the interpreter is exiting.
fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let exiting = SHUTTING_DOWN.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *exiting { None } else { Some(Python::attach(f)) }
}

/// The waits' runtime, started on first use in this process.
fn runtime(py: Python<'_>) -> PyResult<tokio::runtime::Handle> {
    let pid = std::process::id();
    let mut slot = lock(&RUNTIME);
    if let Some((owner, handle)) = &*slot
        && *owner == pid
    {
        return Ok(handle.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("batchai-waits")
        // Blocking threads only start agents (rare): they need not linger.
        .thread_keep_alive(Duration::from_secs(1))
        .enable_all()
        .build()
        .map_err(|e| Error::Agent(format!("cannot start the runtime of async waits: {e}")))?;
    let handle = runtime.handle().clone();
    // It serves waits until the process exits, so it is never shut down (dropping a runtime
    // blocks until its tasks end, which a pending wait at exit never does).
    std::mem::forget(runtime);
    {
        // A forked child inherits its parent's pending waits, whose tasks do not run in it:
        // forgotten, since their handles point into the parent's runtime.
        let mut registry = lock(&REGISTRY);
        if registry.pid != pid {
            std::mem::forget(std::mem::take(&mut registry.waits));
            registry.checking = false;
            registry.pid = pid;
        }
    }
    if slot.is_none() {
        py.import("atexit")?.call_method1("register", (wrap_pyfunction!(exiting, py)?,))?;
    }
    *slot = Some((pid, handle.clone()));
    Ok(handle)
}

/// Interpreter exit: abort pending waits and stop taking the GIL (see the module docs).
#[pyfunction]
fn exiting(py: Python<'_>) {
    // Without the GIL: a task may hold the read side while it waits for the GIL.
    py.detach(|| *SHUTTING_DOWN.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = true);
    let waits = std::mem::take(&mut lock(&REGISTRY).waits);
    for pending in waits.values() {
        pending.abort.abort();
    }
}

/// Set when a wait's task has ended and dropped everything it held.
#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    signal: Condvar,
}

impl Finished {
    fn set(&self) {
        *lock(&self.done) = true;
        self.signal.notify_all();
    }

    /// Block until set, or `patience` has passed.
    fn wait(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut done = lock(&self.done);
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            done = self.signal.wait_timeout(done, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }
}

/// A wait's future that sets `finished` once the inner future is dropped, however it ends
/// (completed, or aborted): the connection it holds is closed by then.
struct Tracked<F> {
    inner: Option<Pin<Box<F>>>,
    finished: Arc<Finished>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.inner.as_mut().expect("polled after completion");
        let output = std::task::ready!(inner.as_mut().poll(context));
        self.inner = None;
        self.finished.set();
        Poll::Ready(output)
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.inner = None;
        self.finished.set();
    }
}

/// The done callback of a wait's future: a cancelled future ends its wait at once.
#[pyclass]
struct Release {
    id: u64,
    finished: Arc<Finished>,
}

#[pymethods]
impl Release {
    fn __call__(&self, py: Python<'_>, _future: &Bound<'_, PyAny>) {
        // Gone already when the task handed back its outcome (the future is done because of it).
        let pending = lock(&REGISTRY).waits.remove(&self.id);
        if let Some(pending) = &pending {
            pending.abort.abort();
            let finished = self.finished.clone();
            py.detach(|| finished.wait(RELEASE_PATIENCE));
        }
        // Dropped with no lock held: releasing the future may run Python code.
        drop(pending);
    }
}

/// Hands a wait's outcome to its future, on the loop's thread; nothing if it was cancelled.
#[pyclass]
struct Complete;

#[pymethods]
impl Complete {
    fn __call__(&self, future: &Bound<'_, PyAny>, method: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        future.call_method1(method, (value,))?;
        Ok(())
    }
}

/// The task's end: hand the outcome to the loop, or drop it when nobody waits any more.
fn deliver(id: u64, outcome: crate::engine::Result<Vec<(String, String)>>) {
    let Some(pending) = lock(&REGISTRY).waits.remove(&id) else { return };
    with_python(|py| {
        let (method, value) = match outcome {
            Ok(ended) => match ended.into_pyobject(py) {
                Ok(list) => ("set_result", list.into_any()),
                Err(e) => ("set_exception", e.into_value(py).into_bound(py).into_any()),
            },
            Err(e) => ("set_exception", super::errors::to_py(py, e).into_value(py).into_bound(py).into_any()),
        };
        // A closed loop refuses the callback: the wait was abandoned, and its outcome goes
        // unheard, on purpose without a word.
        let _ = pending
            .event_loop
            .bind(py)
            .call_method1("call_soon_threadsafe", (Complete, pending.future.bind(py), method, value));
        drop(pending);
    });
}

/// Ends the waits whose loops were closed under them (see the module docs); runs while any wait
/// is pending.
async fn check_loops() {
    loop {
        tokio::time::sleep(LOOP_CHECK).await;
        let checked = with_python(|py| {
            let loops: Vec<(u64, Py<PyAny>)> =
                lock(&REGISTRY).waits.iter().map(|(id, p)| (*id, p.event_loop.clone_ref(py))).collect();
            let closed: Vec<u64> = loops
                .iter()
                .filter(|(_, l)| l.bind(py).call_method0("is_closed").and_then(|c| c.is_truthy()).unwrap_or(false))
                .map(|(id, _)| *id)
                .collect();
            let ended: Vec<Pending> = {
                let mut registry = lock(&REGISTRY);
                closed.iter().filter_map(|id| registry.waits.remove(id)).collect()
            };
            for pending in &ended {
                pending.abort.abort();
            }
            drop(ended);
        });
        let mut registry = lock(&REGISTRY);
        if checked.is_none() || registry.waits.is_empty() {
            registry.checking = false;
            return;
        }
    }
}

/// Start waiting for `uids` on `runtime`; the returned future of the running loop gets the
/// `(uid, state)` pairs (see `wait_jobs`).
pub fn start<'py>(
    py: Python<'py>,
    layout: Layout,
    launcher: crate::engine::agent::client::Launcher,
    watch: Watch,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let runtime = runtime(py)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let finished = Arc::new(Finished::default());
    future.call_method1("add_done_callback", (Release { id, finished: finished.clone() },))?;
    let wait = Tracked { inner: Some(Box::pin(watch_async(layout, launcher, watch))), finished };
    let start_check = {
        // Registered before the task can end: its outcome finds the entry (the lock is held
        // until then, and spawning runs nothing here).
        let mut registry = lock(&REGISTRY);
        let task = runtime.spawn(async move { deliver(id, wait.await) });
        let pending =
            Pending { event_loop: event_loop.unbind(), future: future.clone().unbind(), abort: task.abort_handle() };
        registry.waits.insert(id, pending);
        !std::mem::replace(&mut registry.checking, true)
    };
    if start_check {
        runtime.spawn(check_loops());
    }
    Ok(future)
}
