"""Bulk order contexts for `triage`: CSV/TSV, JSON Lines or XLSX rows, read as a stream.

Each row carries the fields of one order context (PRODUCT.md §3). What goes wrong with one row
is a `BadRow` (reported, skipped, the run goes on); what goes wrong with the file (unreadable,
unknown format, no header, no order_id or error_message column) is an `InputError` raised by
`read_orders` itself, before any row.

Formats, by extension:
- .csv/.tsv: UTF-8 (a BOM is fine). A .csv may be separated by `,`, `;` (Excel in pt-BR/es
  locales) or tabs: the header line decides. Cells are text; `quantity` must be plain digits.
- .xlsx: the first sheet. Numbers in id columns become their decimal text (Excel turns typed
  ids into numbers); a number with decimals there, or one too large to be exact, is a BadRow.
  A workbook over MAX_XLSX_BYTES, or that unpacks to more than MAX_XLSX_UNPACKED_BYTES, is
  refused before it is read.
- .jsonl/.ndjson: one JSON object per line, keys named exactly as the fields, types as strict
  as in a single order file; item fields may also be flat (`sku_id`, `quantity` keys).

Columns match fields ignoring case, spaces, `-` and `_` ("Order ID" is order_id), plus the
aliases in COLUMN_ALIASES; `--column FIELD=HEADER` overrides both. Unknown columns are ignored.

Rows and row numbers:
- CSV/XLSX: the first non-blank row is the header; rows are numbered as a spreadsheet shows
  them (the header is usually row 1, so data starts at row 2). A CSV row is one record: a quoted
  cell with line breaks does not add rows. Blank rows are skipped.
- JSON Lines: numbered by line; blank lines are skipped.

Items come from an `items` cell (`SKU[:QTY]` entries separated by `;`, the `--sku` syntax), or
from one row per item with `sku_id` (+ `quantity`, `seller_sku`) columns, or both (the cell's
items first). Consecutive rows with the same order_id are one order: their items are
concatenated and the first row's other fields kept; a later row that gives a different value
for one of them is a BadRow (the order keeps its other rows). Only consecutive rows merge: an
order id seen again after another order came in between starts a new order, diagnosed on its
own (remembering every id seen would make memory grow with the file).

Memory stays bounded whatever the file size: CSV and JSON Lines are read row by row, a row over
`MAX_ROW_BYTES` is a BadRow, and an order holds at most `MAX_ITEMS` items. XLSX is read with
openpyxl's read-only mode, which streams rows but keeps the workbook's shared-strings table
(each distinct text in the workbook, once) in memory.
"""

from __future__ import annotations

import csv
import itertools
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from pydantic import ValidationError

from assistant.errors import InputError
from assistant.intake import FLAGS_NAME, parse_sku_flag, validation_problem
from assistant.models import MAX_ITEMS, Item, OrderContext
from assistant.safetext import printable
from assistant.validation import describe_value, field_path
from assistant.yamlio import DocumentError, parse_json

MAX_ROW_BYTES = 1024 * 1024  # one CSV record or JSON line; CSV counts characters
# An .xlsx is a zip archive. A 100,000-row export is a few MB packed and tens of MB unpacked;
# openpyxl keeps the shared strings (every distinct text) in memory, so the unpacked size is
# checked from the archive's directory before anything is unpacked: a decompression bomb (a
# small file that unpacks to gigabytes) is refused before it fills the memory. zipfile never
# unpacks more than a member's declared size, so the declared sizes are a true bound.
MAX_XLSX_BYTES = 64 * 1024 * 1024
MAX_XLSX_UNPACKED_BYTES = 512 * 1024 * 1024
_MB = 1024 * 1024
REQUIRED_FIELDS = ("order_id", "error_message")
ITEM_COLUMNS = tuple(Item.model_fields)  # sku_id, quantity, seller_sku: one item per row
ROW_FIELDS = (*OrderContext.model_fields, *ITEM_COLUMNS)

# Header names accepted for a field besides the field's own name, compared after
# `_normalise` (case, spaces, `-` and `_` ignored). Names operators' exports and sheets use;
# a header that is not here can be mapped with `--column FIELD=HEADER`.
COLUMN_ALIASES: Mapping[str, str] = {
    "error": "error_message",
    "message": "error_message",
    "sku": "sku_id",
    "qty": "quantity",
}

