//! Prisma's PostgreSQL connection URLs:
//! `postgresql://user:password@host:port/database?schema=...&sslmode=...&connection_limit=...`.
//!
//! `postgres::Config` parses libpq's URL form, but Prisma's URLs carry parameters libpq does
//! not know (`schema`, `connection_limit`, `pool_timeout`), so the URL is taken apart here
//! and the connection settings built from its parts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::Config;
use rustls::ClientConfig;

use super::tls::{self, Roots, Verification};
use crate::error::{Error, Result};

/// The parameters a URL may carry. Anything else is refused rather than ignored.
pub const KNOWN_PARAMETERS: [&str; 10] = [
    "schema",
    "sslmode",
    "sslaccept",
    "sslrootcert",
    "connection_limit",
    "connect_timeout",
    "pool_timeout",
    "statement_cache_size",
    "application_name",
    "host",
];

/// What a URL says: how to connect, and how the engine's pool behaves.
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub config: Config,
    /// `search_path` for every connection (Prisma's `schema`, "public" by default).
    pub schema: String,
    /// The most connections open at once, when the URL sets it.
    pub connection_limit: Option<usize>,
    /// How long a call waits for a free connection, when the URL sets it.
    pub pool_timeout: Option<Duration>,
    /// Prepared statements kept per connection (0: none are cached).
    pub statement_cache_size: usize,
    /// The URL without its password, for messages and `path_`.
    pub display: String,
    /// What the URL asks of TLS (`sslmode`, `sslaccept`, `sslrootcert`).
    pub tls: TlsRequest,
    /// The TLS settings every connection uses; `None` under `sslmode=disable`.
    pub tls_config: Option<Arc<ClientConfig>>,
}

/// The URL's TLS parameters, as written.
#[derive(Debug, Clone)]
pub struct TlsRequest {
    /// libpq's `sslmode`; `prefer` when the URL has none.
    pub sslmode: String,
    /// Prisma's `sslaccept`, when given.
    pub sslaccept: Option<String>,
    /// Where trusted roots come from.
    pub roots: Roots,
}

/// Whether `url` is a PostgreSQL URL (either scheme Prisma accepts).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgresql://") || url.starts_with("postgres://")
}

/// Take a Prisma PostgreSQL URL apart. Every mistake is an `Error::Open` naming the URL
/// (without its password) and what is wrong with it.
pub fn parse(url: &str) -> Result<PgTarget> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| {
            bad(
                &without_password(url),
                "a PostgreSQL URL starts with postgresql:// or postgres://",
            )
        })?;
    let display = without_password(url);
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = location.split_once('/').unwrap_or((location, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };

    let mut config = Config::new();
    // Prisma's defaults when the URL names no user or database.
    let mut user = "postgres".to_owned();
    if let Some(userinfo) = userinfo {
        let (name, password) = match userinfo.split_once(':') {
            Some((name, password)) => (name, Some(password)),
            None => (userinfo, None),
        };
        if !name.is_empty() {
            user = decode(&display, name)?;
        }
        if let Some(password) = password {
            config.password(decode(&display, password)?);
        }
    }
    config.user(&user);
    let database = decode(&display, database)?;
    config.dbname(if database.is_empty() {
        "postgres"
    } else {
        &database
    });

    let (host, port) = split_host_port(&display, hostport)?;
    if !host.is_empty() {
        config.host(&host);
    }
    config.port(port);
    config.connect_timeout(Duration::from_secs(5));

    let mut target = PgTarget {
        config,
        schema: "public".to_owned(),
        connection_limit: None,
        pool_timeout: None,
        statement_cache_size: 100,
        display,
        tls: TlsRequest {
            sslmode: "prefer".to_owned(),
            sslaccept: None,
            roots: Roots::System,
        },
        tls_config: None,
    };
    let mut socket_dir = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(&target.display, raw)?;
        apply(&mut target, key, &value, &mut socket_dir)?;
    }
    match (host.is_empty(), socket_dir) {
        (_, Some(dir)) => {
            target.config.host_path(dir);
        }
        (true, None) => return Err(bad(&target.display, "the URL names no host")),
        (false, None) => {}
    }
    settle_tls(&mut target)?;
    Ok(target)
}

