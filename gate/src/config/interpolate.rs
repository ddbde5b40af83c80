//! `${NAME}` (also spelled `${env:NAME}`) and `${file:PATH}` in the config file: any value of
//! any field can come from the environment or from a file (a mounted Kubernetes or Docker
//! secret), so SASL passwords, tokens and Redis URLs with credentials need not be written in
//! the file, and one config serves every environment. It is the one general mechanism: the
//! `CONTRACT_GATE_BROKERS` / `_REDIS` / `_LISTEN` flags are shortcuts kept for three common
//! fields. Expanded on the text before the YAML is parsed (so it reaches every field, string
//! or not, with no per-field code); the values taken are remembered so that no error message
//! shows them.

/// What a `${…}` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref<'a> {
    /// An environment variable.
    Env(&'a str),
    /// A file, whose contents without one trailing line break are put in.
    File(&'a str),
}

/// The text with every `${NAME}` (or `${env:NAME}`, either with `:-default`) and `${file:PATH}`
/// replaced, and the
/// values put in. `lookup` answers a variable's value (`None`: not set) or a file's contents
/// (`Err`: why it cannot be read). `$${` writes a literal `${`. Lines that are YAML comments
/// are left as they are.
///
/// # Errors
/// A variable that is not set and has no default, a file that cannot be read, or a `${` that
/// is not closed, with its line.
pub fn expand(text: &str, lookup: impl Fn(Ref<'_>) -> Result<Option<String>, String>) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut used = Vec::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(body) = tail.strip_prefix("${") {
                let Some(end) = body.find('}') else { return Err(format!("line {}: `${{` without a closing `}}`", n + 1)) };
                if let Some(path) = body[..end].strip_prefix("file:") {
                    let value = lookup(Ref::File(path)).map_err(|reason| format!("line {}: secret file {path}: {reason}", n + 1))?.unwrap_or_default();
                    let value = value.strip_suffix('\n').map_or(value.as_str(), |v| v.strip_suffix('\r').unwrap_or(v)).to_string();
                    out.push_str(&value);
                    used.push(value);
                    rest = &body[end + 1..];
                    continue;
                }
                let var = &body[..end];
                let var = var.strip_prefix("env:").unwrap_or(var);
                let (name, default) = match var.split_once(":-") {
                    Some((name, d)) => (name, Some(d)),
                    None => (var, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!("line {}: `${{{name}}}` is not a variable name (letters, digits and _)", n + 1));
                }
                let value = lookup(Ref::Env(name))?.or_else(|| default.map(str::to_string)).ok_or_else(|| format!("line {}: environment variable {name} is not set (write ${{{name}:-default}} for a default)", n + 1))?;
                out.push_str(&value);
                used.push(value);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
    }
    Ok((out, used))
}

/// `message` with each of `secrets` (four characters or longer) replaced by `***`.
#[must_use]
pub fn redact(message: &str, secrets: &[String]) -> String {
    secrets.iter().filter(|s| s.chars().count() >= 4).fold(message.to_string(), |m, s| m.replace(s.as_str(), "***"))
}

/// The password in a URL's user part (`redis://user:pw@host` → `pw`), or an empty string.
#[must_use]
pub fn password_of(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else { return String::new() };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority.rfind('@').and_then(|at| authority[..at].split_once(':')).map(|(_, pw)| pw.to_string()).unwrap_or_default()
}

/// A URL with the password of its user part replaced by `***` (`redis://:pw@host` →
/// `redis://:***@host`), for messages that name a URL.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(r: Ref<'_>) -> Result<Option<String>, String> {
        Ok(match r {
            Ref::Env("PW") => Some("s3cret!".into()),
            Ref::Env("EMPTY") => Some(String::new()),
            Ref::Env(_) => None,
            Ref::File("/run/secrets/pw") => Some("from-file\n".into()),
            Ref::File("/run/secrets/crlf") => Some("two\nlines\r\n".into()),
            Ref::File(p) => return Err(format!("cannot read {p}: No such file or directory")),
        })
    }

    #[test]
    fn expansion() {
        let cases: [(&str, Result<&str, &str>); 15] = [
            ("a: ${file:/run/secrets/pw}\n", Ok("a: from-file\n")),
            ("a: '${file:/run/secrets/crlf}'\n", Ok("a: 'two\nlines'\n")),
            ("a: 1\nb: ${file:/nope}\n", Err("line 2: secret file /nope: cannot read /nope")),
            ("a: ${PW}\n", Ok("a: s3cret!\n")),
            ("a: x${PW}y${PW}\n", Ok("a: xs3cret!ys3cret!\n")),
            ("a: ${UNSET:-fallback}\n", Ok("a: fallback\n")),
            ("a: ${EMPTY:-fallback}\n", Ok("a: \n")),
            ("a: $${PW} costs $5\n", Ok("a: ${PW} costs $5\n")),
            ("# ${UNSET} in a comment\na: 1\n", Ok("# ${UNSET} in a comment\na: 1\n")),
            ("a: 1\nb: ${UNSET}\n", Err("line 2: environment variable UNSET is not set")),
            ("a: ${PW\n", Err("line 1: `${` without a closing")),
            ("a: ${P-W}\n", Err("not a variable name")),
            ("a: ${env:PW}\n", Ok("a: s3cret!\n")),
            ("a: ${env:UNSET:-d}\n", Ok("a: d\n")),
            ("a: ${env:UNSET}\n", Err("line 1: environment variable UNSET is not set")),
        ];
        for (text, want) in cases {
            match (expand(text, env), want) {
                (Ok((got, _)), Ok(w)) => assert_eq!(got, w, "{text}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, w) => panic!("{text}: got {got:?}, want {w:?}"),
            }
        }
        assert_eq!(expand("a: ${PW}\n", env).map(|(_, used)| used), Ok(vec!["s3cret!".to_string()]));
        assert_eq!(expand("a: ${file:/run/secrets/pw}\n", env).map(|(_, used)| used), Ok(vec!["from-file".to_string()]));
    }

    /// Every kind of field takes a reference, not only the three with flags: strings, numbers,
    /// durations, booleans, enums, map values and list items, at any depth.
    #[test]
    fn references_reach_every_field() {
        let text = "\
kafka:
  brokers: ${BROKERS}
  group_id: ${env:GROUP}
  properties: { sasl.password: \"${PW}\" }
contracts:
  dir: ${DIR:-contracts}
http:
  listen: ${LISTEN}
  max_connections: ${CONNS}
bindings:
  - name: ${NAME}
    source: ${NAME}.raw
    contract: flights
    fallback: ${FALLBACK}
    strict: ${STRICT}
    breaker: { open_wait: ${WAIT}, min_records: ${MIN} }
";
        let vars = |r: Ref<'_>| {
            Ok(match r {
                Ref::Env("BROKERS") => Some("k1:9092,k2:9092".into()),
                Ref::Env("GROUP") => Some("gate-eu".into()),
                Ref::Env("PW") => Some("s3cret!".into()),
                Ref::Env("LISTEN") => Some("0.0.0.0:9000".into()),
                Ref::Env("CONNS") => Some("64".into()),
                Ref::Env("NAME") => Some("orders".into()),
                Ref::Env("FALLBACK") => Some("pause".into()),
                Ref::Env("STRICT") => Some("true".into()),
                Ref::Env("WAIT") => Some("2m".into()),
                Ref::Env("MIN") => Some("500".into()),
                _ => None,
            })
        };
        let (expanded, _) = expand(text, vars).expect("expands");
        let cfg: crate::config::GateConfig = serde_saphyr::from_str(&expanded).expect("a config");
        assert_eq!((cfg.kafka.brokers.as_str(), cfg.kafka.group_id.as_str(), cfg.http.listen.as_str(), cfg.http.max_connections), ("k1:9092,k2:9092", "gate-eu", "0.0.0.0:9000", 64));
        assert_eq!(cfg.kafka.properties.get("sasl.password").map(String::as_str), Some("s3cret!"));
        assert_eq!(cfg.contracts.dir, std::path::PathBuf::from("contracts"));
        let b = &cfg.bindings[0];
        assert_eq!((b.name.as_str(), b.source.as_str(), b.fallback, b.strict), ("orders", "orders.raw", crate::config::Fallback::Pause, true));
        assert_eq!((b.breaker.open_wait, b.breaker.min_records), (std::time::Duration::from_secs(120), 500));
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("bad value s3cret! at line 2", &["s3cret!".into(), "ab".into()]), "bad value *** at line 2");
        assert_eq!(redact_url("redis://:pw@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact_url("https://user:pa@ss@sr.example/x@y"), "https://user:***@sr.example/x@y");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact_url("https://user@sr.example"), "https://user@sr.example");
        assert_eq!(password_of("rediss://cg-test:pw:x@h:1/0"), "pw:x");
        assert_eq!(password_of("redis://h:1"), "");
    }
}
