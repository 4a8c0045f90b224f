//! `sigv4-proxy serve` (also what plain `sigv4-proxy` runs): builds the configuration
//! from `--config` (default `./config.toml`) or from flags for the one-route case,
//! validates it (`--check-config` stops there), binds the listeners and serves until
//! SIGINT/SIGTERM.
//!
//! Exit codes: 0 after a clean shutdown or a valid `--check-config`, 2 for a bad
//! configuration or command line, 1 when the proxy cannot start (port taken, ...).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::{Config, ConfigError, LogFormat, RawConfig, RawListener, RawRoute};
use crate::proxy::{self, ProxyState};

/// The file used when neither `--config` nor `--upstream`/`--forward` is given.
const DEFAULT_CONFIG: &str = "config.toml";
/// The address used by `--upstream`/`--forward` without `--listen`.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Arguments of `serve`.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (default: ./config.toml, unless --upstream or --forward
    /// describe the only route).
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to listen on: ADDR:PORT, or a PORT on 127.0.0.1. With a configuration
    /// file, replaces the address of its single listener.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Reverse mode: the upstream base URL, e.g. https://s3.us-east-1.amazonaws.com.
    #[arg(long, value_name = "URL", conflicts_with_all = ["forward", "config"])]
    pub upstream: Option<String>,
    /// Forward mode (HTTP_PROXY): sign requests for AWS hosts named in absolute URIs.
    #[arg(long, conflicts_with = "config")]
    pub forward: bool,
    /// The signing service (default: inferred from the upstream host).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The signing region (default: inferred from the upstream host).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Payload mode of the route: signed (default) or unsigned (S3 UNSIGNED-PAYLOAD).
    #[arg(long, value_name = "MODE")]
    pub payload: Option<String>,
    /// Serve /healthz, /readyz and /metrics on this address (ADDR:PORT or PORT on
    /// 127.0.0.1); overrides `admin_listen` in the file.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Log format: text (default) or json; overrides `log_format` in the file.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Threads serving client connections (default: one per CPU); overrides
    /// `worker_threads` in the file.
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<u64>,
    /// Microseconds a lone client connection busy-polls for a peer's answer before
    /// sleeping (0: never); overrides `busy_poll_us` in the file.
    #[arg(long, value_name = "US")]
    pub busy_poll_us: Option<u64>,
    /// Whether worker threads send a turn's small writes together through io_uring
    /// (true or false); overrides `coalesce_sends` in the file.
    #[arg(long, value_name = "BOOL")]
    pub coalesce_sends: Option<bool>,
    /// Validate the configuration, print a summary and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// Runs the proxy.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let config = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        if let Err(e) = check_credentials_config(&config) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        // Write errors (a closed pipe, e.g. `| head`) are not worth a panic here.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}: configuration OK", config.source.display());
        let _ = writeln!(out, "worker threads: {}", config.ops.worker_threads);
        let _ = writeln!(out, "busy-poll: {} us", config.ops.busy_poll.as_micros());
        let on = if config.ops.coalesce_sends {
            "on"
        } else {
            "off"
        };
        let _ = writeln!(out, "coalesced sends: {on}");
        if let Some(a) = config.ops.admin_listen {
            let _ = writeln!(out, "admin endpoints on {a}");
        }
        for l in &config.listeners {
            let _ = writeln!(out, "listener {} on {} ({:?})", l.name, l.listen, l.mode);
            for r in &l.routes {
                let _ = writeln!(out, "  route {}: {}", r.name, describe_route(r));
            }
        }
        return ExitCode::SUCCESS;
    }
    init_tracing(config.ops.log_format);
    proxy::fd_limit::raise_and_check(config.ops.max_connections);
    // Client connections are served on worker threads of their own (`worker_threads`,
    // see `proxy::run`); this runtime only runs signals, the admin listener and
    // background credential checks.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", proxy_error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), proxy::ProxyError> {
    let state = Arc::new(ProxyState::new(&config)?);
    let listeners = proxy::bind(&config).await?;
    // Try every route's credentials once in the background, so a missing key shows up
    // in the log at start rather than as the first request's 503.
    tokio::spawn(proxy::check_credentials(state.clone()));
    let admin = match config.ops.admin_listen {
        Some(addr) => Some(proxy::bind_admin(addr).await?),
        None => None,
    };
    // Stops the admin listener once the proxy has drained.
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    {
        // A stable line per listener on stdout, so scripts and tests learn the port.
        let mut out = std::io::stdout().lock();
        for (l, id) in &listeners {
            let cfg = &config.listeners[id.0];
            if let Ok(addr) = l.local_addr() {
                let scheme = if cfg.gateway.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                let _ = writeln!(
                    out,
                    "listening on {scheme}://{addr} listener={} mode={:?}",
                    cfg.name, cfg.mode
                );
            }
        }
        if let Some(Ok(addr)) = admin.as_ref().map(|a| a.local_addr()) {
            let _ = writeln!(out, "admin on http://{addr}");
        }
        let _ = writeln!(out, "sigv4-proxy ready");
        let _ = out.flush();
    }
    let admin_task = admin.map(|a| {
        tokio::spawn(proxy::serve_admin(a, state.clone(), async {
            let _ = admin_stopped.await;
        }))
    });
    proxy::run(listeners, state, shutdown_signal()).await;
    let _ = admin_stop.send(());
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    tracing::info!("shut down");
    Ok(())
}

