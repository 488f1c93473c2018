"""Bulk readers for `triage`: CSV/TSV, JSON Lines and XLSX rows become orders or bad rows.

The contract: a file that cannot be used at all raises InputError from `read_orders` itself;
anything wrong with one row is a BadRow naming the row and the field, and the other rows still
come. Small fixtures live in tests/data/bulk/; XLSX files and big files are written here.
"""

from __future__ import annotations

import csv
import gc
import json
import re
import tracemalloc
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from assistant.errors import InputError
from assistant.models import MAX_ITEMS, Item, OrderContext
from assistant.triage.exports import (
    COLUMN_ALIASES,
    MAX_ROW_BYTES,
    ROW_FIELDS,
    BadRow,
    BulkOrder,
    parse_column_mapping,
    read_orders,
)
from tests.conftest import DATA

BULK = DATA / "bulk"
HEADER = ["order_id", "error_message", "sku_id", "quantity"]

# The orders in tests/data/bulk/orders.{csv,jsonl}, as every format must read them.
EXPECTED = [
    OrderContext(
        order_id="702-1111111-1111111",
        error_message="SKU inativo",
        items=[Item(sku_id="10", quantity=2), Item(sku_id="11")],
        sales_channel="1",
        affiliate_id="MZN",
        postal_code="01310-100",
        country="BRA",
    ),
    OrderContext(
        order_id="702-2222222-2222222_FBA",
        error_message="No available sla to deliver this order",
        affiliate_id="MZN",
    ),
    OrderContext(
        order_id="702-3333333-3333333",
        error_message="Order with SKU out of stock",
        items=[Item(sku_id="12", quantity=5, seller_sku="SELLER-12")],
        sales_channel="1",
    ),
]


# ---- helpers ---------------------------------------------------------------------------------


