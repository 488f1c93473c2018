"""Order-context intake as a user meets it: `order-assistant diagnose FILE|-|flags`.

The contract: every bad input ends with exit code 2, empty stdout and ONE line on stderr that
names the source (file, `<stdin>` or `command line`) and the offending field; never a traceback.
Valid input exits 0 (recognised message) or 3 (unrecognized message).

The malformed corpus lives in tests/data/malformed/: one small file per defect, its name says
what is wrong, and EXPECTED_FIELD / EXPECTED_PROBLEM below say what the error line must name.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from assistant.cli import app
from assistant.intake import parse_sku_flag
from tests.conftest import DATA, EXAMPLES, RunCli

MALFORMED = DATA / "malformed"
FOUR_MB = 4 * 1024 * 1024

# Recognised message (exit 0) whose JSON report lists one check per SKU: shows which SKUs the
# context ended up with.
SKU_MESSAGE = "SKU inativo"

# ---- the malformed corpus --------------------------------------------------------------------

# File name -> the field location the error line must name, as `SOURCE: FIELD: problem`.
EXPECTED_FIELD: dict[str, str] = {
    "affiliate-id-object.json": "affiliate_id",
    "ansi-in-message.yaml": "error_message",
    "ansi-in-sku.json": "items[0].sku_id",
    "bell-in-seller-sku.yaml": "items[0].seller_sku",
    "bidi-override-order-id.yaml": "order_id",
    "c1-csi-in-seller-id.json": "seller_id",
    "country-alpha-2.yaml": "country",
    "country-lowercase.yaml": "country",
    "error-message-null.json": "error_message",
    "infinity-quantity.json": "items[0].quantity",
    "item-null.json": "items[0]",
    "items-not-a-list.json": "items",
    "line-separator-in-postal-code.yaml": "postal_code",
    "missing-error-message.yaml": "error_message",
    "missing-order-id.json": "order_id",
    "nan-quantity.json": "items[0].quantity",
    "nul-in-message.json": "error_message",
    "order-id-blank.json": "order_id",
    "order-id-date.yaml": "order_id",
    "order-id-huge-hex-integer.yaml": "order_id",
    "order-id-null.yaml": "order_id",
    "order-id-number.json": "order_id",
    "order-id-too-long.json": "order_id",
    "postal-code-bool.yaml": "postal_code",
    "quantity-float.json": "items[0].quantity",
    "quantity-negative.yaml": "items[0].quantity",
    "quantity-string.json": "items[0].quantity",
    "quantity-too-large.yaml": "items[0].quantity",
    "quantity-true.json": "items[0].quantity",
    "quantity-zero.yaml": "items[0].quantity",
    "sales-channel-float.json": "sales_channel",
    "sales-channel-list.yaml": "sales_channel",
    "sales-channel-true.json": "sales_channel",
    "sku-id-number.json": "items[0].sku_id",
    "too-many-items.json": "items",
    "zero-width-in-order-id.json": "order_id",
}

# File name -> words the error line must contain, for documents refused before any field is
# read (they do not parse, or are not one object): the problem and, where the parser knows
# it, the line and column (or the key, for duplicates).
EXPECTED_PROBLEM: dict[str, tuple[str, ...]] = {
    "alias-bomb.yaml": ("line 1, column 4", "anchors are not allowed"),
    "alias-without-anchor.yaml": ("line 1", "aliases are not allowed"),
    "bad-indentation.yaml": ("invalid YAML at line 2",),
    "comment-only.yaml": ("one object", "empty document"),
    "deeply-nested.json": ("invalid JSON",),
    "deeply-nested.yaml": ("invalid YAML",),
    "duplicate-key.json": ("duplicate key", "order_id"),
    "duplicate-key.yaml": ("line 3", "duplicate key", "order_id"),
    "empty.json": ("invalid JSON at line 1",),
    "empty.yaml": ("one object", "empty document"),
    "merge-key.yaml": ("invalid YAML at line 1",),
    "multiple-documents.yaml": ("invalid YAML at line 3",),
    "not-utf8.json": ("UTF-8", "byte 17"),
    "raw-nul-byte.yaml": ("invalid YAML", "#x0000"),
    "scalar-document.yaml": ("one object",),
    "top-level-list.json": ("one object", "list"),
    "top-level-string.json": ("one object",),
    "truncated.json": ("invalid JSON at line 3",),
    "unhashable-key.yaml": ("invalid YAML at line 3",),
    "utf16-with-bom.json": ("UTF-8", "byte 0"),
    "yaml-python-tag.yaml": ("line 1, column 11", "python/object/apply:os.system"),
}

# Package bugs the corpus once showed are fixed; an entry here marks a file xfail.
KNOWN_BUGS: dict[str, str] = {}


def corpus_params() -> list[Any]:
    params = []
    for path in sorted(MALFORMED.iterdir()):
        marks = []
        if path.name in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.name]))
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


def error_line(result: Result) -> str:
    """The one line a refused input must leave on stderr (after the usual checks)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.strip()
    assert line.startswith("error: ")
    return line