/// Turn the URL's TLS parameters into the driver's `SslMode` and the rustls settings (see
/// `tls` for what each mode checks). Contradictory parameters are refused.
fn settle_tls(target: &mut PgTarget) -> Result<()> {
    let request = &target.tls;
    let given_roots = matches!(request.roots, Roots::File(_));
    let (mode, mut verification) = match request.sslmode.as_str() {
        "disable" => (SslMode::Disable, Verification::None),
        "prefer" => (SslMode::Prefer, Verification::None),
        // libpq: a CA file given to require makes it verify-ca.
        "require" if given_roots => (SslMode::Require, Verification::Chain),
        "require" => (SslMode::Require, Verification::None),
        "verify-ca" => (SslMode::Require, Verification::Chain),
        _ => (SslMode::Require, Verification::Full),
    };
    let sslmode = &request.sslmode;
    match request.sslaccept.as_deref() {
        Some(accept) if mode == SslMode::Disable => {
            return Err(bad(
                &target.display,
                &format!(
                    "sslaccept={accept} asks about certificates, but sslmode=disable uses no TLS"
                ),
            ))
        }
        Some("strict") => verification = Verification::Full,
        Some(_) if verification != Verification::None => {
            return Err(bad(
                &target.display,
                &format!(
                    "sslaccept=accept_invalid_certs contradicts sslmode={sslmode}, which checks \
                     the server's certificate"
                ),
            ))
        }
        _ => {}
    }
    if mode == SslMode::Disable && given_roots {
        return Err(bad(
            &target.display,
            "sslrootcert names trusted roots, but sslmode=disable uses no TLS",
        ));
    }
    target.config.ssl_mode(mode);
    if mode != SslMode::Disable {
        let config = tls::client_config(verification, &request.roots)
            .map_err(|reason| bad(&target.display, &reason))?;
        target.tls_config = Some(Arc::new(config));
    }
    Ok(())
}

fn apply(
    target: &mut PgTarget,
    key: &str,
    value: &str,
    socket_dir: &mut Option<String>,
) -> Result<()> {
    let display = target.display.clone();
    let seconds = |value: &str| -> Result<Duration> {
        value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                bad(
                    &display,
                    &format!("{key}={value:?} is not a number of seconds"),
                )
            })
    };
    let count = |value: &str| -> Result<usize> {
        value
            .parse::<usize>()
            .map_err(|_| bad(&display, &format!("{key}={value:?} is not a whole number")))
    };
    match key {
        "schema" if !value.is_empty() => value.clone_into(&mut target.schema),
        "sslmode" => match value {
            "disable" | "prefer" | "require" | "verify-ca" | "verify-full" => {
                value.clone_into(&mut target.tls.sslmode);
            }
            _ => {
                return Err(bad(
                    &display,
                    &format!(
                        "sslmode={value:?} is not one of disable, prefer, require, verify-ca, \
                         verify-full"
                    ),
                ))
            }
        },
        "sslaccept" => match value {
            "strict" | "accept_invalid_certs" => target.tls.sslaccept = Some(value.to_owned()),
            _ => {
                return Err(bad(
                    &display,
                    &format!("sslaccept={value:?} is not one of strict, accept_invalid_certs"),
                ))
            }
        },
        "sslrootcert" if !value.is_empty() => {
            target.tls.roots = Roots::File(PathBuf::from(value));
        }
        "sslcert" | "sslidentity" | "sslpassword" => {
            return Err(bad(
                &display,
                &format!(
                    "{key}: client certificates are not supported; strata authenticates with \
                     the URL's user and password"
                ),
            ))
        }
        "connection_limit" => match count(value)? {
            0 => return Err(bad(&display, "connection_limit must be at least 1")),
            limit => target.connection_limit = Some(limit),
        },
        "connect_timeout" => {
            // Prisma: 0 waits as long as the operating system does.
            let timeout = seconds(value)?;
            if !timeout.is_zero() {
                target.config.connect_timeout(timeout);
            }
        }
        "pool_timeout" => target.pool_timeout = Some(seconds(value)?),
        "statement_cache_size" => target.statement_cache_size = count(value)?,
        "application_name" => {
            target.config.application_name(value);
        }
        "host" => *socket_dir = Some(value.to_owned()),
        _ => {
            return Err(bad(
                &display,
                &format!(
                    "unknown URL parameter {key:?}; strata understands {}",
                    KNOWN_PARAMETERS.join(", ")
                ),
            ))
        }
    }
    Ok(())
}

/// `host`, `host:port`, `[::1]` or `[::1]:port`; the port is 5432 when absent.
fn split_host_port(display: &str, hostport: &str) -> Result<(String, u16)> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad(display, "an IPv6 host must be closed with ']'"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => 5432,
        Some(text) => text
            .parse::<u16>()
            .map_err(|_| bad(display, &format!("port {text:?} is not a number")))?,
    };
    Ok((decode(display, host)?, port))
}

/// Percent-decoding, as URLs carry user names, passwords and database names.
fn decode(display: &str, text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| {
                    bad(
                        display,
                        "a '%' in the URL is not followed by two hex digits",
                    )
                })?;
            out.push(hex);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(display, "a percent-encoded part is not UTF-8"))
}

/// The URL with its password left out, so that it can be shown and logged.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}@{hostport}{tail}")
        }
        None => url.to_owned(),
    }
}

fn bad(display: &str, reason: &str) -> Error {
    Error::Open {
        path: display.to_owned(),
        reason: reason.to_owned(),
    }
}
