"""A small runner for DuckDB's sqllogictest format, enough for extension tests.

Supported: `# name:`/`# description:` headers, `require <ext>` (lakemig, postgres_scanner, ducklake,
sqlite_scanner: loaded from the pinned PyPI packages), `statement ok`, `statement error` (expected
message substring after `----`), `query <types> [nosort|rowsort]` with tab-separated expected rows
after `----`, and `${VAR}` substitution from the given variables (a missing one is an error, never a
skip). Values are rendered as DuckDB's sqllogictest does: NULL, true/false, (empty) for ''.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Record:
    kind: str  # "statement ok" | "statement error" | "query" | "require"
    line: int
    sql: str = ""
    expected: list[str] = field(default_factory=list)
    sort: str = "nosort"
    arg: str = ""


class SqlLogicError(AssertionError):
    pass


def parse(text: str, variables: dict[str, str]) -> list[Record]:
    def subst(s: str) -> str:
        def rep(m: re.Match) -> str:
            name = m.group(1)
            if name not in variables:
                raise SqlLogicError(f"test uses ${{{name}}}, which this run does not provide")
            return variables[name]
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", rep, s)

    lines = text.split("\n")
    records: list[Record] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line or line.startswith("#"):
            i += 1
            continue
        start = i + 1
        words = line.split()
        if words[0] == "require":
            records.append(Record("require", start, arg=words[1]))
            i += 1
            continue
        if words[0] == "statement":
            kind = "statement " + words[1]
        elif words[0] == "query":
            kind = "query"
        else:
            raise SqlLogicError(f"line {start}: unknown record {line!r}")
        i += 1
        sql_lines = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
            sql_lines.append(lines[i])
            i += 1
        expected = []
        if i < len(lines) and lines[i].strip() == "----":
            i += 1
            while i < len(lines) and lines[i].strip() != "":
                expected.append(subst(lines[i]))
                i += 1
        rec = Record(kind, start, sql=subst("\n".join(sql_lines)), expected=expected)
        if kind == "query" and len(words) > 2:
            rec.sort = words[2]
        records.append(rec)
    return records


def render(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    s = str(value)
    return "(empty)" if s == "" else s


def run(con, records: list[Record], load) -> int:
    """Run the records on a DuckDB connection; `load(name)` loads an extension. Returns records run."""
    for rec in records:
        where = f"line {rec.line}"
        if rec.kind == "require":
            load(rec.arg)
        elif rec.kind == "statement ok":
            try:
                con.execute(rec.sql).fetchall()
            except Exception as e:  # noqa: BLE001
                raise SqlLogicError(f"{where}: statement failed: {e}\n{rec.sql}") from None
        elif rec.kind == "statement error":
            try:
                con.execute(rec.sql).fetchall()
            except Exception as e:  # noqa: BLE001
                msg = str(e)
                want = "\n".join(rec.expected)
                if want and want not in msg:
                    raise SqlLogicError(f"{where}: error {msg!r} does not contain {want!r}") from None
                continue
            raise SqlLogicError(f"{where}: statement succeeded but an error was expected\n{rec.sql}")
        elif rec.kind == "query":
            try:
                # Render through DuckDB's own VARCHAR casts, as DuckDB's runner does; the query runs once.
                body = rec.sql.strip().rstrip(";")
                if re.match(r"(?is)^\s*(select|with|from|values|table)\b", body):
                    rows = con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({body})").fetchall()
                else:
                    rows = con.execute(body).fetchall()
            except Exception as e:  # noqa: BLE001
                raise SqlLogicError(f"{where}: query failed: {e}\n{rec.sql}") from None
            got = ["\t".join(render(v) for v in row) for row in rows]
            want = list(rec.expected)
            if rec.sort == "rowsort":
                got.sort()
                want.sort()
            if got != want:
                raise SqlLogicError(
                    f"{where}: wrong result\n{rec.sql}\n--- expected\n" + "\n".join(want)
                    + "\n--- got\n" + "\n".join(got))
    return len(records)
