"""The catalogue published from the city to every county node (issue 18, part 3), reference kind `catalogue`.

A catalogue import at the city (the administrator's upload, `flask catalog import`) that creates or rewrites items
publishes those items whole — name, mode, department, limits, baselines, materials, approval kind and template text,
as the platform's catalogue CSV (delegation/catalog_io.py) — in the import's transaction, as the next version of
`catalogue` (delegation/reference_publish.py). A county node imports them the same way (the city has already judged
只减不增 and recorded any override), so its new cases follow the city's catalogue.

New cases only: every case records the catalogue version in force when it was registered (case_file.
catalogue_version). A case already registered keeps what it was given then — its materials list, and once accepted
its deadline — whatever a later version says."""
from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import sqlalchemy as sa

from delegation import catalog_io, reference_publish
from delegation.errors import Invalid
from delegation.models import Case, Division, Item, Org
from delegation.reference_models import ReferenceVersion
from delegation.titles import N_
from exchange import jsonform
from exchange.errors import ExchangeRejected
from persistence import db

KIND = "catalogue"
BATCH = 200  # items a publication at most; fewer when their texts are long (_batches)
CSV_MAX = 1_000_000  # characters of Catalogue/Csv (tq:PublishedCatalogue)
# What the JSON form's envelope holds beside the CSV (header, kind, version, time) and the JWS beside its payload:
# far more than they take, so that a CSV judged to fit does fit whatever the recipient's wire format.
_ENVELOPE_ALLOWANCE = 8192


def _csv(codes: list[str]) -> str:
    from delegation import window_decisions
    from delegation.citywide import citywide_item_ids

    items = db.session.execute(sa.select(Item).where(Item.code.in_(codes)).order_by(Item.code)).unique().scalars().all()
    approvals = window_decisions.kinds_by_item(i.id for i in items)
    flagged = citywide_item_ids()
    specs = [catalog_io.item_to_spec(i, approvals.get(i.id), i.id in flagged) for i in items]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalogue.csv"
        catalog_io.write_catalog(specs, path, bom=False)
        # one line ending: XML would carry a CR only escaped, and the reader takes LF alone
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")


def _fits(csv: str) -> bool:
    """Whether one publication can carry `csv` in either wire format: the XSD's Csv length, and the JSON form's
    whole message (UTF-8, the JSON string's escapes, base64url of the payload) under what a receiver reads."""
    if len(csv) > CSV_MAX:
        return False
    payload = len(orjson.dumps(csv)) + _ENVELOPE_ALLOWANCE
    return 4 * -(-payload // 3) + _ENVELOPE_ALLOWANCE <= jsonform.MAX_MESSAGE_BYTES


def _batches(codes: list[str]):
    """The CSV of each publication for `codes`, in order: BATCH items at most, halved until each fits (items with
    long texts travel a few a message). One item that cannot fit alone refuses the whole import (Invalid), before a
    message that no county could read is sent."""
    pending = [codes[s:s + BATCH] for s in range(0, len(codes), BATCH)]
    while pending:
        chunk = pending.pop(0)
        csv = _csv(chunk)
        if _fits(csv):
            yield csv
        elif len(chunk) > 1:
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]
        else:
            raise Invalid("catalogue_too_large",
                          f"事项 {chunk[0]} 的内容过长（设定依据、受理条件等共 {len(csv)} 字），无法发布到县级节点，"
                          "未导入任何内容；请精简后重新导入",
                          f"item {chunk[0]} is too long to publish to the county nodes ({len(csv)} characters of "
                          "legal basis, conditions and the rest); nothing was imported: shorten it and import again",
                          field="file")


def _publish(codes: list[str]) -> None:
    if reference_publish.publisher_org() is None:
        return  # a county's import stays on the county node
    for csv in _batches(codes):
        reference_publish.publish(KIND, {"catalogue": {"csv": csv}})


catalog_io.on_import(_publish)


def _apply(env, body: dict) -> None:
    published = body.get("catalogue")
    if published is None:
        raise ExchangeRejected("schema_invalid", "a catalogue publication carries the items (Catalogue)")
    departments = db.session.execute(sa.select(Org.code)).scalars().all()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalogue.csv"
        path.write_text(published["csv"], encoding="utf-8")
        try:
            specs = catalog_io.read_catalog(path, departments, over_baseline=True)
        except catalog_io.CatalogError as exc:
            raise ExchangeRejected("catalogue_invalid", exc.summary("en", limit=5)) from None
    # an item new to this node is delegated to the counties it hosts, as the city's import delegated it there
    divisions = db.session.execute(
        sa.select(Org.division_code).join(Division, Division.code == Org.division_code)
        .where(Org.level == "county", Org.node_id == reference_publish._bus().node_id).distinct()
    ).scalars().all()
    try:
        catalog_io.import_catalog(db.session, specs, sorted(divisions))
    except (catalog_io.CatalogError, ValueError) as exc:
        raise ExchangeRejected("catalogue_invalid", f"the published catalogue cannot be imported: {exc}") from None


def everything():
    codes = db.session.execute(sa.select(Item.code).order_by(Item.code)).scalars().all()
    return [{"catalogue": {"csv": csv}} for csv in _batches(codes)]


reference_publish.register(KIND, N_("事项目录"), _apply, everything)


@sa.event.listens_for(Case, "before_insert")
def _stamp(mapper, connection, case: Case) -> None:
    """Every case, however it is registered, notes the catalogue version in force (in the same statement's
    transaction, so a publication applied meanwhile counts for the cases after it)."""
    if case.catalogue_version is None:
        case.catalogue_version = connection.execute(
            sa.select(ReferenceVersion.version).where(ReferenceVersion.kind == KIND)).scalar()
