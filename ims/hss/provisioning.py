"""Subscriber CSV files: columns, parsing, errors that name the line (shared by CLI and gRPC)."""

from __future__ import annotations

import csv
import io

from ims.hss.store import StoreError, Subscriber, make_subscriber

CSV_COLUMNS = ("imsi", "impi", "impus", "msisdn", "k", "opc", "op", "amf", "sqn", "password", "service_profile")


def parse_csv(text: str, name: str = "<csv>") -> list[Subscriber]:
    """Every row validated before anything is stored; the first bad row is named by line."""
    reader = csv.DictReader(io.StringIO(text))
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown:
        raise StoreError(f"{name}: unknown column(s) {', '.join(sorted(unknown))}")
    subs = []
    for line, row in enumerate(reader, start=2):
        try:
            subs.append(make_subscriber({k: v for k, v in row.items() if v not in (None, "")}))
        except StoreError as exc:
            raise StoreError(f"{name}:{line}: {exc}") from None
    return subs
