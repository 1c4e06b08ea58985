//! What `pg_sync_state(dsn := '...')` shows of each CDC target's replication slot on its source:
//! the slot's name (always, from the checkpoint), and when the server was asked, whether the slot
//! is there and in use, and how much WAL it keeps. An abandoned slot keeps WAL until the source's
//! disk fills, so this is what a monitoring query watches. Plain decisions: the server's answer
//! comes from `crate::postgres::replication::slots`.

use super::cdc::parse_cursor;
use super::checkpoint::Checkpoint;

/// A logical slot as the server lists it (`pg_replication_slots`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotOnServer {
    pub name: String,
    /// The database it decodes (NULL for a physical slot: not listed).
    pub database: String,
    /// A process is reading it now.
    pub active: bool,
    /// Bytes of WAL from the slot's restart position to the server's current one.
    pub retained_wal: Option<i64>,
}

/// The server that was asked: its `host:port/db` and its logical slots.
pub struct Asked<'a> {
    pub place: &'a str,
    pub slots: &'a [SlotOnServer],
}

/// One checkpoint's slot columns in `pg_sync_state()`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlotView {
    /// The slot a CDC target reads (None: a watermark target).
    pub slot: Option<String>,
    /// `active` (a call is reading it), `idle`, or `missing` (the next call copies the table
    /// again); None when the checkpoint's server was not asked.
    pub status: Option<&'static str>,
    pub retained_wal: Option<i64>,
}

/// `host:port/db` of a server text `host:port/db as user "name"`.
pub fn place_of(server: &str) -> &str {
    server
        .rsplit_once(" as user \"")
        .map_or(server, |(place, _)| place)
}

/// A `host:port/db` place split at its first `:<digits>/` (a host may be a socket directory or an
/// IPv6 address; a database name may hold `/` or `:`): host, port, database.
pub fn split_place(place: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in place.match_indices(':') {
        let rest = &place[i + 1..];
        if let Some(slash) = rest.find('/') {
            if slash > 0 && rest[..slash].bytes().all(|b| b.is_ascii_digit()) {
                return Some((&place[..i], &rest[..slash], &rest[slash + 1..]));
            }
        }
    }
    None
}

fn database_of(place: &str) -> &str {
    split_place(place).map_or("", |(_, _, db)| db)
}

/// The slot columns of one checkpoint. A slot is looked for on the asked server when the
/// checkpoint names that server, or when a slot of that name decodes the same database there (the
/// same server reached by another host name): slot names are hashes of the target and the server,
/// so one of another server's targets does not match by accident.
pub fn view(checkpoint: &Checkpoint, asked: Option<&Asked>) -> SlotView {
    let Some((slot, _)) = parse_cursor(&checkpoint.cursor) else {
        return SlotView::default();
    };
    let place = place_of(&checkpoint.server);
    let found = asked.and_then(|a| {
        let here = a
            .slots
            .iter()
            .find(|s| s.name == slot && s.database == database_of(place));
        match here {
            Some(s) => Some(Some(s)),
            None if a.place == place => Some(None),
            None => None,
        }
    });
    match found {
        None => SlotView {
            slot: Some(slot),
            ..SlotView::default()
        },
        Some(None) => SlotView {
            slot: Some(slot),
            status: Some("missing"),
            retained_wal: None,
        },
        Some(Some(s)) => SlotView {
            slot: Some(slot),
            status: Some(if s.active { "active" } else { "idle" }),
            retained_wal: s.retained_wal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::cdc::cursor_text;

    fn checkpoint(server: &str, cursor: &str) -> Checkpoint {
        Checkpoint {
            target: "\"raw\".\"orders\"".into(),
            source: "shop.orders".into(),
            server: server.into(),
            cursor: cursor.into(),
            watermark: Some("0/16B3748".into()),
            watermark_type: "pg_lsn".into(),
            primary_key: vec!["id".into()],
            rows_total: 0,
            runs: 1,
            last_mode: "cdc".into(),
            last_rows_upserted: 0,
            last_rows_deleted: 0,
            last_run: None,
            last_duration: 0,
        }
    }

    fn slot(name: &str, database: &str, active: bool, retained: i64) -> SlotOnServer {
        SlotOnServer {
            name: name.into(),
            database: database.into(),
            active,
            retained_wal: Some(retained),
        }
    }

    #[test]
    fn slot_columns_by_server_and_name() {
        let server = "db.internal:5432/shop as user \"app\"";
        let cdc = checkpoint(server, &cursor_text("lakemig_aa", "lakemig_aa"));
        let slots = [
            slot("lakemig_aa", "shop", false, 4096),
            slot("lakemig_bb", "shop", true, 10),
        ];
        // Not asked: the slot's name only.
        assert_eq!(
            view(&cdc, None),
            SlotView {
                slot: Some("lakemig_aa".into()),
                status: None,
                retained_wal: None
            }
        );
        // Asked, the same server: found, idle, with its WAL.
        let asked = Asked {
            place: "db.internal:5432/shop",
            slots: &slots,
        };
        assert_eq!(
            view(&cdc, Some(&asked)),
            SlotView {
                slot: Some("lakemig_aa".into()),
                status: Some("idle"),
                retained_wal: Some(4096)
            }
        );
        // The same server by another name: found by the slot's name and database.
        let other_name = Asked {
            place: "10.0.0.5:5432/shop",
            slots: &slots,
        };
        assert_eq!(view(&cdc, Some(&other_name)).status, Some("idle"));
        // Its server asked, the slot gone: missing.
        let none = Asked {
            place: "db.internal:5432/shop",
            slots: &[],
        };
        assert_eq!(view(&cdc, Some(&none)).status, Some("missing"));
        // Another server asked, no such slot there: nothing known.
        let elsewhere = Asked {
            place: "other:5432/shop",
            slots: &slots[1..],
        };
        assert_eq!(view(&cdc, Some(&elsewhere)).status, None);
        // A slot of that name decoding another database is not this target's.
        let other_db = [slot("lakemig_aa", "billing", true, 1)];
        let asked = Asked {
            place: "other:5432/billing",
            slots: &other_db,
        };
        assert_eq!(view(&cdc, Some(&asked)).status, None);
        // A watermark target has no slot columns.
        let wm = checkpoint(server, "updated_at");
        assert_eq!(view(&wm, Some(&asked)), SlotView::default());
    }

    #[test]
    fn place_of_server_text() {
        assert_eq!(place_of("h:5432/db as user \"a \"\"b\""), "h:5432/db");
        assert_eq!(place_of("odd"), "odd");
        assert_eq!(database_of("h:5432/db"), "db");
        assert_eq!(database_of("/var/run/postgresql:5432/my/d:1/b"), "my/d:1/b");
        assert_eq!(database_of("::1:5433/shop"), "shop");
        assert_eq!(
            split_place("fe80::1:5432/a:1/b"),
            Some(("fe80::1", "5432", "a:1/b"))
        );
        assert_eq!(split_place("no port"), None);
    }
}