# Order-level fields a continuation row may repeat but not change.
_MERGED_FIELDS = (
    "error_message",
    "sales_channel",
    "affiliate_id",
    "postal_code",
    "country",
    "seller_id",
)
# Excel keeps 15-17 significant digits: a float id this large may already have lost digits.
_LARGEST_EXACT_FLOAT = 2**53
_STAND_IN_MESSAGE = "-"
_DIGITS = re.compile(r"[0-9]+")
_SEPARATORS = re.compile(r"[\s_-]+")


@dataclass(frozen=True)
class BulkOrder:
    """One order, possibly merged from several consecutive rows."""

    row: int  # its first row
    context: OrderContext


@dataclass(frozen=True)
class BadRow:
    """A row that was reported and skipped."""

    source: str  # the file name as given
    row: int
    field: str | None
    problem: str
    # The row could not even be split into cells (broken quoting, a cell over the cap), as
    # opposed to cells that were read but refused: counted apart in the triage summary.
    unreadable: bool = False

    def __str__(self) -> str:
        # Values inside `problem` are escaped already; escaping again is harmless (idempotent)
        # and keeps the line single even if a caller built a BadRow by hand.
        where = f"{printable(self.source, None)}: row {self.row}"
        if self.field:
            where += f": {printable(self.field, None)}"
        return f"{where}: {printable(self.problem, None)}"


def parse_column_mapping(values: Sequence[str]) -> dict[str, str]:
    """`--column FIELD=HEADER` values -> {field: header}. FIELD is matched as a header is
    ("Order ID" and "qty" name order_id and quantity); HEADER is the export's column (or the
    JSON key) that holds the field."""
    mapping: dict[str, str] = {}
    for value in values:
        name, equals, header = (part.strip() for part in value.partition("="))
        if not equals or not name or not header:
            raise _column_error(f"'{printable(value)}' is not FIELD=HEADER (e.g. order_id=Pedido)")
        field_name = _FIELD_BY_NAME.get(_normalise(name)) or COLUMN_ALIASES.get(_normalise(name))
        if field_name is None:
            raise _column_error(
                f"unknown field '{printable(name)}' in '{printable(value)}' "
                f"(fields: {', '.join(ROW_FIELDS)})"
            )
        if field_name in mapping:
            raise _column_error(f"{field_name} is mapped twice")
        if header in mapping.values():
            raise _column_error(f"'{printable(header)}' is mapped to two fields")
        mapping[field_name] = header
    return mapping


def read_orders(
    path: Path, columns: Mapping[str, str] | None = None
) -> Iterator[BulkOrder | BadRow]:
    """The orders of a bulk file and a BadRow for each row refused, in file order except that
    an order is yielded once its last row is read (a bad row among its rows comes first).

    Raises InputError now (not on the first `next`) when the file cannot be used at all, and
    mid-iteration only when an XLSX sheet turns out to be damaged."""
    name = str(path)
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(ROW_FIELDS))
    if unknown:
        raise _column_error(f"unknown field '{printable(unknown[0])}'")
    reader = _reader_for(path, name)(path, name, mapping)
    next(reader)  # runs up to the header: a file-level error surfaces here, not mid-run
    return _orders(name, reader)


# ---- rows -> orders --------------------------------------------------------------------------


class _Row(NamedTuple):  # a NamedTuple: one is made per row, and it is cheaper than a dataclass
    number: int
    data: dict[str, Any]  # the row as OrderContext input; empty cells left out
    row_item: int | None = None  # where the item of the sku_id/quantity columns is in items
    problem: tuple[str, str] | None = None  # (field, problem) found while reading a cell


@dataclass
class _Order:
    row: int
    context: OrderContext
    first_data: Mapping[str, Any]
    items: list[Item]

    def finish(self) -> BulkOrder:
        if len(self.items) == len(self.context.items):
            return BulkOrder(self.row, self.context)
        # Every part was validated and the item count is capped, so no need to validate again.
        return BulkOrder(self.row, self.context.model_copy(update={"items": self.items}))


# A reader yields None once the file is open and its header understood, then the rows.
_Reader = Iterator[_Row | BadRow | None]


def _orders(source: str, rows: _Reader) -> Iterator[BulkOrder | BadRow]:
    current: _Order | None = None
    for row in rows:
        if row is None:
            continue
        if isinstance(row, BadRow):
            yield row
            continue
        order_id = _grouping_id(row)
        if current is not None and order_id == current.context.order_id:
            refused = _continue(source, current, row)
            if refused is not None:
                yield refused
            continue
        # A row without a readable order id cannot say the current order ended.
        if current is not None and order_id is not None:
            yield current.finish()
            current = None
        started = _start(source, row)
        if isinstance(started, BadRow):
            yield started
        else:
            current = started
    if current is not None:
        yield current.finish()


