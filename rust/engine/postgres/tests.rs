//! What can be checked without a server: URLs, numeric decoding and parameter text. The
//! engine itself is tested on a real server by `tests/test_postgres_engine.py`.

use bytes::BytesMut;
use postgres::config::{Host, SslMode};
use postgres::types::{Format, IsNull, ToSql, Type};

use super::url::{parse, without_password};
use super::value::{numeric_text, timetz_utc};
use super::Param;
use crate::error::Error;

#[test]
fn prisma_urls_are_taken_apart() {
    let target =
        parse("postgresql://al%40ice:p%3Ass@db.local:6543/my%20db?schema=app&connection_limit=3&pool_timeout=2.5&sslmode=disable")
            .unwrap();
    assert_eq!(target.config.get_user(), Some("al@ice"));
    assert_eq!(target.config.get_password(), Some(&b"p:ss"[..]));
    assert_eq!(target.config.get_dbname(), Some("my db"));
    assert_eq!(target.config.get_hosts(), &[Host::Tcp("db.local".into())]);
    assert_eq!(target.config.get_ports(), &[6543]);
    assert_eq!(target.config.get_ssl_mode(), SslMode::Disable);
    assert_eq!(target.schema, "app");
    assert_eq!(target.connection_limit, Some(3));
    assert_eq!(target.pool_timeout.map(|t| t.as_secs_f64()), Some(2.5));
    assert_eq!(
        target.display,
        "postgresql://al%40ice@db.local:6543/my%20db?schema=app&connection_limit=3&pool_timeout=2.5&sslmode=disable"
    );
}

#[test]
fn url_defaults_follow_prisma() {
    let target = parse("postgres://[::1]/").unwrap();
    assert_eq!(target.config.get_user(), Some("postgres"));
    assert_eq!(target.config.get_dbname(), Some("postgres"));
    assert_eq!(target.config.get_ports(), &[5432]);
    assert_eq!(target.schema, "public");
    assert_eq!(target.connection_limit, None);
    assert_eq!(target.statement_cache_size, 100);
}