def test_corpus_table_covers_every_file() -> None:
    names = {p.name for p in MALFORMED.iterdir()}
    assert len(names) >= 30
    assert not set(EXPECTED_FIELD) & set(EXPECTED_PROBLEM)
    assert names == set(EXPECTED_FIELD) | set(EXPECTED_PROBLEM)
    assert all(p.stat().st_size < 200_000 for p in MALFORMED.iterdir())


@pytest.mark.parametrize("path", corpus_params())
def test_malformed_file_is_refused_with_one_line(run_cli: RunCli, path: Path) -> None:
    result = run_cli("diagnose", str(path), "--json")
    line = error_line(result)
    assert str(path) in line
    if path.name in EXPECTED_FIELD:
        assert f"error: {path}: {EXPECTED_FIELD[path.name]}: " in line
    else:
        for word in EXPECTED_PROBLEM[path.name]:
            assert word in line


@pytest.mark.parametrize("path", corpus_params())
def test_malformed_document_on_stdin_is_refused(run_cli: RunCli, path: Path) -> None:
    """The same bytes through `-`: the error names <stdin> instead of the file."""
    result = run_cli("diagnose", "-", "--json", input=path.read_bytes())
    line = error_line(result)
    assert line.startswith("error: <stdin>: ")
    if path.name in EXPECTED_FIELD:
        assert f"<stdin>: {EXPECTED_FIELD[path.name]}: " in line


def test_alias_bomb_is_refused_before_expansion(run_cli: RunCli) -> None:
    # Nine levels of nine aliases: 9**9 strings if it were expanded.
    text = (MALFORMED / "alias-bomb.yaml").read_text()
    assert text.count("*") >= 70
    line = error_line(run_cli("diagnose", "-", input=text))
    assert "anchors are not allowed" in line


@pytest.mark.parametrize(
    ("size", "accepted"),
    [(FOUR_MB, True), (FOUR_MB + 1, False)],
    ids=["exactly-4MB", "4MB-plus-one-byte"],
)
def test_file_size_limit(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, accepted: bool
) -> None:
    head = b'{"order_id": "702-1", "error_message": "Order with SKU out of stock", "pad": "'
    tail = b'"}'
    (tmp_path / "big.json").write_bytes(head + b"x" * (size - len(head) - len(tail)) + tail)
    assert (tmp_path / "big.json").stat().st_size == size
    monkeypatch.chdir(tmp_path)
    result = run_cli("diagnose", "big.json", "--json")
    if accepted:
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["order_id"] == "702-1"
        assert "unknown field 'pad'" in result.stderr
    else:
        line = error_line(result)
        assert line.startswith("error: big.json: ")
        assert "4 MB" in line


def test_stdin_over_4mb_is_refused(run_cli: RunCli) -> None:
    line = error_line(run_cli("diagnose", "-", "--json", input=b" " * FOUR_MB + b"{}"))
    assert line.startswith("error: <stdin>: ")
    assert "4 MB" in line


# ---- the command line ------------------------------------------------------------------------


def sku_ids(result: Result) -> list[str]:
    """SKU ids of the checks in a `--json` report, in order, without repeats."""
    report = json.loads(result.stdout)
    seen: list[str] = []
    for check in report["checks"]:
        if check["sku_id"] is not None and check["sku_id"] not in seen:
            seen.append(check["sku_id"])
    return seen


def run_skus(run_cli: RunCli, *skus: str) -> Result:
    args = ["diagnose", "--json", "--message", SKU_MESSAGE, "--order-id", "702-1"]
    for sku in skus:
        args += ["--sku", sku]
    return run_cli(*args)