def _grouping_id(row: _Row) -> str | None:
    value = row.data.get("order_id")
    if isinstance(value, str) and value.strip():
        return value.strip()  # as OrderContext cleans it
    return None


def _start(source: str, row: _Row) -> _Order | BadRow:
    if row.problem is not None:
        return BadRow(source, row.number, *row.problem)
    validated = _validate(source, row.number, row.data, row.row_item)
    if isinstance(validated, BadRow):
        return validated
    return _Order(row.number, validated, row.data, list(validated.items))


def _continue(source: str, order: _Order, row: _Row) -> BadRow | None:
    """Add a row of the current order; a BadRow if it contradicts the order's first row."""
    if row.problem is not None:
        return BadRow(source, row.number, *row.problem)
    data = row.data
    if data.get("order_id") == order.context.order_id and all(
        data.get(name) is None or data[name] == order.first_data.get(name)
        for name in _MERGED_FIELDS
    ):
        # The usual continuation row: the order's id as validated, the same order fields as
        # its first row, and items that are known valid. Only the item count is left to check.
        items = data.get("items")
        known = _known_items(items) if items.__class__ is list else None
        if known is not None and len(order.items) + len(known) <= MAX_ITEMS:
            order.items.extend(known)
            return None
    # Exports repeat the order's fields on each of its rows: a value equal to the first row's
    # was validated there, so only the others are validated (the message is the costly one).
    given = [
        name
        for name in _MERGED_FIELDS
        if data.get(name) is not None and data[name] != order.first_data.get(name)
    ]
    for name in _MERGED_FIELDS:
        if name not in given:
            data.pop(name, None)
    data["error_message"] = data.get("error_message", _STAND_IN_MESSAGE)
    validated = _validate(source, row.number, data, row.row_item)
    if isinstance(validated, BadRow):
        return validated
    conflict = _conflict(source, order, row.number, validated, given)
    if conflict is not None:
        return conflict
    if len(order.items) + len(validated.items) > MAX_ITEMS:
        return BadRow(
            source,
            row.number,
            "items",
            f"order {printable(order.context.order_id, 40)} would have more than {MAX_ITEMS} items",
        )
    order.items.extend(validated.items)
    return None


def _conflict(
    source: str, order: _Order, number: int, validated: OrderContext, given: list[str]
) -> BadRow | None:
    first = order.context
    for name in given:
        new, old = getattr(validated, name), getattr(first, name)
        if _comparable(new) != _comparable(old):
            shown = "empty" if old is None else f"'{printable(old, 40)}'"
            return BadRow(
                source,
                number,
                name,
                f"'{printable(new, 40)}' differs from row {order.row} of order "
                f"{printable(first.order_id, 40)} ({shown}): rows of one order must agree",
            )
    return None


def _comparable(value: str | None) -> str | None:
    # Messages keep their spacing in OrderContext; a trailing space is not a different message.
    return value.strip() if value is not None else None


def _validate(
    source: str, number: int, data: dict[str, Any], row_item: int | None
) -> OrderContext | BadRow:
    items = data.get("items")
    if items.__class__ is list and items:
        known = _known_items(items)
        if known is not None:
            data = {**data, "items": known}
    try:
        return OrderContext.model_validate(data)
    except ValidationError as exc:
        return _refusal(source, number, exc, row_item)


# Validated items by their input (a backlog repeats a few thousand SKU and quantity pairs);
# an Item is immutable, so orders can share one.
_ITEMS: dict[tuple[Any, ...], Item | None] = {}
_ITEMS_KEPT = 65536


def _known_items(entries: list[Any]) -> list[Item] | None:
    """The entries as validated Items, each validated once; None if any is not a valid item
    (then the whole order is validated as given, so the error is reported as it always was)."""
    items: list[Item] = []
    for entry in entries:
        if entry.__class__ is not dict:
            return None
        # The value's type is part of the key: True == 1 and 1.0 == 1, but strict validation
        # refuses a boolean or a float quantity.
        try:
            key = tuple((name, value.__class__, value) for name, value in entry.items())
            known = key in _ITEMS
        except TypeError:  # an unhashable value (JSON Lines): validate it with the order
            return None
        if known:
            item = _ITEMS[key]
        else:
            try:
                item = Item.model_validate(entry)
            except ValidationError:
                item = None
            if len(_ITEMS) >= _ITEMS_KEPT:
                _ITEMS.clear()
            _ITEMS[key] = item
        if item is None:
            return None
        items.append(item)
    return items


