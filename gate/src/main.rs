//! The `contract-gate` binary.

use anyhow::Context as _;
use gate::batch::{self, report, CheckOptions};
use gate::cli::{contracts_cmd, format_for, serve_cmd, BreakerAction, Cli, Command, ContractsCommand, ReportFormat};
use std::process::ExitCode;

/// mimalloc for Rust and, through its `override` feature, for librdkafka's C allocations: the
/// record loop allocates on one thread and librdkafka frees on its own, which kept glibc's
/// malloc in its slow paths (a tenth of the loop thread's samples; BENCHMARKS.md, "Third pass").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes scripts rely on.
const EXIT_VIOLATED: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    // `--version` names what the binary can speak; computed once, before parsing.
    let long_version: &'static str = Box::leak(gate::kafka::build_info().into_boxed_str());
    let parsed = <Cli as clap::CommandFactory>::command().long_version(long_version).try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EXIT_ERROR) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("contract-gate: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(a) => {
            let now_ms = match &a.now {
                Some(s) => chrono::DateTime::parse_from_rfc3339(s).with_context(|| format!("--now {s:?} is not an RFC 3339 time"))?.timestamp_millis(),
                None => chrono::Utc::now().timestamp_millis(),
            };
            let opts = CheckOptions {
                format: format_for(a.format, &a.input),
                contract: a.contract,
                object: a.object,
                input: a.input,
                null_tokens: if a.null_tokens.is_empty() { vec!["NA".into(), String::new()] } else { a.null_tokens },
                limits: contracts::decode::DecodeLimits { max_record_bytes: a.max_record_bytes },
                now_ms,
                progress: true,
                threads: a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)).max(1),
            };
            let r = batch::run(&opts)?;
            match a.report {
                ReportFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&r)?))?,
                ReportFormat::Table => emit(&report::table(&r))?,
            }
            Ok(if r.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_VIOLATED) })
        }
        Command::Contracts(c @ (ContractsCommand::Push { .. } | ContractsCommand::List { .. } | ContractsCommand::Show { .. } | ContractsCommand::Diff { .. } | ContractsCommand::Deprecate { .. })) => {
            let Some((call, args)) = c.registry_call() else { unreachable!("registry subcommands have a call") };
            let out = gate::cli::registry_cmd::run(&call, args);
            emit(&out.stdout)?;
            eprint!("{}", out.stderr);
            Ok(ExitCode::from(out.code))
        }
        Command::Contracts(ContractsCommand::Lint { file, output }) => {
            let out = contracts_cmd::lint(&file)?;
            match output {
                ReportFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({ "file": file, "valid": !out.has_errors, "problems": out.problems }))?))?,
                ReportFormat::Table => {
                    emit(&report::lint_lines(&out.problems))?;
                    emit(&format!("{}: {}\n", file.display(), if out.has_errors { "INVALID" } else { "ok" }))?;
                }
            }
            Ok(if out.has_errors { ExitCode::from(EXIT_VIOLATED) } else { ExitCode::SUCCESS })
        }
        Command::Serve(a) => {
            init_tracing();
            let o = serve_cmd::Overrides { brokers: a.brokers, redis: a.redis, listen: a.listen };
            let cfg = serve_cmd::load(&a.config, &o)?;
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(serve_cmd::serve(cfg))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => {
            init_tracing_at("warn,rdkafka=error");
            let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().context("metrics recorder")?;
            let opts = gate::demo::Options { live: a.plain.then_some(false), listen: a.listen };
            let s = gate::demo::run(&opts, &metrics)?;
            if a.json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&s)?))?;
            } else {
                emit(&gate::demo::render(&s))?;
            }
            Ok(if s.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_VIOLATED) })
        }
        Command::Drill(a) => gate::cli::drill_cmd::main(&a),
        Command::Replay(a) => {
            init_tracing();
            let o = serve_cmd::Overrides { brokers: a.brokers, ..Default::default() };
            let cfg = serve_cmd::load(&a.config, &o)?;
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let s = rt.block_on(gate::replay::replay(&cfg, &a.binding, a.from.as_deref()))?;
            emit(&format!("{}\n", serde_json::to_string_pretty(&s)?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Breaker(a) => {
            let (binding, action) = match &a.action {
                BreakerAction::Status { binding } => (binding.as_deref(), None),
                BreakerAction::Open { binding } => (Some(binding.as_str()), Some("open")),
                BreakerAction::Close { binding } => (Some(binding.as_str()), Some("close")),
                BreakerAction::MetricsOnly { binding } => (Some(binding.as_str()), Some("metrics-only")),
                BreakerAction::Reset { binding } => (Some(binding.as_str()), Some("reset")),
                BreakerAction::SkipPending { binding } => (Some(binding.as_str()), Some("skip-pending")),
                BreakerAction::QuarantinePending { binding } => (Some(binding.as_str()), Some("quarantine-pending")),
            };
            let v = serve_cmd::admin(&a.url, &a.tls, a.token.as_deref(), binding, action).map_err(anyhow::Error::msg)?;
            emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Contracts(ContractsCommand::Baseline { contract, input, format, field, bins, max_psi }) => {
            let v = contracts_cmd::baseline(&contract, &input, format_for(format, &input), &field, bins, max_psi)?;
            let snippet = serde_json::json!({ "customProperties": [{ "property": "gateDistribution", "value": v }] });
            emit(&format!("# paste under the property {field:?}\n{}", serde_saphyr::to_string(&snippet).context("rendering YAML")?))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error worth a panic.
fn emit(s: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Structured logs on stderr; `CONTRACT_GATE_LOG=json` for JSON lines, `RUST_LOG` for levels.
fn init_tracing() {
    init_tracing_at("info,rdkafka=warn");
}

/// [`init_tracing`] with another default level (`RUST_LOG` still wins).
fn init_tracing_at(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("CONTRACT_GATE_LOG").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