def write_csv(path: Path, rows: Sequence[Sequence[Any]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def write_jsonl(path: Path, documents: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    return path


def read(path: Path, columns: dict[str, str] | None = None) -> list[BulkOrder | BadRow]:
    return list(read_orders(path, columns))


def orders(results: Sequence[BulkOrder | BadRow]) -> list[BulkOrder]:
    return [r for r in results if isinstance(r, BulkOrder)]


def bad_rows(results: Sequence[BulkOrder | BadRow]) -> list[BadRow]:
    return [r for r in results if isinstance(r, BadRow)]


def only_order(path: Path, columns: dict[str, str] | None = None) -> OrderContext:
    results = read(path, columns)
    assert bad_rows(results) == []
    (order,) = orders(results)
    return order.context


def only_bad_row(results: Sequence[BulkOrder | BadRow]) -> BadRow:
    (bad,) = bad_rows(results)
    return bad


# ---- the three formats -----------------------------------------------------------------------


def test_csv_jsonl_and_xlsx_give_the_same_orders(tmp_path: Path) -> None:
    with (BULK / "orders.csv").open(newline="", encoding="utf-8") as stream:
        table = list(csv.reader(stream))
    xlsx = write_xlsx(tmp_path / "orders.xlsx", [[cell or None for cell in r] for r in table])

    by_format = {
        path.suffix: read(path) for path in (BULK / "orders.csv", BULK / "orders.jsonl", xlsx)
    }

    for suffix, results in by_format.items():
        assert [o.context for o in results] == EXPECTED, suffix  # and no bad rows
    assert [o.row for o in orders(by_format[".csv"])] == [2, 4, 5]
    assert [o.row for o in orders(by_format[".xlsx"])] == [2, 4, 5]
    assert [o.row for o in orders(by_format[".jsonl"])] == [1, 2, 3]


def test_xlsx_ids_typed_as_numbers_become_text(tmp_path: Path) -> None:
    # Excel turns ids typed as digits into numbers; openpyxl gives int or float.
    path = write_xlsx(
        tmp_path / "numbers.xlsx",
        [
            ["order_id", "error_message", "sku_id", "quantity", "postal_code", "sales_channel"],
            [7021111, "SKU inativo", 10.0, 2.0, 1310100, 1],
        ],
    )
    assert only_order(path) == OrderContext(
        order_id="7021111",
        error_message="SKU inativo",
        items=[Item(sku_id="10", quantity=2)],
        postal_code="1310100",
        sales_channel="1",
    )


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("sku_id", 10.5, "text or a whole number (got 10.5)"),
        ("order_id", 1.2345678901234567e19, "too large for Excel to keep exact"),
        ("sku_id", True, "valid string (got true)"),
        ("quantity", 2.5, "valid integer"),
    ],
)
def test_xlsx_number_that_cannot_be_an_id_or_quantity_is_a_bad_row(
    tmp_path: Path, column: str, value: Any, words: str
) -> None:
    row: dict[str, Any] = {"order_id": "A1", "error_message": "SKU inativo", "sku_id": "10"}
    row[column] = value
    path = write_xlsx(tmp_path / "bad.xlsx", [list(row), list(row.values())])

    bad = only_bad_row(read(path))

    assert (bad.row, bad.field) == (2, column)
    assert words in bad.problem


def test_xlsx_rows_past_a_wrong_stored_dimension_are_still_read(tmp_path: Path) -> None:
    # Read-only openpyxl trusts <dimension>; some writers store a wrong one (e.g. A1:A1).
    good = write_xlsx(
        tmp_path / "good.xlsx",
        [HEADER, ["A1", "SKU inativo", "10", 1], ["B2", "SKU inativo", "11", 1]],
    )
    broken = tmp_path / "dimension.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(broken, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "xl/worksheets/sheet1.xml":
                data, replaced = re.subn(
                    rb'<dimension ref="A1:D3"', b'<dimension ref="A1:A1"', data
                )
                assert replaced == 1
            target.writestr(entry, data)

    assert [o.context.order_id for o in orders(read(broken))] == ["A1", "B2"]


def test_semicolon_separated_csv_from_excel_in_portuguese_is_read(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pedidos.csv",
        [["Order ID", "Error Message", "Items"], ["A1", "SKU sem política comercial", "10:2;11"]],
        delimiter=";",
    )
    context = only_order(path)
    assert context.error_message == "SKU sem política comercial"
    assert context.items == [Item(sku_id="10", quantity=2), Item(sku_id="11")]


def test_tsv_is_tab_separated(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.tsv", [HEADER, ["A1", "SKU, inativo", "10", "3"]], "\t")
    assert only_order(path).error_message == "SKU, inativo"


def test_csv_utf8_with_bom_and_crlf_line_ends_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefforder_id,error_message\r\nA1,SKU inativo\r\n".encode())
    assert only_order(path) == OrderContext(order_id="A1", error_message="SKU inativo")


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    # A quoted line break stays in its row; blank rows count but are skipped.
    path = tmp_path / "orders.csv"
    path.write_text(
        'order_id,error_message\nA1,"SKU\ninativo"\n\n,\nB2,\n',
        encoding="utf-8",
    )
    results = read(path)
    assert [(o.row, o.context.error_message) for o in orders(results)] == [(2, "SKU\ninativo")]
    assert (only_bad_row(results).row, only_bad_row(results).field) == (5, "error_message")


def test_a_header_repeated_by_concatenated_exports_is_skipped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "joined.csv",
        [HEADER, ["A1", "SKU inativo", "", ""], HEADER, ["B2", "SKU inativo", "", ""]],
    )
    assert [(o.row, o.context.order_id) for o in read(path)] == [(2, "A1"), (4, "B2")]


# ---- columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["order_id", "error_message"],
        ["Order ID", "Error Message"],
        ["ORDER-ID", "ERROR-MESSAGE"],
        ["  order id ", "error  message"],
        ["OrderId", "errorMessage"],
    ],
)
def test_header_names_match_whatever_their_case_spacing_and_separators(
    tmp_path: Path, header: list[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", [header, ["A1", "SKU inativo"]])
    assert only_order(path) == OrderContext(order_id="A1", error_message="SKU inativo")


def test_common_export_aliases_are_recognised(tmp_path: Path) -> None:
    assert COLUMN_ALIASES == {
        "error": "error_message",
        "message": "error_message",
        "sku": "sku_id",
        "qty": "quantity",
    }
    for error_header in ("Error", "message"):
        path = write_csv(
            tmp_path / "orders.csv",
            [["Order ID", error_header, "SKU", "Qty"], ["A1", "m", "7", "4"]],
        )
        assert only_order(path) == OrderContext(
            order_id="A1", error_message="m", items=[Item(sku_id="7", quantity=4)]
        )


def test_a_column_named_as_the_field_wins_over_an_alias(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [["order_id", "Message", "Error Message"], ["A1", "Pedido 123", "SKU inativo"]],
    )
    assert only_order(path).error_message == "SKU inativo"


def test_two_columns_matching_one_field_is_a_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [["order_id", "Error", "Message"], ["A1", "a", "b"]])
    with pytest.raises(InputError) as caught:
        read_orders(path)
    assert caught.value.row == 1
    assert "'Error' and 'Message' both match error_message" in caught.value.message
    assert "--column error_message=HEADER" in caught.value.message


def test_column_mapping_overrides_the_automatic_match(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [["Pedido", "Error", "Erro VTEX", "Código"], ["A1", "ignored", "SKU inativo", "10"]],
    )
    columns = parse_column_mapping(["order_id=Pedido", "error_message=Erro VTEX", "sku=código"])
    assert only_order(path, columns) == OrderContext(
        order_id="A1", error_message="SKU inativo", items=[Item(sku_id="10")]
    )


def test_column_mapping_renames_jsonl_keys(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        [{"orderId": "A1", "order_id": "ignored", "error_message": "SKU inativo"}],
    )
    assert only_order(path, {"order_id": "orderId"}).order_id == "A1"


def test_parse_column_mapping_reads_field_equals_header() -> None:
    assert parse_column_mapping(["Order ID = Pedido", "qty=Qtd=total", "items=Itens"]) == {
        "order_id": "Pedido",
        "quantity": "Qtd=total",
        "items": "Itens",
    }
    assert parse_column_mapping([]) == {}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["order_id"], "is not FIELD=HEADER"),
        (["=Pedido"], "is not FIELD=HEADER"),
        (["order_id="], "is not FIELD=HEADER"),
        (["colour=Cor"], "unknown field 'colour'"),
        (["order_id=A", "Order ID=B"], "order_id is mapped twice"),
        (["order_id=A", "sku_id=A"], "'A' is mapped to two fields"),
    ],
)
def test_parse_column_mapping_refuses_bad_syntax_and_unknown_fields(
    values: list[str], words: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_column_mapping(values)
    assert (caught.value.source, caught.value.field) == ("command line", "--column")
    assert words in caught.value.problem


def test_a_mapped_header_missing_from_the_file_is_a_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [HEADER, ["A1", "m", "", ""]])
    with pytest.raises(InputError, match=r"no column 'Pedido' .*the header has 'order_id'"):
        read_orders(path, {"order_id": "Pedido"})