def _add_row_item(data: dict[str, Any], item: dict[str, Any]) -> int | None:
    """Append the item of a row's sku_id/quantity/seller_sku columns to its items; its index
    lets an error name the column rather than items[N]."""
    if not item:
        return None
    items = data.setdefault("items", [])
    if not isinstance(items, list):
        return None  # validation refuses the items value itself
    items.append(item)
    return len(items) - 1


def _refusal(source: str, number: int, exc: ValidationError, row_item: int | None) -> BadRow:
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    if row_item is not None and len(loc) > 2 and loc[:2] == ("items", row_item):
        loc = loc[2:]  # the item came from this row's sku_id/quantity columns: name the column
    # intake's "is required" names a command-line flag; here it is a column or key.
    problem = "is required" if error["type"] == "missing" else validation_problem(error)
    return BadRow(source, number, field_path(loc) or None, problem)


# ---- formats ---------------------------------------------------------------------------------


def _reader_for(path: Path, name: str) -> Callable[[Path, str, Mapping[str, str]], _Reader]:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv"}:
        return _csv_rows
    if suffix in {".jsonl", ".ndjson"}:
        return _jsonl_rows
    if suffix == ".xlsx":
        return _xlsx_rows
    raise InputError(name, "unknown format: use .csv, .jsonl or .xlsx")


def _open(path: Path, name: str, *, text: bool) -> IO[Any]:
    try:
        if text:
            # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM. surrogateescape: a byte that is
            # not UTF-8 is refused in the cell that holds it, not for the whole file.
            return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
        return path.open("rb")
    except OSError as exc:
        raise InputError(name, _open_problem(exc)) from None


def _open_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot be read ({exc.strerror or exc})"


class _RowTooLarge(Exception):
    pass


class _CellProblem(Exception):
    pass


class _CappedLines:
    """Feeds csv.reader one physical line at a time and refuses a record over the cap, so a
    file without line breaks (or with an unclosed quote) cannot fill the memory.

    It also keeps the physical lines of the record being read, so that a record that cannot be
    read (a quote never closed, a cell over the cap) costs one row, not the rest of the file:
    its first line is the bad row and the lines after it are read again as rows of their own
    (`give_back`). Each failure drops at least that first line, so this always ends."""

    def __init__(self, stream: IO[str], limit: int = MAX_ROW_BYTES) -> None:
        self.stream = stream
        self.limit = limit
        self.record: list[str] = []  # the physical lines of the current record
        self.record_size = 0
        self.ended_inside = False  # the file ended while the reader still wanted a line
        self._again: list[str] = []  # lines given back, last first

    def __iter__(self) -> _CappedLines:
        return self

    def __next__(self) -> str:
        if self._again:
            line = self._again.pop()
        else:
            line = self.stream.readline(self.limit + 1)
            if len(line) > self.limit:  # one physical line over the cap: drop all of it
                self._skip_rest_of_line(line)
                raise _RowTooLarge
        if not line:
            self.ended_inside = bool(self.record)
            raise StopIteration
        self.record.append(line)
        self.record_size += len(line)
        if self.record_size > self.limit:
            raise _RowTooLarge
        return line

    def new_record(self) -> None:
        self.record = []
        self.record_size = 0
        self.ended_inside = False

    def give_back(self) -> int:
        """The current record is unreadable: read every line after its first again; how many."""
        again = self.record[1:]
        self._again.extend(reversed(again))
        self.new_record()
        return len(again)

    def _skip_rest_of_line(self, line: str) -> None:
        while line and not line.endswith(("\n", "\r")):
            line = self.stream.readline(self.limit)


