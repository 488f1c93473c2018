"""Bulk triage: a backlog of failed orders diagnosed in one pass, and what blocks how many.

- exports: reading the backlog (CSV, JSON Lines, Excel) into orders and refused rows;
- templates: offline, one diagnosis per order shape, the ids filled in per order;
- cache: the classification and engine caches a run reuses (not built for one order);
- run: the pass itself, in input order, concurrent online, Ctrl-C safe;
- summary: the counts, the exit code and the CSV rows.
"""

from assistant.triage.exports import BadRow as BadRow
from assistant.triage.exports import BulkOrder as BulkOrder
from assistant.triage.exports import parse_column_mapping as parse_column_mapping
from assistant.triage.exports import read_orders as read_orders
from assistant.triage.run import Triaged as Triaged
from assistant.triage.run import finished_after_interrupt as finished_after_interrupt
from assistant.triage.run import triage as triage
from assistant.triage.summary import CSV_COLUMNS as CSV_COLUMNS
from assistant.triage.summary import SkuLoad as SkuLoad
from assistant.triage.summary import Summary as Summary
from assistant.triage.summary import csv_rows as csv_rows
