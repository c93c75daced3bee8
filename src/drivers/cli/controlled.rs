//! The control side of `sharesim serve`: restores `--state`, runs `--scenario`'s steps,
//! keeps the state file current, and serves the control API on its own loopback port.

use crate::drivers::control::{self, Control};
use crate::drivers::durable::StateFile;
use crate::drivers::scenario::Scenario;
use crate::world::World;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What `serve` asks of its control side.
pub(super) struct ControlOptions<'a> {
    pub bind: IpAddr,
    pub port: Option<u16>,
    pub token: Option<String>,
    pub scenario: Option<&'a Scenario>,
    pub state: Option<PathBuf>,
    /// The accounts' connection cap and deadlines, which the control API shares.
    pub limits: crate::surfaces::listener::connection_limits::ConnectionLimits,
}

/// The running control API.
pub(super) struct Controlled {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The bearer token callers present.
    pub token: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Controlled {
    /// Ends open streams and stops the listener.
    pub(super) async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Restores or sets up the world's state, then binds and serves the control API.
pub(super) async fn start(
    world: Arc<World>,
    options: ControlOptions<'_>,
) -> Result<Controlled, String> {
    let token = options.token.unwrap_or_else(control::random_token);
    if token.trim() != token || token.chars().count() < control::MIN_TOKEN_CHARS {
        return Err(format!(
            "--control-token must have at least {} characters, without surrounding spaces (or leave it out for a random one)",
            control::MIN_TOKEN_CHARS
        ));
    }
    let shutdown = CancellationToken::new();
    let mut control = Control::new(world.clone(), token.clone(), shutdown.clone())
        .with_openapi(crate::drivers::openapi::document())
        .with_diagram(crate::drivers::report::svg::journal_diagram)
        .with_grid(crate::drivers::report::grid::live_svg)
        .with_bound_address(options.bind);
    let mut restored = false;
    if let Some(path) = &options.state {
        let (file_lock, snapshot) = StateFile::open(path)?;
        if let Some(snapshot) = snapshot {
            control.restore(&snapshot).await.map_err(|e| {
                format!("the state file {} cannot be restored: {e}", path.display())
            })?;
            restored = true;
        }
        // Handles restored above are the control's; the file starts from them.
        let handles = control.snapshot().await.handles;
        let (path, for_start, for_world) = (path.clone(), world.clone(), world.clone());
        let file = tokio::task::spawn_blocking(move || {
            StateFile::start(path, file_lock, &for_start, handles)
        })
        .await
        .map_err(|e| e.to_string())??;
        let file = Arc::new(file);
        let (for_save, for_undo) = (file.clone(), file.clone());
        control = control.with_after_change(
            Arc::new(move |handles| for_save.save(Some(handles))),
            Arc::new(move || for_undo.durable()),
        );
        for_world.set_after_write(file);
    }
    if let (Some(scenario), false) = (options.scenario, restored) {
        let outcome = control.run_steps(&scenario.steps).await;
        if let Some(failed) = outcome.steps.iter().find(|step| !step.passed) {
            let line = scenario.step_line(failed.step).unwrap_or(1);
            eprintln!(
                "sharesim: {}:{line}: the `{}` step failed: {}; serving the world as it is ({} later steps not run)",
                scenario.file(),
                failed.action,
                failed.message.as_deref().unwrap_or("no reason given"),
                outcome.skipped
            );
        }
    } else if options.scenario.is_some() {
        eprintln!(
            "sharesim: the state file already holds this world; the scenario's steps were not run again"
        );
    }
    let addr = SocketAddr::new(options.bind, options.port.unwrap_or(0));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("could not listen on {addr} for the control API: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let task = tokio::spawn(control::serve(listener, Arc::new(control), options.limits));
    Ok(Controlled {
        url: format!("http://{local}"),
        token,
        shutdown,
        task,
    })
}