def _csv_rows(path: Path, name: str, columns: Mapping[str, str]) -> _Reader:
    with _open(path, name, text=True) as stream:
        lines = _CappedLines(stream)
        header_row, first_line = _first_csv_line(lines, name)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(first_line)
        reader = csv.reader(itertools.chain([first_line], lines), delimiter=delimiter)
        header = _csv_record(reader, lines)
        if not isinstance(header, list):  # never None: the header line is not blank
            raise InputError(name, f"the header {header}", row=header_row)
        fields = _layout(header, columns, name, header_row)
        yield None
        for number in itertools.count(header_row + 1):
            values = _csv_record(reader, lines)
            if values is None:
                return
            if isinstance(values, str):
                yield BadRow(name, number, None, values, unreadable=True)
            elif values != header:  # `cat`-joined exports repeat the header: skip it
                yield _table_row(number, values, fields)


def _csv_record(reader: Iterator[list[str]], lines: _CappedLines) -> list[str] | str | None:
    """The next record's cells; a problem (str) if it cannot be read; None at the end."""
    lines.new_record()
    try:
        values = next(reader, None)
    except csv.Error as exc:
        problem = f"is not valid CSV ({exc})"
    except _RowTooLarge:
        problem = f"is larger than {MAX_ROW_BYTES} characters"
    else:
        if not lines.ended_inside:
            return values
        # csv.reader (not strict) would return the rest of the file as this row's last cell.
        problem = "has a quote that is never closed"
    spans = len(lines.record)
    if lines.give_back():
        if "quote" not in problem:
            problem += f" across {spans} lines: is a quote left open?"
        problem += "; the lines after its first are read as rows of their own"
    return problem


def _first_csv_line(lines: _CappedLines, name: str) -> tuple[int, str]:
    """The header's row number and first physical line (blank lines before it are rows)."""
    try:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                return number, line
            lines.new_record()
    except _RowTooLarge:
        raise InputError(name, f"the header is larger than {MAX_ROW_BYTES} characters") from None
    raise InputError(name, "is empty: no header row")


def _sniff_delimiter(header_line: str) -> str:
    # Excel saves "CSV" with `;` where the decimal separator is a comma (pt-BR, es): take the
    # delimiter that splits the header into the most columns, `,` on a tie.
    def width(delimiter: str) -> int:
        return len(next(csv.reader([header_line], delimiter=delimiter), []))

    return max((",", ";", "\t"), key=width)


