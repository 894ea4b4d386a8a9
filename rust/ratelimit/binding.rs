//! The binding: the `Spec` Python validated against the user's model, with the
//! `Statements` the dialect wrote for it (`strata.dialects.sqlite.ratelimit`), and the
//! `KeyPart`s a hit passes for its key columns. The limiter writes no SQL of its own.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;

use crate::time::Format;

/// One key value: a `String` field's text or an `Int`/`BigInt` field's integer. Hashable,
/// unlike `rusqlite::Value`, so that keys can index the denial cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Text(String),
    Int(i64),
}

impl ToSql for KeyPart {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            KeyPart::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            KeyPart::Int(number) => ToSqlOutput::Borrowed(ValueRef::Integer(*number)),
        })
    }
}

impl KeyPart {
    pub fn value(&self) -> rusqlite::types::Value {
        match self {
            KeyPart::Text(text) => rusqlite::types::Value::Text(text.clone()),
            KeyPart::Int(number) => rusqlite::types::Value::Integer(*number),
        }
    }
}

/// What the rows of the bound model hold (see the module comment of `ratelimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A row per key and window: its start and count.
    Window,
    /// A row per key: its theoretical arrival time.
    Gcra,
}

/// The statements of one binding, as the dialect wrote them (see
/// `strata.dialects.base.RateLimitStatements` for each one's parameters and result).
#[derive(Debug, Clone)]
pub struct Statements {
    /// The key's newest two `(window start, count)` rows, newest first (window), or its
    /// `(tat)` row (gcra). Parameters: the key.
    pub state: String,
    /// The conditional upsert. Parameters: id, key, stored values, created and updated
    /// stamps, then the guard; returns the stored count or arrival time.
    pub upsert: String,
    /// Parameters: the key.
    pub delete_key: String,
    /// Parameters: the age bound, the batch size.
    pub cleanup: String,
    /// The `rule=` row's limit and window; None without a config model. Parameter: the
    /// rule's name.
    pub rule: Option<String>,
    /// A hit with a given limit in one statement, counted only when allowed (gcra, or a
    /// fixed window), and the same for a sliding window; None where the dialect has none
    /// (PostgreSQL's `upsert` is already one statement). Parameters: see
    /// `strata.dialects.sqlite.ratelimit`.
    pub hit: Option<String>,
    pub hit_sliding: Option<String>,
}

/// The binding, as Python validated it against the schema.
#[derive(Debug, Clone)]
pub struct Spec {
    /// How many key columns a hit gives values for.
    pub keys: usize,
    pub shape: Shape,
    /// Whether the client generates ids (`@default(uuid())`, `cuid()`...): each new row
    /// then takes one id from the caller, the upsert's first parameter.
    pub client_ids: bool,
    /// The stored forms of the `DateTime` columns set to the current time on insert
    /// (`@default(now())`), then of the `@updatedAt` ones, in the upsert's order.
    pub stamps: Vec<Format>,
    /// The window start column's stored form (detected from its data by Python).
    pub datetime_format: Format,
    pub statements: Statements,
}
