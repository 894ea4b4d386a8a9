//! The binding: the `Spec` Python validated against the user's model (quoted table and
//! column names, the stored shape, the config model for `rule=`), the `KeyPart`s a hit
//! passes for its key columns, and the `Statements` built from the spec once. All of the
//! limiter's SQL text is here.

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

/// What the rows of the bound model hold (see the module comment).
#[derive(Debug, Clone)]
pub enum Shape {
    Window { count: String, window_start: String },
    Gcra { tat: String },
}

/// The SystemConfig-like model that `rule=` reads: a unique text key and a JSON value.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub table: String,
    pub key: String,
    pub value: String,
}

/// The binding, as Python validated it against the schema. Every name is already quoted.
#[derive(Debug, Clone)]
pub struct Spec {
    pub table: String,
    /// The key columns, in the order `hit` receives their values.
    pub keys: Vec<String>,
    /// The columns of the unique index the upsert's `ON CONFLICT` names: the keys plus the
    /// window start (window shape) or the keys alone (gcra), in the index's own order.
    pub conflict: Vec<String>,
    pub shape: Shape,
    /// The id column when the client generates ids (`@default(uuid())`, `cuid()`...); each
    /// new row takes one id from the caller. None when the database assigns it.
    pub id: Option<String>,
    /// `DateTime` columns set to the current time on insert (`@default(now())`), each with
    /// its stored form.
    pub created: Vec<(String, Format)>,
    /// `@updatedAt` columns: set on insert and on every update.
    pub updated: Vec<(String, Format)>,
    /// The window start column's stored form (detected from its data by Python).
    pub datetime_format: Format,
    pub config: Option<ConfigSpec>,
}

/// The statements of one binding, built once.
#[derive(Debug)]
pub(super) struct Statements {
    /// The key's newest two rows (window) or its row (gcra).
    pub(super) state: String,
    pub(super) upsert: String,
    pub(super) delete_key: String,
    pub(super) cleanup: String,
    pub(super) rule: Option<String>,
}

fn key_filter(keys: &[String]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl Statements {
    pub(super) fn new(spec: &Spec) -> Statements {
        let table = &spec.table;
        let filter = key_filter(&spec.keys);
        let (stored, state, set, guard, cleanup_column) = match &spec.shape {
            Shape::Window {
                count,
                window_start,
            } => (
                vec![window_start.clone(), count.clone()],
                format!(
                    "SELECT {window_start}, {count} FROM {table} WHERE {filter} \
                     ORDER BY {window_start} DESC LIMIT 2"
                ),
                format!("{count} = {count} + excluded.{count}"),
                // The bound, repeated in the statement: the update cannot pass it.
                format!("{count} + excluded.{count} <= ?"),
                window_start.clone(),
            ),
            Shape::Gcra { tat } => (
                vec![tat.clone()],
                format!("SELECT {tat} FROM {table} WHERE {filter}"),
                format!("{tat} = excluded.{tat}"),
                // Compare-and-set on the arrival time that the decision was made from.
                format!("{tat} = ?"),
                tat.clone(),
            ),
        };
        let mut columns: Vec<String> = spec.id.iter().cloned().collect();
        columns.extend(spec.keys.iter().cloned());
        columns.extend(stored);
        columns.extend(spec.created.iter().map(|(column, _)| column.clone()));
        columns.extend(spec.updated.iter().map(|(column, _)| column.clone()));
        let placeholders = (1..=columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut updates = vec![set];
        updates.extend(
            spec.updated
                .iter()
                .map(|(c, _)| format!("{c} = excluded.{c}")),
        );
        let guard = guard.replace('?', &format!("?{}", columns.len() + 1));
        let returned = match &spec.shape {
            Shape::Window { count, .. } => count,
            Shape::Gcra { tat } => tat,
        };
        let upsert = format!(
            "INSERT INTO {table} ({}) VALUES ({placeholders}) ON CONFLICT ({}) DO UPDATE SET {} \
             WHERE {guard} RETURNING {returned}",
            columns.join(", "),
            spec.conflict.join(", "),
            updates.join(", "),
        );
        let rule = spec.config.as_ref().map(|config| {
            format!(
                "SELECT json_extract({v}, '$.limit'), json_extract({v}, '$.window') \
                 FROM {t} WHERE {k} = ?1",
                v = config.value,
                t = config.table,
                k = config.key,
            )
        });
        Statements {
            state,
            upsert,
            delete_key: format!("DELETE FROM {table} WHERE {filter}"),
            // Bounded batches through the rowid, so that each transaction stays short and
            // other writers get the lock in between.
            cleanup: format!(
                "DELETE FROM {table} WHERE rowid IN \
                 (SELECT rowid FROM {table} WHERE {cleanup_column} < ?1 LIMIT ?2)"
            ),
            rule,
        }
    }
}