def _jsonl_rows(path: Path, name: str, columns: Mapping[str, str]) -> _Reader:
    keys = _JsonKeys(columns)
    with _open(path, name, text=False) as stream:
        yield None
        for number in itertools.count(1):
            line: bytes = stream.readline(MAX_ROW_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_ROW_BYTES:
                while line and not line.endswith(b"\n"):  # skip to the next line
                    line = stream.readline(MAX_ROW_BYTES)
                problem = f"is longer than {MAX_ROW_BYTES} bytes"
                yield BadRow(name, number, None, problem, unreadable=True)
                continue
            row = _json_row(name, number, line.removeprefix(b"\xef\xbb\xbf"), keys)
            if row is not None:
                yield row


class _JsonKeys:
    """JSON keys are the field names, as in a single order file; `--column FIELD=KEY` makes
    KEY the field instead (and the field's own name is then ignored)."""

    def __init__(self, columns: Mapping[str, str]) -> None:
        self.renames = {key: field_name for field_name, key in columns.items()}
        self.replaced = set(columns)

    def field(self, key: str) -> str | None:
        if key in self.renames:
            return self.renames[key]
        return key if key in ROW_FIELDS and key not in self.replaced else None


def _json_row(name: str, number: int, line: bytes, keys: _JsonKeys) -> _Row | BadRow | None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"is not UTF-8 text (byte {exc.start + 1})"
        return BadRow(name, number, None, problem, unreadable=True)
    if not text.strip():
        return None
    try:
        document = parse_json(text)
    except DocumentError as exc:
        # One line is one document: "line 1" would contradict the row number.
        problem = str(exc).replace("at line 1, column", "at column")
        return BadRow(name, number, None, problem, unreadable=True)
    if not isinstance(document, dict):
        return BadRow(
            name,
            number,
            None,
            "must be one JSON object with order_id and error_message, "
            f"not {describe_value(document)}",
        )
    data: dict[str, Any] = {}
    item: dict[str, Any] = {}
    for key, value in document.items():
        field_name = keys.field(key)
        if field_name is not None:
            (item if field_name in ITEM_COLUMNS else data)[field_name] = value
    return _Row(number, data, _add_row_item(data, item))


def _xlsx_rows(path: Path, name: str, columns: Mapping[str, str]) -> _Reader:
    workbook = _load_workbook(path, name)
    try:
        if not workbook.worksheets:
            raise InputError(name, "has no worksheet")
        sheet = workbook.worksheets[0]
        # Read-only mode trusts the sheet's stored dimensions, which some writers get wrong
        # (rows past them would be dropped silently); forget them and read every row.
        sheet.reset_dimensions()
        rows = enumerate(_guarded(sheet.iter_rows(values_only=True), name), start=1)
        header_row, header = _header(rows, name)
        fields = _layout(header, columns, name, header_row)
        yield None
        for number, values in rows:
            yield _table_row(number, values, fields)
    finally:
        workbook.close()


def _check_xlsx_size(path: Path, name: str) -> None:
    try:
        size = path.stat().st_size
        if size > MAX_XLSX_BYTES:
            raise InputError(
                name,
                f"is larger than {MAX_XLSX_BYTES // _MB} MB; split the export into smaller files",
            )
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except OSError as exc:
        raise InputError(name, _open_problem(exc)) from None
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InputError(name, f"is not an Excel .xlsx workbook ({_reason(exc)})") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise InputError(
            name,
            f"unpacks to {unpacked // _MB} MB, more than {MAX_XLSX_UNPACKED_BYTES // _MB} MB: "
            "refused before unpacking (a damaged file, or a decompression bomb)",
        )


def _load_workbook(path: Path, name: str) -> Any:
    _check_xlsx_size(path, name)
    try:
        from openpyxl import load_workbook  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise InputError(
            name, "reading .xlsx files needs openpyxl (pip install openpyxl)"
        ) from None
    try:
        with warnings.catch_warnings():
            # openpyxl warns about features it drops (data validation, styles): irrelevant
            # to reading values, and noise on the operator's terminal.
            warnings.simplefilter("ignore")
            return load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        raise InputError(name, _open_problem(exc)) from None
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(name, f"is not an Excel .xlsx workbook ({_reason(exc)})") from None


def _guarded(rows: Iterable[Sequence[Any]], name: str) -> Iterator[Sequence[Any]]:
    """openpyxl parses the sheet lazily: a damaged sheet fails mid-iteration, and the rows
    after it cannot be read, so that ends the run."""
    try:
        yield from rows
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError, EOFError, OSError) as exc:
        raise InputError(name, f"the worksheet cannot be read ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    return printable(str(exc) or type(exc).__name__, 80)


def _header(rows: Iterator[tuple[int, Sequence[Any]]], name: str) -> tuple[int, Sequence[Any]]:
    for number, values in rows:
        if not _is_blank(values):
            return number, values
    raise InputError(name, "is empty: no header row")


# ---- columns and cells -----------------------------------------------------------------------


# A CSV/XLSX cell as the OrderContext input expects it; None for an empty cell. Types the model
# refuses (booleans, dates) pass through, so that its message names the field.
_Convert = Callable[[Any], Any]
_Columns = list[tuple[str, int, _Convert]]  # (field, column index, converter), in field order


def _normalise(header: str) -> str:
    return _SEPARATORS.sub("", header).casefold()


_FIELD_BY_NAME = {_normalise(name): name for name in ROW_FIELDS}


def _column_error(problem: str) -> InputError:
    return InputError(FLAGS_NAME, problem, field="--column")


def _layout(
    header: Sequence[Any], columns: Mapping[str, str], name: str, header_row: int
) -> _Columns:
    """Which column holds each field: --column mappings first, then field names, then aliases."""
    names = [_normalise(str(cell)) if cell is not None else "" for cell in header]
    found: dict[str, int] = {}
    for field_name, wanted in columns.items():
        matches = [i for i, n in enumerate(names) if n == _normalise(wanted)]
        if len(matches) != 1:
            how = "no" if not matches else "more than one"
            raise InputError(
                name,
                f"{how} column '{printable(wanted)}' (from --column {field_name}=...); "
                f"the header has {_shown(header)}",
                row=header_row,
            )
        found[field_name] = matches[0]
    claimed = set(found.values())
    for field_name in ROW_FIELDS:
        if field_name not in found:
            index = _automatic_column(names, header, field_name, claimed, name, header_row)
            if index is not None:
                found[field_name] = index
    missing = [f for f in REQUIRED_FIELDS if f not in found]
    if missing:
        raise InputError(
            name,
            f"no {' or '.join(missing)} column; the header has {_shown(header)} "
            "(rename the column, or map it with --column FIELD=HEADER)",
            row=header_row,
        )
    return [(f, found[f], _CONVERTERS.get(f, _text_cell)) for f in ROW_FIELDS if f in found]


def _automatic_column(
    names: list[str],
    header: Sequence[Any],
    field_name: str,
    claimed: set[int],
    name: str,
    header_row: int,
) -> int | None:
    # The field's own name wins over an alias: "Error Message" beats "Message".
    for table in (_FIELD_BY_NAME, COLUMN_ALIASES):
        matches = [
            i for i, n in enumerate(names) if i not in claimed and table.get(n) == field_name
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = " and ".join(f"'{printable(str(header[i]))}'" for i in matches[:2])
            raise InputError(
                name,
                f"columns {shown} both match {field_name}: "
                f"choose one with --column {field_name}=HEADER",
                row=header_row,
            )
    return None


def _shown(header: Sequence[Any], limit: int = 12) -> str:
    names = [f"'{printable(str(cell), 40)}'" for cell in header if cell not in (None, "")]
    if not names:
        return "no named columns"
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _is_blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _table_row(number: int, values: Sequence[Any], columns: _Columns) -> _Row | None:
    """A CSV or XLSX row as fields (None for a blank row). A bad cell is remembered, not
    raised: the row's order id still says whether the current order goes on."""
    data: dict[str, Any] = {}
    item: dict[str, Any] = {}
    problem: tuple[str, str] | None = None
    width = len(values)
    # This runs per cell of a million-row export: the common cells (empty, ASCII text, a small
    # quantity) are handled here as their converters would, without the call.
    value: Any
    for field_name, index, convert in columns:
        raw = values[index] if index < width else None
        if raw is None or raw == "":  # every converter gives None for an empty cell
            continue
        if convert is _text_cell and raw.__class__ is str and raw.isascii():
            if not raw.strip():
                continue
            value = raw
        elif convert is _quantity_cell and raw in _SMALL_QUANTITIES:
            value = _SMALL_QUANTITIES[raw]
        else:
            try:
                value = convert(raw)
            except _CellProblem as exc:
                problem = problem or (field_name, str(exc))
                continue
            if value is None:
                continue
        (item if field_name in ITEM_COLUMNS else data)[field_name] = value
    if not data and not item and problem is None and _is_blank(values):
        return None
    return _Row(number, data, _add_row_item(data, item), problem)


def _text_cell(value: Any) -> Any:
    if isinstance(value, str):
        if not value.isascii():
            _require_utf8(value)
        return value if value.strip() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_as_text(value)  # Excel turns ids typed as digits into numbers
    return value


def _quantity_cell(value: Any) -> Any:
    if isinstance(value, str):
        return _whole_number(value) if value.strip() else None
    # Excel stores every number as a float: 3.0 is 3; 2.5 is left for the model to refuse.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _items_cell(value: Any) -> Any:
    text = _text_cell(value)
    return _parse_items(text) if isinstance(text, str) else text


_CONVERTERS: Mapping[str, _Convert] = {"quantity": _quantity_cell, "items": _items_cell}
# What _quantity_cell gives for the usual quantity cells.
_SMALL_QUANTITIES = {str(number): number for number in range(1, 100)}


def _require_utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate-escaped byte from the CSV decoder
        raise _CellProblem("is not UTF-8 text (save the file as 'CSV UTF-8')") from None


def _whole_number(text: str) -> int:
    digits = text.strip()
    if not _DIGITS.fullmatch(digits):
        raise _CellProblem(f"must be a whole number (got {describe_value(text)})")
    if len(digits) > 7:  # int() of thousands of digits is slow, then refused anyway
        raise _CellProblem("must be at most 1000000")
    return int(digits)


def _number_as_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if not value.is_integer():
        raise _CellProblem(f"must be text or a whole number (got {value!r})")
    if abs(value) >= _LARGEST_EXACT_FLOAT:
        raise _CellProblem(
            f"is a number too large for Excel to keep exact ({value:.15g}): "
            "format the column as text and type the id again"
        )
    return str(int(value))


def _parse_items(text: str) -> list[dict[str, Any]]:
    """`SKU[:QTY];SKU[:QTY]...`, each entry read as `--sku` reads it."""
    items = []
    for entry in text.split(";"):
        if entry.strip():
            try:
                items.append(parse_sku_flag(entry.strip()))
            except InputError as exc:
                raise _CellProblem(exc.problem) from None
    return items
