//! `strata_json_match(document, filter)`: Prisma Client's Json filters, evaluated exactly.
//!
//! The client (`strata/client/where.py`) compiles `{"path": [...], "equals": ...}` and the
//! other Json filters into calls of this SQL function, which the engine registers on every
//! connection it opens. `SQLite` 3.40's JSON1 cannot answer them exactly on its own: it has
//! no comparison that ignores the order of object keys, its JSON paths cannot name a key
//! holding a `"`, and `json_each`/`json_extract` cut a decoded string at an escaped NUL
//! (`\u0000`). Here the stored document is parsed in full and compared value by value.
//!
//! `filter` is JSON text the client writes: `[path, operator, operand]`. `path` lists object
//! keys (strings) and array indices (non-negative integers); a string of decimal digits also
//! indexes an array, as in the `PostgreSQL` path arrays Prisma takes. The result follows SQL's
//! three-valued logic: NULL when the document is NULL or the path leads nowhere (so `NOT` of
//! it matches neither), else 1 or 0. The exception is `is_null`, which is 1 for a JSON null,
//! a missing path and a NULL column alike, since all three read back as Python's None.
//!
//! Values compare as JSON values: objects whatever their key order, numbers by value (`1`
//! equals `1.0`, as in Python and `PostgreSQL`), `true` never equal to `1`. Integers beyond 64
//! bits are read as doubles, as `SQLite` reads them.

use std::collections::BTreeMap;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The name the client calls.
pub const FUNCTION_NAME: &str = "strata_json_match";

/// Deeper documents are refused rather than risk the stack (`SQLite`'s own limit is 1000).
const MAX_DEPTH: usize = 1000;

/// A parsed JSON value.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// UTF-8 bytes. An escaped lone surrogate is kept in its 3-byte generalised UTF-8 form,
    /// so such a string equals no valid one.
    Str(Vec<u8>),
    Array(Vec<Json>),
    /// Keys in byte order; a repeated key keeps its last value, as Python's `json` does.
    Object(BTreeMap<Vec<u8>, Json>),
}

/// Whether two JSON values are equal (see the module documentation).
pub fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Int(x), Json::Int(y)) => x == y,
        // Exact equality is the point here: these are parsed values, not computed ones.
        #[allow(clippy::float_cmp)]
        (Json::Float(x), Json::Float(y)) => x == y,
        (Json::Int(i), Json::Float(f)) | (Json::Float(f), Json::Int(i)) => int_equals_float(*i, *f),
        (Json::Str(x), Json::Str(y)) => x == y,
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, a)| y.get(key).is_some_and(|b| equal(a, b)))
        }
        _ => false,
    }
}

/// `i == f` without rounding either side, as Python compares an int with a float.
fn int_equals_float(i: i64, f: f64) -> bool {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    // In range and whole, `f` converts to i64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    let whole = f as i64;
    f.fract() == 0.0 && (-TWO_TO_63..TWO_TO_63).contains(&f) && whole == i
}