fn proxy_error_chain(e: &proxy::ProxyError) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (embedding, tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        _ => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Builds every route's credentials provider (without fetching keys), so that
/// `--check-config` also catches a bad `credentials` table or a missing key variable.
fn check_credentials_config(config: &Config) -> Result<(), ConfigError> {
    // Providers may start background tasks when built: give them a runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConfigError::Invalid {
            file: config.source.clone(),
            key: "credentials".into(),
            message: format!("cannot start a runtime to check credentials: {e}"),
        })?;
    runtime.block_on(async {
        for (i, l) in config.listeners.iter().enumerate() {
            for (j, r) in l.routes.iter().enumerate() {
                r.credentials.build().map_err(|e| ConfigError::Invalid {
                    file: config.source.clone(),
                    key: format!("listeners[{i}].routes[{j}].credentials"),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(())
    })
}

/// The validated configuration the arguments describe.
fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
    let cli = Path::new("<command line>");
    let invalid = |key: &str, message: &str| ConfigError::Invalid {
        file: cli.to_owned(),
        key: key.to_owned(),
        message: message.to_owned(),
    };
    if args.upstream.is_some() || args.forward {
        let route = RawRoute {
            upstream: args.upstream.clone(),
            service: args.service.clone(),
            region: args.region.clone(),
            payload: args.payload.clone(),
            ..RawRoute::default()
        };
        let listener = RawListener {
            name: Some(if args.forward { "forward" } else { "reverse" }.into()),
            listen: Some(args.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into())),
            mode: Some(if args.forward { "forward" } else { "reverse" }.into()),
            routes: vec![route],
            ..RawListener::default()
        };
        let mut raw = RawConfig {
            listeners: vec![listener],
            ..RawConfig::default()
        };
        apply_ops_flags(args, &mut raw);
        return Config::from_raw(raw, cli);
    }
    for (set, flag) in [
        (args.service.is_some(), "--service"),
        (args.region.is_some(), "--region"),
        (args.payload.is_some(), "--payload"),
    ] {
        if set {
            return Err(invalid(
                flag,
                "applies only with --upstream or --forward; set it on the route in the configuration file",
            ));
        }
    }
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    if args.config.is_none() && !path.exists() {
        return Err(invalid(
            "--config",
            "no ./config.toml here; pass --config PATH, or --upstream URL (reverse mode) or --forward",
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        file: path.clone(),
        source,
    })?;
    let mut raw = RawConfig::parse(&text, &path)?;
    if let Some(listen) = &args.listen {
        match raw.listeners.as_mut_slice() {
            [only] => only.listen = Some(listen.clone()),
            _ => {
                return Err(invalid(
                    "--listen",
                    "the configuration has several listeners; set their addresses in the file",
                ))
            }
        }
    }
    apply_ops_flags(args, &mut raw);
    Config::from_raw(raw, &path)
}

/// `--admin-listen`, `--log-format`, `--worker-threads`, `--busy-poll-us` and
/// `--coalesce-sends` replace the file's values.
fn apply_ops_flags(args: &ServeArgs, raw: &mut RawConfig) {
    if let Some(n) = args.worker_threads {
        raw.worker_threads = Some(n);
    }
    if let Some(n) = args.busy_poll_us {
        raw.busy_poll_us = Some(n);
    }
    if let Some(on) = args.coalesce_sends {
        raw.coalesce_sends = Some(on);
    }
    if let Some(a) = &args.admin_listen {
        raw.admin_listen = Some(a.clone());
    }
    if let Some(f) = &args.log_format {
        raw.log_format = Some(f.clone());
    }
}

fn describe_route(r: &crate::config::RouteConfig) -> String {
    use crate::config::RouteTarget;
    let signing = format!(
        "service={} region={} payload={:?}",
        r.service.as_deref().unwrap_or("(from host)"),
        r.region.as_deref().unwrap_or("(from host)"),
        r.payload
    );
    match &r.target {
        RouteTarget::Reverse {
            host,
            path_prefix,
            upstream,
        } => format!(
            "{}{path_prefix} -> {}://{}{} {signing}",
            host.as_deref().unwrap_or("*"),
            if upstream.tls { "https" } else { "http" },
            upstream.authority(),
            upstream.base_path
        ),
        RouteTarget::Forward {
            allowed_hosts,
            scheme,
        } => format!(
            "forward to {} hosts pattern(s), scheme {scheme:?}, {signing}",
            allowed_hosts.len()
        ),
    }
}
