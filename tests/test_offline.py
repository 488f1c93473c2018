"""Offline triage by order shape (assistant.triage.templates) gives what `diagnose` gives."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.diagnose import Diagnoser, compile_rulebook
from assistant.models import Item, OrderContext
from assistant.triage import BulkOrder, Summary, Triaged, csv_rows, triage
from assistant.triage.templates import Templates

WORDINGS = Path(__file__).parent / "data" / "message_wordings.yaml"

SKU_IDS = [
    "1070",
    "2231",
    "2147483647",  # the largest VTEX id
    "2147483648",  # one more: digits, but not a VTEX id
    "99999999999",
    "0123",  # leading zero
    "CAM-AZ-42",  # a RefId
    "cam az 42",
    'quote"d',
    "back\\slash",
    "ÁÇÕ-ñ-1",
    "1975310001",  # a VTEX id that looks like a stand-in
    "X1975310000",  # a RefId that holds the stand-in mark
    "01975310000",  # digits with a leading zero, like a stand-in
    "19753100009999",  # too large, like a stand-in
    "1",
]
ORDER_IDS = [
    "702-1234567-0000001",
    "702-1234567-0000002_FBA",
    "702-1234567-FBAOS",
    "702-1234567-0000003_fba",
    'order "quoted" \\ 1070',
    "1070",  # an order id equal to a SKU id
    "ñandú-7",
]


@functools.cache
def _messages() -> list[str]:
    entries = yaml.safe_load(WORDINGS.read_text("utf-8"))
    texts = sorted({entry["text"] for entry in entries})
    return [
        *texts,
        "Something nobody documented",
        "Inactive SKU 1975310002",  # the stand-in mark in the message
        "sku inativo\tcom tab",
    ]


def _context(rng: random.Random) -> OrderContext:
    items: list[dict[str, Any]] = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 4])):
        if items and rng.random() < 0.25:  # the same SKU twice in one order
            items.append(dict(rng.choice(items)))
            continue
        item: dict[str, Any] = {
            "sku_id": rng.choice(SKU_IDS),
            "quantity": rng.choice([1, 1, 2, 5]),
        }
        if rng.random() < 0.2:
            item["seller_sku"] = "SELLER-" + str(rng.randrange(100))
        items.append(item)
    data: dict[str, Any] = {
        "order_id": rng.choice(ORDER_IDS),
        "error_message": rng.choice(_messages()),
        "items": items,
    }
    for name, value in (
        ("sales_channel", "3"),
        ("affiliate_id", "MZN"),
        ("postal_code", f"{rng.randrange(10**8):08d}"),
        ("country", "BRA"),
        ("seller_id", "mystore"),
    ):
        if rng.random() < 0.5:
            data[name] = value
    return OrderContext.model_validate(data)


@functools.cache
def _diagnoser() -> Diagnoser:
    return compile_rulebook()


def _compare(diagnoser: Diagnoser, contexts: list[OrderContext]) -> int:
    """Every context through the templates and through `diagnose`: the same JSON text, the same
    models, the same CSV rows and the same summary. Returns how many used a template."""
    templates = Templates(diagnoser)
    by_shape, plain = Summary(), Summary()
    templated = 0
    for row, context in enumerate(contexts, start=2):
        order = BulkOrder(row, context)
        expected = diagnoser.diagnose(context)
        template = templates.template(context)
        if template is None:
            result = Triaged(order, expected)
        else:
            templated += 1
            result = Triaged(order, template=template)
            assert result.json() == expected.model_dump_json(), context
            assert list(csv_rows(result)) == list(csv_rows(Triaged(order, expected))), context
            assert result.diagnosis == expected, context
        by_shape.add(Triaged(order, template=template) if template else result)
        plain.add(Triaged(order, expected))
    assert by_shape.as_dict() == plain.as_dict()
    assert list(by_shape.by_finding.items()) == list(plain.by_finding.items())  # same order
    assert by_shape.by_status == plain.by_status
    return templated


def test_templates_give_the_diagnosis_of_each_order() -> None:
    rng = random.Random(20240611)
    contexts = [_context(rng) for _ in range(3000)]
    templated = _compare(_diagnoser(), contexts)
    assert templated > 2500  # the path is taken for nearly all of them


def test_shapes_share_one_diagnosis_whatever_the_ids() -> None:
    diagnoser = _diagnoser()
    templates = Templates(diagnoser)
    for n in range(50):
        context = OrderContext(
            order_id=f"702-{n}",
            error_message="Inactive SKU",
            items=[Item(sku_id=str(1000 + n), quantity=1 + n % 3), Item(sku_id=f"CAM-{n}")],
            postal_code=f"{n:08d}",
        )
        assert templates.template(context) is not None
    assert templates.built == 1


def test_stand_in_lookalikes_are_diagnosed_on_their_own() -> None:
    templates = Templates(_diagnoser())
    in_message = OrderContext(
        order_id="702-1", error_message="Inactive SKU 1975310000", items=[Item(sku_id="1070")]
    )
    in_refid = OrderContext(
        order_id="702-1", error_message="Inactive SKU", items=[Item(sku_id="X1975310000")]
    )
    assert templates.template(in_message) is None
    template = templates.template(in_refid)  # a RefId is not digits: its stand-in is a text
    assert template is not None
    expected = _diagnoser().diagnose(in_refid).model_dump_json()
    assert template.json(in_refid) == expected


def test_rules_that_read_quantities_and_order_ids(tmp_path: Path) -> None:
    """Custom rules that test the quantity and FBA and quote them, the order id and a check:
    quantities become part of the shape, order ids are filled in."""
    (tmp_path / "custom.yaml").write_text(
        """