/// Parse JSON text (strict JSON, as `SQLite` 3.40 and `JSON.stringify` write it).
pub fn parse(text: &[u8]) -> Result<Json, String> {
    let mut parser = Parser {
        text,
        at: 0,
        depth: 0,
    };
    parser.skip_space();
    let value = parser.value()?;
    parser.skip_space();
    if parser.at != text.len() {
        return Err(parser.error("the end of the text"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn error(&self, expected: &str) -> String {
        format!("expected {expected} at byte {}", self.at)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("a JSON value"))
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("JSON nested deeper than {MAX_DEPTH} levels"));
        }
        self.at += 1; // the opening bracket
        self.skip_space();
        Ok(())
    }

    /// After an item: true for a comma (more to come), false for the closing `close`.
    fn next_item(&mut self, close: u8) -> Result<bool, String> {
        self.skip_space();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_space();
                Ok(true)
            }
            Some(byte) if byte == close => {
                self.at += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(self.error(if close == b']' {
                "',' or ']'"
            } else {
                "',' or '}'"
            })),
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.nest()?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            if !self.next_item(b']')? {
                return Ok(Json::Array(items));
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.nest()?;
        let mut members = BTreeMap::new();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Json::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("a string key"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.error("':'"));
            }
            self.at += 1;
            self.skip_space();
            members.insert(key, self.value()?);
            if !self.next_item(b'}')? {
                return Ok(Json::Object(members));
            }
        }
    }

    /// A string token, decoded: escapes resolved, surrogate pairs joined.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.at += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(stop) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err("an unterminated JSON string".into());
            };
            out.extend_from_slice(&rest[..stop]);
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Ok(out);
            }
            let escape = self.peek();
            self.at += 1;
            match escape {
                Some(b'"') => out.push(b'"'),
                Some(b'\\') => out.push(b'\\'),
                Some(b'/') => out.push(b'/'),
                Some(b'b') => out.push(0x08),
                Some(b'f') => out.push(0x0c),
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(b'u') => {
                    let unit = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&unit)
                        && self.text[self.at..].starts_with(b"\\u")
                    {
                        // A high surrogate: joined with a low one that follows, else alone.
                        let saved = self.at;
                        self.at += 2;
                        let low = self.hex4()?;
                        if (0xDC00..0xE000).contains(&low) {
                            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            self.at = saved;
                            unit
                        }
                    } else {
                        unit
                    };
                    push_code_point(&mut out, code);
                }
                _ => return Err(self.error("a valid escape")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .ok_or_else(|| self.error("four hex digits"))?;
        self.at += 4;
        Ok(digits)
    }

    fn digits(&mut self) -> Result<(), String> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("a digit"));
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0') {
            self.at += 1;
        } else {
            self.digits()?;
        }
        let mut whole = true;
        if self.peek() == Some(b'.') {
            whole = false;
            self.at += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            whole = false;
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        // The grammar above admits ASCII only.
        let text = std::str::from_utf8(&self.text[start..self.at]).map_err(|e| e.to_string())?;
        if whole {
            if let Ok(number) = text.parse::<i64>() {
                return Ok(Json::Int(number));
            }
        }
        // Rust's float parsing rounds correctly, as Python's does.
        text.parse::<f64>()
            .map(Json::Float)
            .map_err(|e| e.to_string())
    }
}

/// Append `code` in UTF-8, or a lone surrogate in its generalised 3-byte form.
fn push_code_point(out: &mut Vec<u8>, code: u32) {
    if let Some(c) = char::from_u32(code) {
        let mut buffer = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
    } else {
        // Only surrogates reach here (code <= 0xFFFF), so each part fits in a byte.
        #[allow(clippy::cast_possible_truncation)]
        out.extend_from_slice(&[
            0xE0 | (code >> 12) as u8,
            0x80 | ((code >> 6) & 0x3F) as u8,
            0x80 | (code & 0x3F) as u8,
        ]);
    }
}

/// One step of a path.
#[derive(Debug)]
enum Step {
    /// An object key; when it is a decimal number, also an array index.
    Key(Vec<u8>, Option<usize>),
    Index(usize),
}

/// What the value at the path is tested for.
#[derive(Debug)]
enum Test {
    IsNull,
    Equals(Json),
    StringContains(Vec<u8>),
    StringStartsWith(Vec<u8>),
    StringEndsWith(Vec<u8>),
    ArrayContains(Json),
    ArrayStartsWith(Json),
    ArrayEndsWith(Json),
}

/// A parsed `[path, operator, operand]`.
#[derive(Debug)]
pub struct Filter {
    path: Vec<Step>,
    test: Test,
}

impl Filter {
    pub fn parse(text: &[u8]) -> Result<Filter, String> {
        let malformed = || "a Json filter is [path, operator, operand]".to_owned();
        let Json::Array(parts) = parse(text)? else {
            return Err(malformed());
        };
        let [Json::Array(steps), Json::Str(operator), operand] =
            <[Json; 3]>::try_from(parts).map_err(|_| malformed())?
        else {
            return Err(malformed());
        };
        let path = steps
            .into_iter()
            .map(|step| match step {
                Json::Str(key) => {
                    let index = decimal_index(&key);
                    Ok(Step::Key(key, index))
                }
                Json::Int(index) => usize::try_from(index)
                    .map(Step::Index)
                    .map_err(|_| "an array index must be >= 0".to_owned()),
                _ => Err("a path step is a string key or an integer index".to_owned()),
            })
            .collect::<Result<_, _>>()?;
        let text_operand = |operand: Json| match operand {
            Json::Str(text) => Ok(text),
            _ => Err(format!(
                "{} takes a string",
                String::from_utf8_lossy(&operator)
            )),
        };
        let check = match operator.as_slice() {
            b"is_null" => Test::IsNull,
            b"equals" => Test::Equals(operand),
            b"string_contains" => Test::StringContains(text_operand(operand)?),
            b"string_starts_with" => Test::StringStartsWith(text_operand(operand)?),
            b"string_ends_with" => Test::StringEndsWith(text_operand(operand)?),
            b"array_contains" => Test::ArrayContains(operand),
            b"array_starts_with" => Test::ArrayStartsWith(operand),
            b"array_ends_with" => Test::ArrayEndsWith(operand),
            other => {
                return Err(format!(
                    "unknown Json filter operator {:?}",
                    String::from_utf8_lossy(other)
                ))
            }
        };
        Ok(Filter { path, test: check })
    }