@pytest.mark.parametrize(
    ("flag", "parsed"),
    [
        ("A", {"sku_id": "A"}),
        ("A:2", {"sku_id": "A", "quantity": 2}),
        ("1070:1000000", {"sku_id": "1070", "quantity": 1000000}),
        # The quantity is the part after the LAST colon.
        ("A::2", {"sku_id": "A:", "quantity": 2}),
        ("A:B:3", {"sku_id": "A:B", "quantity": 3}),
    ],
)
def test_sku_flag_accepted(run_cli: RunCli, flag: str, parsed: dict[str, Any]) -> None:
    assert parse_sku_flag(flag) == parsed
    result = run_skus(run_cli, flag)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert sku_ids(result) == [parsed["sku_id"]]


@pytest.mark.parametrize("flag", ["A:0", "A:x", "A:-1", "A:", "A:1.5", "A: 2", "A:1000001", ""])
def test_sku_flag_refused(run_cli: RunCli, flag: str) -> None:
    line = error_line(run_skus(run_cli, flag))
    assert line.startswith("error: command line: --sku")


@pytest.mark.parametrize("flag", [":2", ":"])
def test_sku_flag_with_empty_id_is_refused(run_cli: RunCli, flag: str) -> None:
    line = error_line(run_skus(run_cli, flag))
    assert line.startswith("error: command line: --sku")


def test_repeated_sku_flags_keep_order(run_cli: RunCli) -> None:
    result = run_skus(run_cli, "3301:2", "CAM-AZ-42", "1070:5")
    assert result.exit_code == 0, result.stderr
    assert sku_ids(result) == ["3301", "CAM-AZ-42", "1070"]


def test_flags_override_the_files_fields(run_cli: RunCli) -> None:
    path = EXAMPLES / "sla_unavailable.json"
    plain = run_cli("diagnose", str(path), "--json")
    assert plain.exit_code == 0
    assert sku_ids(plain) != ["4242"]
    result = run_cli(
        "diagnose",
        str(path),
        "--json",
        "--order-id",
        "999-0000000-0000001",
        "--message",
        SKU_MESSAGE,
        "--sku",
        "4242:3",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["order_id"] == "999-0000000-0000001"
    assert report["error"]["code"] == "sku_inactive"
    assert report["error"]["message"] == SKU_MESSAGE
    assert sku_ids(result) == ["4242"]


def test_message_flag_turns_unrecognized_file_into_recognised(run_cli: RunCli) -> None:
    path = str(EXAMPLES / "unrecognized.yaml")
    assert run_cli("diagnose", path, "--json").exit_code == 3
    result = run_cli("diagnose", path, "--json", "--message", SKU_MESSAGE)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["order_id"] == "702-4455667-8899001"


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("country-lowercase.yaml", ["--country", "BRA"]),
        ("postal-code-bool.yaml", ["--postal-code", "01310-100"]),
        ("sales-channel-true.json", ["--sales-channel", "3"]),
        ("affiliate-id-object.json", ["--affiliate-id", "MZN"]),
        ("order-id-number.json", ["--order-id", "702-3318870-5521903"]),
        ("missing-order-id.json", ["--order-id", "702-3318870-5521903"]),
        ("missing-error-message.yaml", ["--message", SKU_MESSAGE]),
        ("quantity-true.json", ["--sku", "1070:2"]),
        ("items-not-a-list.json", ["--sku", "1070"]),
        ("ansi-in-sku.json", ["--sku", "1070"]),
    ],
)
def test_flag_replaces_a_bad_field_of_the_file(
    run_cli: RunCli, name: str, flags: list[str]
) -> None:
    path = str(MALFORMED / name)
    assert run_cli("diagnose", path, "--json").exit_code == 2
    result = run_cli("diagnose", path, "--json", *flags)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["order_id"] == "702-3318870-5521903"


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--country", "bra"], "--country (country)"),
        (["--order-id", "  "], "--order-id (order_id)"),
        (["--order-id", "702\u202e1"], "--order-id (order_id)"),
        (["--postal-code", "01310\x00100"], "--postal-code (postal_code)"),
        (["--affiliate-id", "M\u200bZN"], "--affiliate-id (affiliate_id)"),
        (["--sales-channel", "\x1b[1m3"], "--sales-channel (sales_channel)"),
        (["--message", "\x1b]0;pwned\x07"], "--message (error_message)"),
        (["--sku", "10\x1b70"], "--sku (items[0].sku_id)"),
    ],
)
def test_bad_flag_over_a_good_file_blames_the_command_line(
    run_cli: RunCli, flags: list[str], field: str
) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "sku_out_of_stock.json"), "--json", *flags)
    line = error_line(result)
    assert line.startswith(f"error: command line: {field}: ")


