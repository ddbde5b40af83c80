//! The `contract-gate` binary.

use anyhow::Context as _;
use gate::cli::output::{self, OutputError, OutputFormat};
use gate::cli::{contracts_cmd, format_for, serve_cmd, BreakerAction, Cli, Command, ContractsCommand};
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
            // A format the verb does not write is a usage error: clap's message and usage line.
            if let Some(OutputError::Usage(usage)) = e.downcast_ref::<OutputError>() {
                let _ = usage.print();
            } else {
                eprintln!("contract-gate: {e:#}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(a) => gate::cli::check_cmd::main(a),
        Command::Contracts(c @ (ContractsCommand::Push { .. } | ContractsCommand::List { .. } | ContractsCommand::Show { .. } | ContractsCommand::Diff { new: None, .. } | ContractsCommand::Deprecate { .. } | ContractsCommand::Promote { .. } | ContractsCommand::Shadow { .. })) => {
            let Some((call, args)) = c.registry_call() else { unreachable!("registry subcommands have a call") };
            Ok(ExitCode::from(gate::cli::registry_cmd::main(&call, args)?))
        }
        Command::Contracts(ContractsCommand::Lint { file, output }) => contracts_cmd::lint_main(&file, &output),
        Command::Contracts(ContractsCommand::Infer(a)) => gate::cli::infer_cmd::main(&a),
        Command::Contracts(ContractsCommand::Calibrate(a)) => gate::cli::calibrate_cmd::main(&a),
        Command::Contracts(ContractsCommand::Backtest(a)) => gate::cli::backtest_cmd::main(&a),
        Command::Serve(a) => {
            init_tracing();
            let cfg = serve_cmd::load(&a.config, &a.overrides)?;
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(serve_cmd::serve(cfg))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => {
            let sink = a.output.resolve(&output::DEMO, output::deprecated_json(a.json))?;
            init_tracing_at("warn,rdkafka=error");
            let metrics = gate::serve::telemetry::install().context("metrics recorder")?;
            let opts = gate::demo::Options { live: a.plain.then_some(false), listen: a.listen };
            let s = gate::demo::run(&opts, &metrics)?;
            sink.write(|f| if f == OutputFormat::Json { output::json(&s) } else { Ok(gate::demo::render(&s)) })?;
            Ok(if s.passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_VIOLATED) })
        }
        Command::Drill(a) => gate::cli::drill_cmd::main(&a),
        Command::Contracts(ContractsCommand::Diff { id, new: Some(new), strict, registry, .. }) => Ok(ExitCode::from(gate::cli::diff_junit::offline(std::path::Path::new(&id), &new, strict, &registry.output)?)),
        Command::Contracts(ContractsCommand::Changelog { old, new }) => {
            emit(&gate::cli::diff_cmd::changelog(&old, &new)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(gate::cli::config_cmd::ConfigCommand::Validate(a)) => Ok(ExitCode::from(gate::cli::config_cmd::main(&a)?)),
        Command::Completions(a) => {
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&gate::cli::completions::completions(a.shell));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(a) => {
            match a.dir {
                Some(dir) => {
                    let files = gate::cli::completions::man_pages(&dir).with_context(|| format!("writing man pages to {}", dir.display()))?;
                    emit(&format!("wrote {} man pages to {}\n", files.len(), dir.display()))?;
                }
                None => {
                    use std::io::Write as _;
                    let _ = std::io::stdout().lock().write_all(&gate::cli::completions::man_page().context("rendering the man page")?);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(a) => {
            let sink = a.output.resolve(&output::REPLAY)?;
            init_tracing();
            let o = serve_cmd::Overrides { brokers: a.brokers, ..Default::default() };
            let cfg = serve_cmd::load(&a.config, &o)?;
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let s = rt.block_on(gate::replay::replay(&cfg, &a.binding, a.from.as_deref()))?;
            sink.write(|f| if f == OutputFormat::Json { output::json(&s) } else { Ok(s.table()) })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Breaker(a) => {
            let sink = a.output.resolve(&output::BREAKER)?;
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
            sink.write(|f| if f == OutputFormat::Json { output::json(&v) } else { Ok(gate::cli::breaker_report::table(&v)) })?;
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
    // Colour codes only where a person reads them: stderr a terminal and NO_COLOR unset
    // (anstream's reading of NO_COLOR / CLICOLOR / CLICOLOR_FORCE); never in a log file.
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if std::env::var("CONTRACT_GATE_LOG").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
