//! What a transaction block may ask for beyond BEGIN: an isolation level and a deadline.
//!
//! PostgreSQL runs the level asked for (read committed when none is). `SQLite` has one
//! level, serializable (one writer at a time, `BEGIN IMMEDIATE`), which gives every
//! guarantee the weaker levels promise, so each name is accepted there and runs as it.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    /// The level named `read_committed`, `repeatable_read` or `serializable`, as SQL
    /// spells it (`"REPEATABLE READ"`) or as Prisma's `isolationLevel` does
    /// (`"RepeatableRead"`).
    pub fn parse(name: &str) -> Result<Isolation> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "readcommitted" => Ok(Isolation::ReadCommitted),
            "repeatableread" => Ok(Isolation::RepeatableRead),
            "serializable" => Ok(Isolation::Serializable),
            _ => Err(Error::Transaction(format!(
                "unknown isolation level {name:?}; use \"read_committed\", \
                 \"repeatable_read\" or \"serializable\""
            ))),
        }
    }

    /// The words of `BEGIN ISOLATION LEVEL ...`.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::RepeatableRead => "repeatable_read",
            Isolation::Serializable => "serializable",
        }
    }
}

/// The options of one `transaction_()` block.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxOptions {
    pub isolation: Option<Isolation>,
    pub timeout: Option<Duration>,
}

impl TxOptions {
    pub fn deadline(&self, started: Instant) -> Option<Instant> {
        self.timeout.map(|timeout| started + timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::Isolation;

    #[test]
    fn levels_are_named_as_python_or_as_sql() {
        for (name, level) in [
            ("read_committed", Isolation::ReadCommitted),
            ("REPEATABLE READ", Isolation::RepeatableRead),
            ("Serializable", Isolation::Serializable),
            ("read-committed", Isolation::ReadCommitted),
            ("RepeatableRead", Isolation::RepeatableRead),
        ] {
            assert_eq!(Isolation::parse(name).unwrap(), level);
        }
        assert_eq!(Isolation::RepeatableRead.sql(), "REPEATABLE READ");
        let refused = Isolation::parse("snapshot").unwrap_err().to_string();
        assert!(
            refused.contains("unknown isolation level \"snapshot\""),
            "{refused}"
        );
    }
}
