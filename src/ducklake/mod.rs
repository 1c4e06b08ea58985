//! Knowledge of DuckLake catalogs: each catalog version's tables as data ([`catalog`]), the column
//! types per backend and how values move between them ([`types`]), and the two operations built on
//! them: repairing a catalog's PostgreSQL types ([`fix_types`]) and moving a SQLite catalog to
//! PostgreSQL ([`migrate`]).

pub mod catalog;
pub mod fix_types;
pub mod inlined;
pub mod migrate;
pub mod types;