def test_flags_alone_are_enough(run_cli: RunCli) -> None:
    result = run_cli(
        "diagnose",
        "--json",
        "--order-id",
        "701-1",
        "--message",
        SKU_MESSAGE,
        "--sales-channel",
        "3",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["order_id"] == "701-1"


def test_flags_without_order_id_name_the_missing_field(run_cli: RunCli) -> None:
    line = error_line(run_cli("diagnose", "--json", "--message", SKU_MESSAGE))
    assert line.startswith("error: command line: order_id: ")
    assert "--order-id" in line


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_stdin_dash_reads_json_and_yaml(run_cli: RunCli, suffix: str) -> None:
    path = EXAMPLES / f"sla_unavailable.{suffix}"
    from_file = run_cli("diagnose", str(path), "--json")
    from_stdin = run_cli("diagnose", "-", "--json", input=path.read_bytes())
    assert from_stdin.exit_code == from_file.exit_code == 0
    assert from_stdin.stderr == ""
    assert json.loads(from_stdin.stdout) == json.loads(from_file.stdout)


def test_stdin_with_utf8_bom_is_read(run_cli: RunCli) -> None:
    data = b"\xef\xbb\xbf" + (EXAMPLES / "sku_inactive.json").read_bytes()
    result = run_cli("diagnose", "-", "--json", input=data)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["order_id"] == "701-4419302-7781220"


def test_sales_channel_integer_is_normalised(run_cli: RunCli) -> None:
    document = json.loads((EXAMPLES / "sku_without_trade_policy.json").read_text())
    as_text = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    document["sales_channel"] = 3
    as_int = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    assert as_int.exit_code == as_text.exit_code == 0
    assert as_int.stderr == ""
    assert json.loads(as_int.stdout) == json.loads(as_text.stdout)


def test_unknown_fields_warn_but_do_not_fail(run_cli: RunCli) -> None:
    document = json.loads((EXAMPLES / "sku_inactive.json").read_text())
    document["buyer_name"] = "Maria"
    document["items"][0]["price"] = 10.5
    result = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["order_id"] == "701-4419302-7781220"
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert all(line.startswith("warning: <stdin>: unknown field") for line in lines)
    assert "buyer_name" in lines[0]
    assert "items[0].price" in lines[1]


def test_no_order_file_and_no_flags(run_cli: RunCli) -> None:
    line = error_line(run_cli("diagnose", "--json"))
    assert "--message" in line


def test_directory_as_order_file(run_cli: RunCli, tmp_path: Path) -> None:
    line = error_line(run_cli("diagnose", str(tmp_path), "--json"))
    assert line.startswith(f"error: {tmp_path}: ")
    assert "directory" in line


def test_missing_order_file(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    line = error_line(run_cli("diagnose", str(missing), "--json"))
    assert line == f"error: {missing}: no such file"


def test_long_error_stays_on_one_line_in_a_narrow_terminal(tmp_path: Path) -> None:
    """Rich wraps at the terminal width (80 when stderr is a pipe); the error must not."""
    path = tmp_path / ("order-context-" + "x" * 60 + ".yaml")
    path.write_text((MALFORMED / "yaml-python-tag.yaml").read_text())
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "40"})
    result = runner.invoke(app, ["diagnose", str(path)], catch_exceptions=False)
    line = error_line(result)
    assert str(path) in line
    assert "python/object/apply:os.system" in line


# ---- terminal safety -------------------------------------------------------------------------

ESC_ORDER_ID = "\x1b[31m702-1"


@pytest.mark.parametrize(
    ("args", "document"),
    [
        ([], json.dumps({"order_id": ESC_ORDER_ID, "error_message": SKU_MESSAGE})),
        ([], yaml.safe_dump({"order_id": ESC_ORDER_ID, "error_message": SKU_MESSAGE})),
        (["--order-id", ESC_ORDER_ID, "--message", SKU_MESSAGE], None),
        (["--order-id", "702-1", "--message", SKU_MESSAGE, "--sku", ESC_ORDER_ID + ":x"], None),
    ],
    ids=["json", "yaml", "order-id-flag", "sku-flag"],
)
def test_rejected_id_is_never_echoed_raw(
    run_cli: RunCli, args: list[str], document: str | None
) -> None:
    source = ["-"] if document is not None else []
    result = run_cli("diagnose", *source, *args, input=document)
    line = error_line(result)
    assert "\x1b" not in result.stderr
    assert "\x1b" not in result.stdout
    assert "U+001B" in line or "\\x1b" in line