def test_unknown_columns_are_ignored(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv", [["order_id", "Status", "error_message"], ["A1", "x", "m"]]
    )
    assert only_order(path) == OrderContext(order_id="A1", error_message="m")


# ---- items -----------------------------------------------------------------------------------


def test_items_column_holds_sku_and_quantity_entries(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [["order_id", "error_message", "items"], ["A1", "m", " 10:2 ; 11 ;; ref:with:colon:3 "]],
    )
    assert only_order(path).items == [
        Item(sku_id="10", quantity=2),
        Item(sku_id="11"),
        Item(sku_id="ref:with:colon", quantity=3),
    ]


@pytest.mark.parametrize(
    ("cell", "words"),
    [("10:two", "quantity 'two' in '10:two' is not a whole number"), (":3", "no SKU id")],
)
def test_bad_entry_in_the_items_column_is_a_bad_row_naming_items(
    tmp_path: Path, cell: str, words: str
) -> None:
    path = write_csv(
        tmp_path / "orders.csv", [["order_id", "error_message", "items"], ["A1", "m", cell]]
    )
    bad = only_bad_row(read(path))
    assert (bad.row, bad.field) == (2, "items")
    assert words in bad.problem


def test_items_column_and_per_row_item_combine_cell_first(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            ["order_id", "error_message", "items", "sku_id", "quantity"],
            ["A1", "m", "10;11", "12", "4"],
        ],
    )
    assert [(i.sku_id, i.quantity) for i in only_order(path).items] == [
        ("10", 1),
        ("11", 1),
        ("12", 4),
    ]


@pytest.mark.parametrize(
    ("quantity", "words"),
    [
        ("2.0", "must be a whole number (got '2.0')"),
        ("-1", "must be a whole number"),
        ("two", "must be a whole number"),
        ("99999999", "at most 1000000"),
        ("0", "greater than or equal to 1"),
    ],
)
def test_quantity_cell_must_be_a_plain_positive_whole_number(
    tmp_path: Path, quantity: str, words: str
) -> None:
    path = write_csv(tmp_path / "orders.csv", [HEADER, ["A1", "m", "10", quantity]])
    bad = only_bad_row(read(path))
    assert (bad.row, bad.field) == (2, "quantity")
    assert words in bad.problem