findings:
  bulk_quantity:
    title: A bulk quantity
    owner: store
    playbook: restock
  fba_order:
    title: An FBA order
    owner: amazon
    playbook: contact-amazon
error:
  code: carrier_not_registered
  title: Carrier not registered in the ERP
  patterns:
    - 'carrier not registered in the erp'
  checks: [sku_id_format]
  next_steps:
    - Register the carrier.
rules:
  bulk_quantity_reported:
    finding: bulk_quantity
    status: reported
    evidence: "order {order_id}: {sku} x{quantity} ({check_sku_id_format})"
    all:
      - order: {$and: [{kind: order}, {error_code: carrier_not_registered}]}
      - item: {$and: [{kind: item}, {$gt: {quantity: 1}}]}
  fba_order_reported:
    finding: fba_order
    status: reported
    evidence: "FBA order {order_id}"
    all:
      - order: {$and: [{kind: order}, {error_code: carrier_not_registered}, {fba: true}]}
""",
        "utf-8",
    )
    diagnoser = compile_rulebook([tmp_path])
    assert Templates(diagnoser).quantities
    rng = random.Random(7)
    contexts = []
    for _ in range(300):
        context = _context(rng)
        if rng.random() < 0.5:
            context = context.model_copy(
                update={"error_message": "Carrier not registered in the ERP"}
            )
        contexts.append(context)
    assert _compare(diagnoser, contexts) > 250


@pytest.mark.parametrize("size", [1, 3])
def test_a_small_cache_still_gives_the_same_results(size: int) -> None:
    diagnoser = _diagnoser()
    templates = Templates(diagnoser, size=size)
    rng = random.Random(size)
    for _ in range(200):
        context = _context(rng)
        template = templates.template(context)
        if template is not None:
            assert template.json(context) == diagnoser.diagnose(context).model_dump_json()


def test_the_offline_cache_keeps_each_orders_own_id_in_evidence(tmp_path: Path) -> None:
    (tmp_path / "named.yaml").write_text(
        """
findings:
  named_order:
    title: An order named in its evidence
    owner: store
    playbook: restock
error:
  code: order_named
  title: Order named
  patterns: ['order named in evidence']
  checks: []
  next_steps: [Nothing.]
rules:
  named_order_reported:
    finding: named_order
    status: reported
    evidence: "order {order_id}"
    all:
      - order: {$and: [{kind: order}, {error_code: order_named}]}
""",
        "utf-8",
    )
    diagnoser = compile_rulebook([tmp_path])
    orders = [
        BulkOrder(row, OrderContext(order_id=order_id, error_message="Order named in evidence"))
        for row, order_id in enumerate(("A-1", "A-2"), start=2)
    ]
    one_by_one = [diagnoser.diagnose(order.context).findings[0].evidence for order in orders]
    # Triage's caches (shapes, classifications, engine hits) must not share the order's text.
    triaged = [
        result.diagnosis.findings[0].evidence
        for result in triage(orders, diagnoser)
        if isinstance(result, Triaged)
    ]
    assert one_by_one == triaged == [["order A-1"], ["order A-2"]]


CARRIER_ERROR = """
error:
  code: carrier_not_registered
  title: Carrier not registered in the ERP
  patterns: ['carrier not registered in the erp']
  checks: []
  next_steps: [Register the carrier.]
"""


def _custom(tmp_path: Path, findings_and_rules: str) -> Diagnoser:
    (tmp_path / "custom.yaml").write_text(CARRIER_ERROR + findings_and_rules, "utf-8")
    return compile_rulebook([tmp_path])


def test_a_literal_fba_after_a_non_fba_order_id_stays(tmp_path: Path) -> None:
    diagnoser = _custom(
        tmp_path,
        """
findings:
  amazon_ref: {title: Amazon reference, owner: amazon, playbook: contact-amazon}
rules:
  amazon_ref_reported:
    finding: amazon_ref
    status: reported
    evidence: "Look up {order_id}_FBA in Seller Central"
    all:
      - order: {$and: [{kind: order}, {error_code: carrier_not_registered}]}
""",
    )
    contexts = [
        OrderContext(order_id=order_id, error_message="Carrier not registered in the ERP")
        for order_id in ("A-1", "A-2_FBA", "A-3FBAOS", "A-4")
    ]
    assert _compare(diagnoser, contexts) == 4


def test_evidence_lines_equal_once_the_ids_are_in_merge_as_one(tmp_path: Path) -> None:
    diagnoser = _custom(
        tmp_path,
        """
findings:
  ref_seen: {title: Reference seen, owner: store, playbook: restock}
rules:
  ref_by_sku:
    finding: ref_seen
    status: reported
    evidence: "ref {sku_id}"
    all:
      - order: {$and: [{kind: order}, {error_code: carrier_not_registered}]}
      - item: {$and: [{kind: item}, {known: true}]}
  ref_by_order:
    finding: ref_seen
    status: reported
    evidence: "ref {order_id}"
    all:
      - order: {$and: [{kind: order}, {error_code: carrier_not_registered}]}
      - item: {$and: [{kind: item}, {known: true}]}
""",
    )
    same = OrderContext(
        order_id="1070",
        error_message="Carrier not registered in the ERP",
        items=[Item(sku_id="1070")],
    )
    differ = same.model_copy(update={"order_id": "702-9"})
    _compare(diagnoser, [same, differ])
    assert diagnoser.diagnose(same).findings[0].evidence == ["ref 1070"]