def test_unknown_field_name_is_not_echoed_raw(run_cli: RunCli) -> None:
    document = {"order_id": "702-1", "error_message": SKU_MESSAGE, "\x1b[2Jx\u202e": 1}
    result = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    assert result.exit_code == 0
    assert "\x1b" not in result.stderr
    assert "\u202e" not in result.stderr
    assert result.stderr.startswith("warning: <stdin>: unknown field")


def test_file_name_with_escape_is_not_echoed_raw(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "order\x1b[2J.json"
    line = error_line(run_cli("diagnose", str(path), "--json"))
    assert "\x1b" not in line


def test_file_name_with_emoji_code_is_named_as_is(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error_line(run_cli("diagnose", ":x:.json", "--json"))
    assert line == "error: :x:.json: no such file"


def test_unknown_field_with_emoji_code_is_named_as_is(run_cli: RunCli) -> None:
    document = {"order_id": "702-1", "error_message": SKU_MESSAGE, ":smiley:": 1}
    result = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    assert result.exit_code == 0
    assert ":smiley:" in result.stderr


def test_escaped_value_is_escaped_once(run_cli: RunCli) -> None:
    document = {"order_id": "702-1", "error_message": SKU_MESSAGE, "a\x1bb": 1}
    result = run_cli("diagnose", "-", "--json", input=json.dumps(document))
    assert result.exit_code == 0
    assert "\\x1b" in result.stderr
    assert "\\\\x1b" not in result.stderr


# ---- property-based --------------------------------------------------------------------------

FAST = settings(
    max_examples=120,
    deadline=None,
    database=None,  # write nothing into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

EXAMPLE_DOCUMENTS = [json.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.json"))] + [
    yaml.safe_load(path.read_text()) for path in sorted(EXAMPLES.glob("*.yaml"))
]
EXAMPLE_MESSAGES = sorted({doc["error_message"] for doc in EXAMPLE_DOCUMENTS})

TOKENS = [
    "{", "}", "[", "]", ":", ",", " ", "\n", "- ", "  ", '"', "'", "#", "&a ", "*a", "!!str ",
    "!!python/name:os.system", "---\n", "...", "order_id", '"order_id"', "error_message",
    '"error_message": ', "items", "sku_id", "quantity", "true", "null", "~", "NaN", "-1", "0",
    "1e400", "0x" + "f" * 40, "2024-01-01", '"\\u001b[31m"', '"\\e"', "\u202e", "\x00", "\ufeff",
]  # fmt: skip


def assert_clean_outcome(result: Result) -> None:
    assert result.exit_code in {0, 2, 3}, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 2:
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
    else:
        json.loads(result.stdout)


@FAST
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=300).map(str.encode),
        st.lists(st.sampled_from(TOKENS), max_size=40).map("".join).map(str.encode),
    )
)
def test_arbitrary_stdin_never_crashes(run_cli: RunCli, data: bytes) -> None:
    assert_clean_outcome(run_cli("diagnose", "-", "--json", input=data))


CONTROL_CHARS = st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp"])
MESSAGE_CONTROL_CHARS = st.characters(
    categories=["Cc", "Cf", "Cs", "Zl", "Zp"], exclude_characters="\t\n\r"
)
SHORT_TEXT = st.text(string.ascii_letters + string.digits + "-", max_size=8)


def with_control(chars: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, c, b: a + c + b, SHORT_TEXT, chars, SHORT_TEXT)


NOT_A_STRING = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(SHORT_TEXT, st.integers(-5, 5), max_size=2),
)
INTEGERS = st.integers(-(10**12), 10**12)