def test_quantity_without_a_sku_id_is_a_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [HEADER, ["A1", "m", "", "3"]])
    bad = only_bad_row(read(path))
    assert (bad.field, bad.problem) == ("sku_id", "is required")


# ---- merging consecutive rows ----------------------------------------------------------------


def test_consecutive_rows_of_one_order_merge_and_may_leave_order_fields_empty(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            [*HEADER, "postal_code"],
            ["A1", "SKU inativo", "10", "2", "01310-100"],
            ["A1", "", "11", "", ""],
            [" A1 ", "SKU inativo ", "12", "1", "01310-100"],
            ["B2", "SKU inativo", "13", "", ""],
        ],
    )
    results = read(path)
    assert bad_rows(results) == []
    first, second = orders(results)
    assert first.row == 2
    assert first.context == OrderContext(
        order_id="A1",
        error_message="SKU inativo",
        postal_code="01310-100",
        items=[Item(sku_id="10", quantity=2), Item(sku_id="11"), Item(sku_id="12")],
    )
    assert (second.row, second.context.items) == (5, [Item(sku_id="13")])


def test_a_row_contradicting_its_order_is_bad_and_the_order_keeps_its_other_rows(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            [*HEADER, "sales_channel"],
            ["A1", "SKU inativo", "10", "", "1"],
            ["A1", "SKU inativo", "11", "", "2"],
            ["A1", "", "12", "", "1"],
        ],
    )
    results = read(path)
    bad = only_bad_row(results)
    assert (bad.row, bad.field) == (3, "sales_channel")
    assert bad.problem == ("'2' differs from row 2 of order A1 ('1'): rows of one order must agree")
    (order,) = orders(results)
    assert [i.sku_id for i in order.context.items] == ["10", "12"]


def test_consecutive_jsonl_lines_with_flat_items_merge(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        [
            {"order_id": "A1", "error_message": "m", "sku_id": "10", "quantity": 2},
            {"order_id": "A1", "error_message": None, "sku_id": "11", "seller_sku": "S-11"},
        ],
    )
    assert only_order(path).items == [
        Item(sku_id="10", quantity=2),
        Item(sku_id="11", seller_sku="S-11"),
    ]


def test_a_value_missing_from_the_first_row_cannot_appear_later(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [[*HEADER, "country"], ["A1", "m", "10", "", ""], ["A1", "m", "11", "", "BRA"]],
    )
    bad = only_bad_row(read(path))
    assert (bad.row, bad.field) == (3, "country")
    assert "(empty)" in bad.problem


def test_an_order_id_seen_again_later_starts_a_separate_order(tmp_path: Path) -> None:
    # Documented: only consecutive rows merge, so memory does not grow with the file.
    path = write_csv(
        tmp_path / "orders.csv",
        [HEADER, ["A1", "m", "10", ""], ["B2", "m", "11", ""], ["A1", "m", "12", ""]],
    )
    results = read(path)
    assert bad_rows(results) == []
    assert [(o.row, o.context.order_id, len(o.context.items)) for o in orders(results)] == [
        (2, "A1", 1),
        (3, "B2", 1),
        (4, "A1", 1),
    ]


def test_a_bad_row_of_another_order_still_ends_the_current_one(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [HEADER, ["A1", "m", "10", ""], ["B2", "m", "11", "x"], ["A1", "m", "12", ""]],
    )
    results = read(path)
    assert [o.row for o in orders(results)] == [2, 4]
    assert only_bad_row(results).row == 3


def test_a_bad_first_row_leaves_the_next_row_to_start_the_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [HEADER, ["A1", "m", "10", "0"], ["A1", "m", "11", ""]],
    )
    results = read(path)
    assert (only_bad_row(results).row, only_bad_row(results).field) == (2, "quantity")
    assert [(o.row, o.context.items) for o in orders(results)] == [(3, [Item(sku_id="11")])]


def test_an_order_merged_past_the_item_limit_refuses_the_extra_rows(tmp_path: Path) -> None:
    rows = [HEADER] + [["A1", "m", str(n), ""] for n in range(MAX_ITEMS + 2)]
    results = read(write_csv(tmp_path / "orders.csv", rows))
    (order,) = orders(results)
    assert len(order.context.items) == MAX_ITEMS
    assert [(b.row, b.field) for b in bad_rows(results)] == [
        (MAX_ITEMS + 2, "items"),
        (MAX_ITEMS + 3, "items"),
    ]


