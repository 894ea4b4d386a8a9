//! Named parameters (`:now`, `:token`) turned into PostgreSQL's numbered ones (`$1`).
//!
//! The features' statements are written once per binding with named parameters, the
//! form `SQLite` takes as it is (rust/queue.rs). PostgreSQL numbers its parameters, so the
//! core renumbers each statement once, when it first runs it: every distinct name gets the
//! next number, a name used twice reuses its number, and the names come back in number
//! order for binding. Text inside string literals, quoted identifiers and comments is left
//! alone, and so is `::`, PostgreSQL's cast. Dollar-quoted bodies are not recognised: the
//! dialects' statements have none.

/// A statement in PostgreSQL's form and the name bound to each of its parameters:
/// `names[k]` (with its colon) is `$k+1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub sql: String,
    pub names: Vec<String>,
}

#[must_use]
pub fn numbered(sql: &str) -> Numbered {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            quote @ (b'\'' | b'"') => at = skip_quoted(bytes, at, quote),
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |end| at + end);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| at + end + 4);
            }
            b':' if bytes.get(at + 1) == Some(&b':') => at += 2,
            b':' if bytes.get(at + 1).is_some_and(|&b| is_name_start(b)) => {
                let end = bytes[at + 1..]
                    .iter()
                    .position(|&b| !is_name_part(b))
                    .map_or(bytes.len(), |len| at + 1 + len);
                let name = &sql[at..end];
                let number = if let Some(index) = names.iter().position(|known| known == name) {
                    index + 1
                } else {
                    names.push(name.to_owned());
                    names.len()
                };
                out.push_str(&sql[copied..at]);
                out.push('$');
                out.push_str(&number.to_string());
                copied = end;
                at = end;
            }
            _ => at += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Numbered { sql: out, names }
}

/// The index just past the quoted text starting at `start`; a doubled quote is part of it.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        if bytes[at] == quote {
            if bytes.get(at + 1) == Some(&quote) {
                at += 2;
                continue;
            }
            return at + 1;
        }
        at += 1;
    }
    bytes.len()
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_name_part(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_numbers_in_order_of_first_use() {
        let out = numbered("UPDATE t SET a = :now, b = :token WHERE c <= :now AND d = :id_2");
        assert_eq!(
            out.sql,
            "UPDATE t SET a = $1, b = $2 WHERE c <= $1 AND d = $3"
        );
        assert_eq!(out.names, [":now", ":token", ":id_2"]);
    }

    #[test]
    fn literals_identifiers_comments_and_casts_are_left_alone() {
        let sql = "SELECT ':a', \"b:c\", x::int, 'it''s :d' -- :e\n, :f /* :g */ FROM t";
        let out = numbered(sql);
        assert_eq!(
            out.sql,
            "SELECT ':a', \"b:c\", x::int, 'it''s :d' -- :e\n, $1 /* :g */ FROM t"
        );
        assert_eq!(out.names, [":f"]);
    }

    #[test]
    fn a_cast_after_a_parameter_is_kept() {
        let out = numbered("SELECT :a::timestamp, :1");
        assert_eq!(out.sql, "SELECT $1::timestamp, :1");
        assert_eq!(out.names, [":a"]);
    }
}