# Field -> values of the wrong type for it (null only where the field is required).
WRONG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "order_id": st.one_of(NOT_A_STRING, INTEGERS, st.none(), with_control(CONTROL_CHARS)),
    "error_message": st.one_of(
        NOT_A_STRING, INTEGERS, st.none(), with_control(MESSAGE_CONTROL_CHARS)
    ),
    "items": st.one_of(
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        INTEGERS,
        SHORT_TEXT,
        st.none(),
        st.just({}),
    ),
    # An integer is a valid sales channel (normalised to text).
    "sales_channel": st.one_of(NOT_A_STRING, with_control(CONTROL_CHARS)),
    "affiliate_id": st.one_of(NOT_A_STRING, INTEGERS, with_control(CONTROL_CHARS)),
    "postal_code": st.one_of(NOT_A_STRING, INTEGERS, with_control(CONTROL_CHARS)),
    "country": st.one_of(NOT_A_STRING, INTEGERS, with_control(CONTROL_CHARS)),
    "seller_id": st.one_of(NOT_A_STRING, INTEGERS, with_control(CONTROL_CHARS)),
    "items[0].sku_id": st.one_of(NOT_A_STRING, INTEGERS, st.none(), with_control(CONTROL_CHARS)),
    "items[0].seller_sku": st.one_of(NOT_A_STRING, INTEGERS, with_control(CONTROL_CHARS)),
    "items[0].quantity": st.one_of(NOT_A_STRING, st.none(), SHORT_TEXT),
}


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document)
    return yaml.safe_dump(document, sort_keys=False, width=float("inf"))


@FAST
@given(
    base=st.sampled_from(EXAMPLE_DOCUMENTS),
    field_and_value=st.sampled_from(sorted(WRONG_VALUES)).flatmap(
        lambda name: st.tuples(st.just(name), WRONG_VALUES[name])
    ),
    fmt=st.sampled_from(["json", "yaml"]),
)
def test_one_wrong_field_is_refused_and_named(
    run_cli: RunCli, base: dict[str, Any], field_and_value: tuple[str, Any], fmt: str
) -> None:
    field, value = field_and_value
    document = json.loads(json.dumps(base))  # a deep copy
    if field.startswith("items[0]."):
        document["items"][0][field.removeprefix("items[0].")] = value
    else:
        document[field] = value
    result = run_cli("diagnose", "-", "--json", input=dump(document, fmt))
    line = error_line(result)
    assert line.startswith(f"error: <stdin>: {field}: ")


@settings(max_examples=300, deadline=None, database=None)
@given(
    sku=st.text(
        st.characters(exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"])
    ).filter(lambda s: s != "" and ":" not in s and s.isprintable()),
    quantity=st.integers(1, 10**6),
)
def test_parse_sku_flag_round_trips(sku: str, quantity: int) -> None:
    assert parse_sku_flag(f"{sku}:{quantity}") == {"sku_id": sku, "quantity": quantity}
    assert parse_sku_flag(sku) == {"sku_id": sku}


PRINTABLE_ID = st.text(
    st.characters(
        exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"], include_characters=" "
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s.isprintable())


@settings(FAST, max_examples=100)
@given(
    order_id=PRINTABLE_ID,
    message=st.one_of(
        st.sampled_from(EXAMPLE_MESSAGES),
        st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]), max_size=200),
    ).filter(lambda s: s.strip() != ""),
    items=st.lists(
        st.fixed_dictionaries({"sku_id": PRINTABLE_ID, "quantity": st.integers(1, 1000)}),
        max_size=4,
    ),
    optional=st.fixed_dictionaries(
        {},
        optional={
            "sales_channel": st.one_of(PRINTABLE_ID, st.integers(0, 10**6)),
            "affiliate_id": PRINTABLE_ID,
            "postal_code": PRINTABLE_ID,
            "country": st.text(string.ascii_uppercase, min_size=3, max_size=3),
            "seller_id": PRINTABLE_ID,
        },
    ),
    fmt=st.sampled_from(["json", "yaml"]),
)
def test_valid_context_is_diagnosed(
    run_cli: RunCli,
    order_id: str,
    message: str,
    items: list[dict[str, Any]],
    optional: dict[str, Any],
    fmt: str,
) -> None:
    document = {"order_id": order_id, "error_message": message, "items": items, **optional}
    text = dump(document, fmt)
    if fmt == "yaml":
        assume(yaml.safe_load(text) == document)  # PyYAML's own round trip is not under test
    result = run_cli("diagnose", "-", "--json", input=text)
    assert result.exit_code in {0, 3}, result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["order_id"] == order_id
    assert report["error"]["message"] == message