# ---- bad rows --------------------------------------------------------------------------------


def test_bad_rows_name_row_and_field_and_the_other_rows_still_come(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [
            [*HEADER, "country"],
            ["A1", "SKU inativo", "10", "1", "BRA"],
            ["", "SKU inativo", "10", "1", ""],
            ["B2", "", "10", "1", ""],
            ["C3", "SKU inativo", "10", "1", "br"],
            ["D4", "SKU\x1b[31m inativo", "10", "1", ""],
            ["E5", "SKU inativo", "1\u202e0", "1", ""],
            ["F6", "SKU inativo", "10", "1", ""],
        ],
    )
    results = read(path)
    assert [o.context.order_id for o in orders(results)] == ["A1", "F6"]
    assert [(b.row, b.field, b.problem) for b in bad_rows(results)] == [
        (3, "order_id", "is required"),
        (4, "error_message", "is required"),
        (5, "country", "must be an ISO 3166-1 alpha-3 code such as BRA (got 'br')"),
        (6, "error_message", "contains the control character U+001B"),
        (7, "sku_id", "contains the control character U+202E"),
    ]


def test_a_byte_that_is_not_utf8_in_a_csv_cell_is_a_bad_row(tmp_path: Path) -> None:
    # Excel's plain "CSV" on Windows saves cp1252: "política" then has a byte 0xED.
    path = tmp_path / "cp1252.csv"
    path.write_bytes(b"order_id,error_message\nA1,SKU sem pol\xedtica comercial\nB2,SKU inativo\n")
    results = read(path)
    bad = only_bad_row(results)
    assert (bad.row, bad.field) == (2, "error_message")
    assert "not UTF-8" in bad.problem
    assert [o.context.order_id for o in orders(results)] == ["B2"]


def test_an_oversized_csv_row_is_a_bad_row_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as stream:
        stream.write("order_id,error_message\nA1,m\n")
        stream.write("B2," + "x," * MAX_ROW_BYTES + "\n")  # 2 MB, but each field is tiny
        stream.write("C3,m\n")
    results = read(path)
    assert [o.context.order_id for o in orders(results)] == ["A1", "C3"]
    bad = only_bad_row(results)
    assert (bad.row, bad.field) == (3, None)
    assert "larger than" in bad.problem


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        (b'{"order_id": "A1", "error_message": }', None, "invalid JSON at column 37"),
        (b'["A1", "m"]', None, "must be one JSON object with order_id and error_message"),
        (b'{"order_id": "A1", "order_id": "B2", "error_message": "m"}', None, "duplicate key"),
        (b'{"order_id": "A\xff", "error_message": "m"}', None, "not UTF-8 text (byte 16)"),
        (b'{"order_id": 702, "error_message": "m"}', "order_id", 'quote it ("702")'),
        (b'{"order_id": "A1", "error_message": "m", "quantity": 2}', "sku_id", "is required"),
        (
            b'{"order_id": "A1", "error_message": "m", "items": [{"sku_id": "1", "quantity": 0}]}',
            "items[0].quantity",
            "greater than or equal to 1",
        ),
    ],
)
def test_a_bad_jsonl_line_is_a_bad_row_with_its_line_number(
    tmp_path: Path, line: bytes, field: str | None, words: str
) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b'{"order_id": "A0", "error_message": "m"}\n\n' + line + b"\n")
    results = read(path)
    bad = only_bad_row(results)
    assert (bad.row, bad.field) == (3, field)
    assert words in bad.problem
    assert [o.row for o in orders(results)] == [1]


def test_an_overlong_jsonl_line_is_a_bad_row_and_the_next_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    filler = "x" * (MAX_ROW_BYTES + 10)
    path.write_text(
        f'{{"order_id": "A1", "error_message": "{filler}"}}\n'
        '{"order_id": "B2", "error_message": "m"}\n',
        encoding="utf-8",
    )
    results = read(path)
    assert (only_bad_row(results).row, only_bad_row(results).problem) == (
        1,
        f"is longer than {MAX_ROW_BYTES} bytes",
    )
    assert [(o.row, o.context.order_id) for o in orders(results)] == [(2, "B2")]


