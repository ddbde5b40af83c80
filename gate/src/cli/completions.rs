//! `completions` and `man`: shell completion scripts and man pages generated from the clap
//! definitions at run time, so they always match the binary that prints them.

use clap::CommandFactory as _;
use std::path::{Path, PathBuf};

/// `completions` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  bash: contract-gate completions bash > ~/.local/share/bash-completion/completions/contract-gate\n  zsh:  contract-gate completions zsh > \"${fpath[1]}/_contract-gate\"\n  fish: contract-gate completions fish > ~/.config/fish/completions/contract-gate.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man` arguments.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command and subcommand here (`contract-gate.1`,
    /// `contract-gate-contracts-diff.1`, …) instead of the top page on standard output.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The command tree, as `main` parses it (with the long version that names the build).
fn command() -> clap::Command {
    static LONG_VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    super::Cli::command().long_version(LONG_VERSION.get_or_init(crate::kafka::build_info).as_str())
}

/// The completion script for `shell`.
#[must_use]
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "contract-gate", &mut out);
    out
}

/// The top man page (roff).
///
/// # Errors
/// Rendering failed (an I/O error of the buffer; not expected).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out)?;
    Ok(out)
}

/// Writes a page for the binary and for every (sub)command into `dir`, which is created
/// when missing. Returns the files written.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn each(cmd: &clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        out.push(clap_mangen::Man::new(cmd.clone()).generate_to(dir)?);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            each(sub, dir, out)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Built first, so subcommands carry their full names (`contract-gate-contracts-diff`).
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    each(&cmd, dir, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum as _;

    #[test]
    fn every_shell_gets_a_script_that_knows_the_subcommands() {
        for shell in clap_complete::Shell::value_variants() {
            let text = String::from_utf8(completions(*shell)).expect("utf-8");
            for word in ["serve", "contracts", "changelog", "validate", "completions"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn man_pages_for_the_binary_and_each_subcommand() {
        let top = String::from_utf8(man_page().expect("renders")).expect("utf-8");
        assert!(top.starts_with(".ie") || top.contains(".TH contract-gate"), "{}", &top[..top.len().min(200)]);
        for word in ["serve", "contracts", "config", "quality gate with a circuit breaker"] {
            assert!(top.contains(word), "top page lacks {word}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let files = man_pages(dir.path()).expect("writes");
        let names: Vec<String> = files.iter().filter_map(|p| p.file_name()?.to_str().map(str::to_string)).collect();
        for want in ["contract-gate.1", "contract-gate-contracts-diff.1", "contract-gate-config-validate.1", "contract-gate-serve.1"] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        assert!(files.iter().all(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0)));
    }
}
