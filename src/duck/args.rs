//! Reading a table function's arguments from DuckDB's bind info, with errors that name the parameter.

use duckdb::vtab::BindInfo;

use crate::error::{Error, Result};

/// Positional argument `idx` as text. NULL is an error naming the parameter.
pub fn required_string(bind: &BindInfo, idx: u64, name: &str) -> Result<String> {
    let v = bind.get_parameter(idx);
    if v.is_null() {
        return Err(Error::argument(format!("{name} must not be NULL")));
    }
    Ok(v.to_string())
}

/// Named argument as text, or None when absent or NULL.
pub fn named_string(bind: &BindInfo, name: &str) -> Option<String> {
    bind.get_named_parameter(name)
        .filter(|v| !v.is_null())
        .map(|v| v.to_string())
}

/// Named integer argument with a default and a lower bound.
pub fn named_int(bind: &BindInfo, name: &str, default: i64, min: i64) -> Result<i64> {
    match bind.get_named_parameter(name).filter(|v| !v.is_null()) {
        None => Ok(default),
        Some(v) => {
            let n = v.to_int64();
            if n < min {
                return Err(Error::argument(format!(
                    "{name} must be at least {min}, got {n}"
                )));
            }
            Ok(n)
        }
    }
}

/// Named boolean argument with a default (NULL = the default).
pub fn named_bool(bind: &BindInfo, name: &str, default: bool) -> bool {
    bind.get_named_parameter(name)
        .filter(|v| !v.is_null())
        .map_or(default, |v| v.to_bool())
}

/// A named LIST(VARCHAR) argument, or None when absent or NULL.
pub fn named_string_list(bind: &BindInfo, name: &str) -> Result<Option<Vec<String>>> {
    match bind.get_named_parameter(name) {
        Some(v) if !v.is_null() => Ok(Some(
            v.to_list()
                .ok_or_else(|| Error::argument(format!("{name} must be a list of strings")))?
                .iter()
                .map(|x| x.to_string())
                .collect(),
        )),
        _ => Ok(None),
    }
}

/// A named argument declared ANY that takes one string or a list of strings (`types := 'infer'` or
/// `types := ['infer', 't.c=text']`); None when absent or NULL.
pub fn named_string_or_list(bind: &BindInfo, name: &str) -> Result<Option<Vec<String>>> {
    match bind.get_named_parameter(name) {
        Some(v) if !v.is_null() => match v.to_list() {
            Some(items) => Ok(Some(items.iter().map(|x| x.to_string()).collect())),
            None if v.logical_type_id() == duckdb::core::LogicalTypeId::Varchar => {
                Ok(Some(vec![v.to_string()]))
            }
            None => Err(Error::argument(format!(
                "{name} must be a string or a list of strings"
            ))),
        },
        _ => Ok(None),
    }
}
