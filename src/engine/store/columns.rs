//! Reading stored values back. A value that does not parse is a damaged row, reported as an
//! error that names the table, the row and the column, never replaced by a default: a default
//! would silently turn a corrupt job into a failed one, or a corrupt spec into an empty one.
//!
//! Row readers wrap each `rusqlite::Row` in a [`Cells`], which knows its table and how to name
//! its row (by a key column: a uid, a name, an id). The error travels through rusqlite as a
//! conversion failure carrying [`Damaged`], and `Error::from(rusqlite::Error)` turns it into a
//! `Store` error with its message.

use std::fmt;

use chrono::DateTime;
use rusqlite::types::{FromSql, Value};

use crate::engine::model::Timestamp;

/// A stored value that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub table: &'static str,
    /// `uid='…'`, `name='…'` or `id=3`: what selects the row in SQL.
    pub row: String,
    pub column: String,
    pub problem: String,
}

impl fmt::Display for Damaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = match self.table {
            "jobs" | "job_secrets" => "delete the job",
            "clusters" | "nodes" | "cluster_secrets" => "delete the cluster",
            "experiments" => "delete the experiment",
            "file_servers" => "delete the file server",
            _ => "recreate the workspace",
        };
        write!(
            f,
            "{} row {}, column {}: {}; the workspace database is damaged: restore it from a backup or {owner}",
            self.table, self.row, self.column, self.problem
        )
    }
}

impl std::error::Error for Damaged {}

/// One row being read, with what is needed to name it in errors.
pub struct Cells<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    table: &'static str,
    key: usize,
}

impl<'a, 'r> Cells<'a, 'r> {
    /// `key` is the index of the column that identifies the row.
    pub fn new(row: &'a rusqlite::Row<'r>, table: &'static str, key: usize) -> Self {
        Cells { row, table, key }
    }

    /// The error for a value of column `idx` that cannot be used; `problem` says why.
    pub fn damaged(&self, idx: usize, problem: impl Into<String>) -> rusqlite::Error {
        let name = |i: usize| self.row.as_ref().column_name(i).map(str::to_string).unwrap_or_else(|_| i.to_string());
        let row = match self.row.get::<_, Value>(self.key) {
            Ok(Value::Integer(n)) => format!("{}={n}", name(self.key)),
            Ok(Value::Text(t)) => format!("{}='{t}'", name(self.key)),
            _ => format!("with an unreadable {}", name(self.key)),
        };
        let damaged = Damaged { table: self.table, row, column: name(idx), problem: problem.into() };
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(damaged))
    }

    /// A value of a plain SQL type.
    pub fn get<T: FromSql>(&self, idx: usize) -> rusqlite::Result<T> {
        self.row.get(idx).map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(_, _, found) => {
                self.damaged(idx, format!("holds {} where another type belongs", found.to_string().to_lowercase()))
            }
            rusqlite::Error::IntegralValueOutOfRange(_, n) => self.damaged(idx, format!("{n} is out of range")),
            rusqlite::Error::FromSqlConversionFailure(_, _, e) => self.damaged(idx, e.to_string()),
            other => other,
        })
    }

    /// A text column without copying it.
    pub fn get_ref_str(&self, idx: usize) -> rusqlite::Result<&str> {
        let value = self.row.get_ref(idx)?;
        value.as_str().map_err(|_| self.damaged(idx, "holds another type where text belongs"))
    }

    /// A JSON column.
    pub fn json<T: serde::de::DeserializeOwned>(&self, idx: usize) -> rusqlite::Result<T> {
        let text: String = self.get(idx)?;
        serde_json::from_str(&text).map_err(|e| self.damaged(idx, format!("invalid JSON ({e})")))
    }

    /// A text column read by `parse`; `expected` says what it should hold, for the message.
    pub fn parsed<T>(&self, idx: usize, expected: &str, parse: impl FnOnce(&str) -> Option<T>) -> rusqlite::Result<T> {
        let text: String = self.get(idx)?;
        parse(&text).ok_or_else(|| self.damaged(idx, format!("{text:?} is not {expected}")))
    }

    /// A time in microseconds since the epoch.
    pub fn time(&self, idx: usize) -> rusqlite::Result<Timestamp> {
        let micros: i64 = self.get(idx)?;
        DateTime::from_timestamp_micros(micros).ok_or_else(|| self.damaged(idx, format!("{micros} µs is not a time")))
    }

    /// A time that may be NULL.
    pub fn optional_time(&self, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
        match self.get::<Option<i64>>(idx)? {
            None => Ok(None),
            Some(_) => self.time(idx).map(Some),
        }
    }
}

/// The `Damaged` a rusqlite error carries, if it is one.
pub fn damaged(e: &rusqlite::Error) -> Option<&Damaged> {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, source) => source.downcast_ref::<Damaged>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::error::Error;
    use crate::engine::store::testing::{at, new_store};

    fn store_message(e: Error) -> String {
        match e {
            Error::Store { message, .. } => message,
            other => panic!("expected a store error, got {other}"),
        }
    }

    #[test]
    fn a_damaged_value_names_table_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        store.create_experiment("e", at(1)).unwrap();
        store.conn.execute("UPDATE experiments SET provisioning_state = 'bogus'", []).unwrap();
        assert_eq!(
            store_message(store.experiment("e").unwrap_err()),
            "experiments row name='e', column provisioning_state: \"bogus\" is not a provisioning state; \
             the workspace database is damaged: restore it from a backup or delete the experiment"
        );
        // Listing reads the same rows and fails the same way: never a default in their place.
        assert!(store_message(store.experiments().unwrap_err()).contains("column provisioning_state"));

        store.conn.execute("UPDATE experiments SET provisioning_state = 'succeeded', created_us = 'soon'", []).unwrap();
        assert!(
            store_message(store.experiment("e").unwrap_err())
                .starts_with("experiments row name='e', column created_us: holds text where another type belongs;")
        );
        store.conn.execute("UPDATE experiments SET created_us = ?1", [i64::MAX]).unwrap();
        assert!(store_message(store.experiment("e").unwrap_err()).contains("is not a time"));
    }

    #[test]
    fn damaged_json_and_workspace_rows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        store.conn.execute("UPDATE workspace SET tags = '{\"a\": '", []).unwrap();
        let message = store_message(store.workspace().unwrap_err());
        assert!(
            message.starts_with("workspace row name='ws', column tags: invalid JSON (EOF while parsing"),
            "{message}"
        );
        assert!(message.ends_with("restore it from a backup or recreate the workspace"), "{message}");
    }
}