def test_a_bad_row_prints_on_one_escaped_line() -> None:
    bad = BadRow("orders\n.csv", 7, "items[0].quantity", "got '\x1b[2J'\nnext")
    assert str(bad) == "orders\\n.csv: row 7: items[0].quantity: got '\\x1b[2J'\\nnext"
    assert str(BadRow("o.jsonl", 3, None, "invalid JSON")) == "o.jsonl: row 3: invalid JSON"


# ---- file-level problems ---------------------------------------------------------------------


def _empty_workbook(path: Path) -> None:
    Workbook().save(path)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("orders.json", "[]", "unknown format: use .csv, .jsonl or .xlsx"),
        ("orders", "", "unknown format"),
        ("missing.csv", None, "no such file"),
        ("empty.csv", "", "is empty: no header row"),
        ("blank.csv", "\n  \n\n", "is empty: no header row"),
        (
            "no-message.csv",
            "order_id,Status\nA1,x\n",
            "row 1: no error_message column; the header has 'order_id', 'Status'",
        ),
        ("neither.csv", "a;b\n", "no order_id or error_message column"),
        ("missing.jsonl", None, "no such file"),
        ("text.xlsx", "order_id,error_message\n", "is not an Excel .xlsx workbook"),
        ("empty.xlsx", _empty_workbook, "is empty: no header row"),
    ],
)
def test_a_file_that_cannot_be_used_raises_input_error_at_once(
    tmp_path: Path, name: str, content: Any, words: str
) -> None:
    path = tmp_path / name
    if callable(content):
        content(path)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_orders(path)  # raised by the call itself, before any row is asked for
    assert caught.value.source == str(path)
    assert words in caught.value.message
    assert caught.value.exit_code == 2


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_orders(tmp_path / "orders.csv")


# ---- streaming -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_200k_row_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as stream:
        stream.write("order_id,error_message,sku_id\n")
        stream.writelines(f"{n // 2},m,{n % 7}\n" for n in range(200_000))

    tracemalloc.start()
    try:
        count = sum(1 for result in read_orders(path) if isinstance(result, BulkOrder))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 100_000  # two rows per order
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_an_abandoned_reader_closes_its_file(tmp_path: Path, suffix: str) -> None:
    # pytest turns an unclosed file's ResourceWarning into an error (filterwarnings = error).
    rows = [HEADER, ["A1", "m", "10", 1], ["B2", "m", "11", 1]]
    path = tmp_path / f"orders{suffix}"
    if suffix == ".xlsx":
        write_xlsx(path, rows)
    elif suffix == ".csv":
        write_csv(path, rows)
    else:
        write_jsonl(path, [dict(zip(HEADER, row, strict=True)) for row in rows[1:]])
    never_read = read_orders(path)
    half_read = read_orders(path)
    assert isinstance(next(half_read), BulkOrder)
    del never_read, half_read
    gc.collect()


# ---- any input gives an order or a bad row ---------------------------------------------------

# Any text a file can hold (no lone surrogates: they cannot be written as UTF-8).
cell_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | cell_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(cell_text, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bulk")


def _assert_orders_or_bad_rows(results: list[BulkOrder | BadRow]) -> None:
    for result in results:
        assert isinstance(result, BulkOrder | BadRow)
        if isinstance(result, BadRow):
            assert str(result).isprintable()  # one line, nothing a terminal would obey


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.lists(cell_text, min_size=len(ROW_FIELDS), max_size=len(ROW_FIELDS)), max_size=3
    )
)
def test_any_csv_row_gives_an_order_or_a_bad_row(scratch: Path, rows: list[list[str]]) -> None:
    path = write_csv(scratch / "any.csv", [list(ROW_FIELDS), *rows])
    _assert_orders_or_bad_rows(read(path))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.dictionaries(st.sampled_from([*ROW_FIELDS, "other"]), json_value).map(
            lambda document: json.dumps(document).encode()
        )
        | st.binary(max_size=40).map(lambda line: line.replace(b"\n", b" ")),
        max_size=3,
    )
)
def test_any_jsonl_line_gives_an_order_or_a_bad_row(scratch: Path, lines: list[bytes]) -> None:
    path = scratch / "any.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    _assert_orders_or_bad_rows(read(path))


def test_jsonl_keys_are_exact_field_names(tmp_path: Path) -> None:
    # As in a single order file: JSON producers use the field names; no header guessing.
    path = write_jsonl(tmp_path / "o.jsonl", [{"Order ID": "A1", "error_message": "m"}])
    assert only_bad_row(read(path)).field == "order_id"