#[test]
fn bad_urls_are_refused_without_their_password() {
    for (url, needle) in [
        (
            "postgresql://u:pw@h/db?sslmode=allow",
            "not one of disable, prefer",
        ),
        (
            "postgresql://u:pw@h/db?sslaccept=lenient",
            "not one of strict",
        ),
        (
            "postgresql://u:pw@h/db?sslcert=c.pem",
            "client certificates are not supported",
        ),
        (
            "postgresql://u:pw@h/db?sslidentity=id.p12",
            "client certificates",
        ),
        (
            "postgresql://u:pw@h/db?sslmode=disable&sslaccept=strict",
            "uses no TLS",
        ),
        (
            "postgresql://u:pw@h/db?sslmode=disable&sslrootcert=ca.pem",
            "uses no TLS",
        ),
        (
            "postgresql://u:pw@h/db?sslmode=verify-full&sslaccept=accept_invalid_certs",
            "contradicts sslmode=verify-full",
        ),
        (
            "postgresql://u:pw@h/db?sslmode=verify-ca&sslrootcert=/no/such/ca.pem",
            "sslrootcert=/no/such/ca.pem cannot be read",
        ),
        ("postgresql://u:pw@h/db?nope=1", "unknown URL parameter"),
        ("postgresql://u:pw@h:99999/db", "is not a number"),
        ("postgresql://u:pw@h/db?connection_limit=0", "at least 1"),
        ("postgresql://u:pw@/db", "names no host"),
        ("postgresql://u:pw@h/d%zz", "two hex digits"),
    ] {
        match parse(url) {
            Err(Error::Open { path, reason }) => {
                assert!(reason.contains(needle), "{url}: {reason}");
                assert!(!path.contains("pw"), "{path}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn sslmodes_map_to_the_driver_and_a_tls_setup() {
    for (query, mode, tls) in [
        ("", SslMode::Prefer, true),
        ("?sslmode=disable", SslMode::Disable, false),
        ("?sslmode=prefer", SslMode::Prefer, true),
        ("?sslmode=require", SslMode::Require, true),
        (
            "?sslmode=require&sslaccept=accept_invalid_certs",
            SslMode::Require,
            true,
        ),
        ("?sslmode=verify-full", SslMode::Require, true),
    ] {
        let target = parse(&format!("postgresql://u@h/db{query}")).unwrap();
        assert_eq!(target.config.get_ssl_mode(), mode, "{query}");
        assert_eq!(target.tls_config.is_some(), tls, "{query}");
    }
}

#[test]
fn passwords_are_left_out_of_shown_urls() {
    assert_eq!(
        without_password("postgresql://u:secret@h/db?x=1"),
        "postgresql://u@h/db?x=1"
    );
    assert_eq!(without_password("postgresql://h/db"), "postgresql://h/db");
}

/// numeric's binary form: count, weight, sign, scale, then base-10000 digits.
fn numeric(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
    let mut raw = Vec::new();
    for word in [
        u16::try_from(digits.len()).unwrap(),
        u16::from_ne_bytes(weight.to_ne_bytes()),
        sign,
        scale,
    ] {
        raw.extend_from_slice(&word.to_be_bytes());
    }
    for digit in digits {
        raw.extend_from_slice(&digit.to_be_bytes());
    }
    raw
}

#[test]
fn numerics_decode_to_exact_text() {
    assert_eq!(numeric_text(&numeric(0, 0, 0, &[])).unwrap(), "0");
    assert_eq!(
        numeric_text(&numeric(1, 0, 2, &[1, 2345, 6700])).unwrap(),
        "12345.67"
    );
    assert_eq!(
        numeric_text(&numeric(-2, 0x4000, 6, &[1200])).unwrap(),
        "-0.000012"
    );
    assert_eq!(numeric_text(&numeric(2, 0, 0, &[1])).unwrap(), "100000000");
    assert_eq!(numeric_text(&numeric(0, 0, 1, &[5, 5000])).unwrap(), "5.5");
    assert_eq!(numeric_text(&numeric(0, 0xC000, 0, &[])).unwrap(), "NaN");
    assert_eq!(
        numeric_text(&numeric(0, 0xF000, 0, &[])).unwrap(),
        "-Infinity"
    );
    assert!(numeric_text(&[0, 1]).is_err());
}

#[test]
fn timetz_decodes_to_the_utc_time_of_day() {
    const HOUR: i64 = 3_600_000_000;
    let timetz = |micros: i64, west: i32| {
        let mut raw = micros.to_be_bytes().to_vec();
        raw.extend_from_slice(&west.to_be_bytes());
        raw
    };
    // 11:30+02:00 is 09:30 UTC; 01:00+02:00 is 23:00 UTC the day before; 23:00-03:00 is
    // 02:00 UTC the day after.
    assert_eq!(
        timetz_utc(&timetz(11 * HOUR + HOUR / 2, -7200)).unwrap(),
        9 * HOUR + HOUR / 2
    );
    assert_eq!(timetz_utc(&timetz(HOUR, -7200)).unwrap(), 23 * HOUR);
    assert_eq!(timetz_utc(&timetz(23 * HOUR, 10800)).unwrap(), 2 * HOUR);
    assert!(timetz_utc(&[0; 8]).is_err());
}

/// The format a parameter is sent in (true: binary) and its bytes, or None for NULL.
fn sent(param: &Param, ty: &Type) -> (bool, Option<String>) {
    let mut out = BytesMut::new();
    let null = matches!(param.to_sql(ty, &mut out).unwrap(), IsNull::Yes);
    let text = (!null).then(|| String::from_utf8_lossy(&out).into_owned());
    (matches!(param.encode_format(ty), Format::Binary), text)
}

#[test]
fn parameters_are_sent_as_text_the_server_parses() {
    assert_eq!(sent(&Param::Null, &Type::INT4), (false, None));
    assert_eq!(sent(&Param::Int(-7), &Type::NUMERIC).1.unwrap(), "-7");
    assert_eq!(
        sent(&Param::Float(f64::NEG_INFINITY), &Type::FLOAT8)
            .1
            .unwrap(),
        "-Infinity"
    );
    assert_eq!(
        sent(&Param::Float(1e300), &Type::FLOAT8).1.unwrap(),
        "1e300"
    );
    assert_eq!(
        sent(&Param::Bool(true), &Type::BOOL),
        (false, Some("true".into()))
    );
    assert_eq!(
        sent(&Param::Bytes(vec![0, 255]), &Type::BYTEA),
        (true, Some("\0\u{fffd}".into()))
    );
    let at = Param::DateTime {
        text: "2024-01-01T02:00:00+02:00".into(),
        utc: Some("2024-01-01T00:00:00".into()),
    };
    assert_eq!(
        sent(&at, &Type::TIMESTAMP).1.unwrap(),
        "2024-01-01T00:00:00"
    );
    assert_eq!(
        sent(&at, &Type::TIMESTAMPTZ).1.unwrap(),
        "2024-01-01T02:00:00+02:00"
    );
}

#[test]
fn lists_are_arrays_or_json_by_the_parameter_type() {
    let list = Param::List {
        json: Some(r#"["a\"b", null]"#.into()),
        items: Some(vec![
            Param::Text("a\"b\\c,{}".into()),
            Param::Null,
            Param::List {
                json: None,
                items: Some(vec![Param::Int(1)]),
            },
        ]),
    };
    assert_eq!(
        sent(&list, &Type::TEXT_ARRAY).1.unwrap(),
        r#"{"a\"b\\c,{}",NULL,{"1"}}"#
    );
    assert_eq!(sent(&list, &Type::JSONB).1.unwrap(), r#"["a\"b", null]"#);
    let unjsonable = Param::List {
        json: None,
        items: Some(vec![]),
    };
    let mut out = BytesMut::new();
    assert!(unjsonable.to_sql(&Type::JSON, &mut out).is_err());
}