    /// The filter's answer for `document` (None for SQL NULL): see the module documentation.
    pub fn evaluate(&self, document: Option<&Json>) -> Option<bool> {
        let node = document.and_then(|document| self.find(document));
        if matches!(self.test, Test::IsNull) {
            return Some(matches!(node, None | Some(Json::Null)));
        }
        let node = node?;
        let text = match node {
            Json::Str(text) => Some(text.as_slice()),
            _ => None,
        };
        let items = match node {
            Json::Array(items) => Some(items.as_slice()),
            _ => None,
        };
        Some(match &self.test {
            Test::IsNull => unreachable!("answered above"),
            Test::Equals(operand) => equal(node, operand),
            Test::StringContains(part) => {
                text.is_some_and(|text| memchr::memmem::find(text, part).is_some())
            }
            Test::StringStartsWith(part) => text.is_some_and(|text| text.starts_with(part)),
            Test::StringEndsWith(part) => text.is_some_and(|text| text.ends_with(part)),
            Test::ArrayContains(Json::Array(wanted)) => items.is_some_and(|items| {
                wanted
                    .iter()
                    .all(|want| items.iter().any(|item| equal(item, want)))
            }),
            Test::ArrayContains(want) => {
                items.is_some_and(|items| items.iter().any(|item| equal(item, want)))
            }
            Test::ArrayStartsWith(want) => {
                items.is_some_and(|items| items.first().is_some_and(|item| equal(item, want)))
            }
            Test::ArrayEndsWith(want) => {
                items.is_some_and(|items| items.last().is_some_and(|item| equal(item, want)))
            }
        })
    }

    fn find<'j>(&self, document: &'j Json) -> Option<&'j Json> {
        let mut node = document;
        for step in &self.path {
            node = match (node, step) {
                (Json::Object(members), Step::Key(key, _)) => members.get(key)?,
                (Json::Array(items), Step::Index(index) | Step::Key(_, Some(index))) => {
                    items.get(*index)?
                }
                _ => return None,
            };
        }
        Some(node)
    }
}

/// `"12"` -> 12, for a key that also indexes arrays; None for anything else (`"012"`, `"-1"`).
fn decimal_index(key: &[u8]) -> Option<usize> {
    let canonical =
        !key.is_empty() && key.iter().all(u8::is_ascii_digit) && (key.len() == 1 || key[0] != b'0');
    if !canonical {
        return None;
    }
    std::str::from_utf8(key).ok()?.parse().ok()
}

/// The stored value of a Json column as a document. The column has NUMERIC affinity
/// (Prisma's `JSONB` type), so a JSON number may be stored as an INTEGER or a REAL.
fn document(value: ValueRef<'_>) -> Result<Option<Json>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(number) => Ok(Some(Json::Int(number))),
        ValueRef::Real(number) => Ok(Some(Json::Float(number))),
        ValueRef::Text(text) => parse(text)
            .map(Some)
            .map_err(|e| format!("a stored Json value is not valid JSON: {e}")),
        ValueRef::Blob(_) => Err("a Json column holds a BLOB, not JSON text".into()),
    }
}

