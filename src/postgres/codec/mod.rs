//! PostgreSQL's value formats, one home for both directions: the shared constants and calendar
//! ([`conversion`]), byte parsing of each binary type ([`decode`], used by
//! [`crate::postgres::copy_out`]), the writer of each binary type ([`encode`], used by
//! [`crate::postgres::copy_in`]), and JSON as PostgreSQL reads and prints it ([`jsonb`]). Modelled on
//! DuckDB's postgres extension, which keeps `postgres_conversion.hpp` beside
//! `postgres_binary_parser.hpp` and `postgres_binary_writer.hpp`.

pub mod conversion;
pub mod decode;
pub mod encode;
pub mod jsonb;