/// Register `strata_json_match` on `conn`. The filter (a constant of the statement) is
/// parsed once per statement and kept with it.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        FUNCTION_NAME,
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let filter = ctx.get_or_create_aux(1, |value| match value {
                ValueRef::Text(text) => Filter::parse(text),
                _ => Err("a Json filter is JSON text".to_owned()),
            })?;
            let document = document(ctx.get_raw(0))
                .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            Ok(filter.evaluate(document.as_ref()).map(i64::from))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(document: &str, filter: &str) -> Option<bool> {
        let document = parse(document.as_bytes()).unwrap();
        Filter::parse(filter.as_bytes())
            .unwrap()
            .evaluate(Some(&document))
    }

    #[test]
    fn objects_are_equal_whatever_the_key_order() {
        let a = parse(br#"{"a": 1, "b": [1, {"x": null, "y": "z"}]}"#).unwrap();
        let b = parse(br#"{"b":[1.0,{"y":"z","x":null}],"a":1}"#).unwrap();
        assert!(equal(&a, &b));
        let c = parse(br#"{"b":[{"y":"z","x":null},1],"a":1}"#).unwrap();
        assert!(!equal(&a, &c), "array order matters");
    }

    #[test]
    fn numbers_compare_by_value_and_booleans_are_not_numbers() {
        assert!(equal(&Json::Int(1), &Json::Float(1.0)));
        assert!(!equal(&Json::Int(1), &Json::Bool(true)));
        assert!(!equal(
            &Json::Int(9_007_199_254_740_993),
            &Json::Float(9_007_199_254_740_992.0)
        ));
        assert!(!equal(
            &Json::Int(i64::MAX),
            &Json::Float(9.223_372_036_854_776e18)
        ));
    }

    #[test]
    fn escapes_decode_exactly_including_nul_and_surrogates() {
        let Json::Str(text) = parse(br#""a\u0000b\"\\\/\ud83d\ude00\u00e9""#).unwrap() else {
            panic!("not a string");
        };
        assert_eq!(text, "a\0b\"\\/😀é".as_bytes());
        let Json::Str(lone) = parse(br#""\ud800x""#).unwrap() else {
            panic!("not a string");
        };
        assert_eq!(lone, [0xED, 0xA0, 0x80, b'x']);
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "tru",
            "01x",
            "\"abc",
            "1 2",
            "NaN",
        ] {
            assert!(parse(text.as_bytes()).is_err(), "{text}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn paths_follow_keys_and_indices() {
        let doc = r#"{"a": {"b.c": [10, {"$": "x\u0000y"}]}, "0": "zero"}"#;
        assert_eq!(
            matches(doc, r#"[["a", "b.c", 1, "$"], "equals", "x\u0000y"]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["a", "b.c", "0"], "equals", 10]"#),
            Some(true)
        );
        assert_eq!(matches(doc, r#"[["0"], "equals", "zero"]"#), Some(true));
        assert_eq!(
            matches(doc, r#"[[0], "equals", "zero"]"#),
            None,
            "ints index arrays only"
        );
        assert_eq!(matches(doc, r#"[["a", "missing"], "equals", 1]"#), None);
        assert_eq!(
            matches(doc, r#"[["a", "missing"], "is_null", null]"#),
            Some(true)
        );
        assert_eq!(matches(doc, r#"[["a"], "is_null", null]"#), Some(false));
    }

    #[test]
    fn string_and_array_operators() {
        let doc = r#"{"s": "a\u0000bc", "l": [1, [2], {"k": 3}]}"#;
        assert_eq!(
            matches(doc, r#"[["s"], "string_contains", "\u0000b"]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["s"], "string_starts_with", "a\u0000"]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["s"], "string_ends_with", "bc"]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["l"], "string_contains", "1"]"#),
            Some(false)
        );
        assert_eq!(
            matches(doc, r#"[["l"], "array_contains", [[2], 1]]"#),
            Some(true)
        );
        assert_eq!(matches(doc, r#"[["l"], "array_contains", 2]"#), Some(false));
        assert_eq!(
            matches(doc, r#"[["l"], "array_starts_with", 1.0]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["l"], "array_ends_with", {"k": 3}]"#),
            Some(true)
        );
        assert_eq!(
            matches(doc, r#"[["s"], "array_contains", []]"#),
            Some(false)
        );
    }

    #[test]
    fn the_sql_function_is_three_valued() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let answer = |document: &dyn rusqlite::ToSql, filter: &str| -> Option<i64> {
            conn.query_row(
                "SELECT strata_json_match(?1, ?2)",
                rusqlite::params![document, filter],
                |row| row.get(0),
            )
            .unwrap()
        };
        assert_eq!(answer(&"{\"a\": 1}", r#"[["a"], "equals", 1]"#), Some(1));
        assert_eq!(answer(&1_i64, r#"[[], "equals", 1.0]"#), Some(1));
        assert_eq!(answer(&rusqlite::types::Null, r#"[[], "equals", 1]"#), None);
        assert_eq!(
            answer(&rusqlite::types::Null, r#"[[], "is_null", null]"#),
            Some(1)
        );
        let error = conn
            .query_row(
                "SELECT strata_json_match('{', '[[], \"equals\", 1]')",
                [],
                |row| row.get::<_, i64>(0),
            )
            .unwrap_err();
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }
}
