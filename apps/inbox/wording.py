"""People's words for what the pages show: kinds, states, steps, outcomes and field names,
and numbers and money in the reader's own format.

Identifiers read as words on their own ("team_lead_review" -> "Team lead review", with
acronyms kept: "cfo_review" -> "CFO review"); a process kind overrides any of them in its
`words` declaration (apps/workflows/processes/*.py), where the generic wording reads badly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils import formats, numberformat, translation

from apps.core.errors import UnknownProcessKind
from apps.workflows.registry import definition_latest

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance

# Words that are acronyms when they stand alone in an identifier.
ACRONYMS = frozenset({"cfo", "ceo", "hr", "it", "id", "po", "erp", "api", "sla", "vat", "iban"})
_SEPARATORS = re.compile(r"[_.\-\s]+")


def humanize(key: object) -> str:
    """`request_changes` -> "Request changes"; `task.completed` -> "Task completed"; `cfo` -> "CFO"."""
    words = [word for word in _SEPARATORS.split(str(key)) if word]
    if not words:
        return ""
    shaped = [word.upper() if word.lower() in ACRONYMS else word.lower() for word in words]
    first = shaped[0]
    shaped[0] = first if first.isupper() else first.capitalize()
    return " ".join(shaped)


def kind_words(kind: str) -> Mapping[str, Any]:
    try:
        return definition_latest(kind).words
    except UnknownProcessKind:
        return {}


def word_for(kind: str, category: str, key: str) -> str:
    """The kind's own words for `key` in `category` ("states", "steps", "outcomes"), else generic."""
    return kind_words(kind).get(category, {}).get(key) or humanize(key)


def state_label(kind: str, state: str) -> str:
    return word_for(kind, "states", state)


def step_label(kind: str, step: str) -> str:
    return word_for(kind, "steps", step)


def outcome_label(kind: str, outcome: str) -> str:
    return word_for(kind, "outcomes", outcome)


def outcome_done(kind: str, outcome: str) -> str:
    """ "Approved": the outcome as a thing done, for the sentence after a decision."""
    return kind_words(kind).get("done", {}).get(outcome) or f"“{outcome_label(kind, outcome)}” recorded"


def kind_noun(kind: str) -> str:
    """ "purchase order": what one process of this kind is called in a sentence."""
    return kind_words(kind).get("noun") or humanize(kind).lower()


def kind_title(kind: str) -> str:
    try:
        return definition_latest(kind).process_title
    except UnknownProcessKind:
        return humanize(kind)


def waiting_for(kind: str, state: str) -> str | None:
    """Who an instance in `state` waits for ("the team leads"), if the kind says."""
    return kind_words(kind).get("waiting_for", {}).get(state)


def person_name(user: User | None) -> str:
    if user is None:
        return "the system"
    return user.get_full_name() or user.get_username()


# --- Numbers and money ---------------------------------------------------------------------------


def reader_language(request: HttpRequest | None) -> str:
    """The reader's language for formats, from their browser (Accept-Language); else the site's."""
    if request is None:
        return translation.get_language() or "en"
    cached = getattr(request, "_reader_language", None)
    if cached is None:
        cached = translation.get_language_from_request(request, check_path=False)
        request._reader_language = cached  # type: ignore[attr-defined]
    return cached


def number(value: Any, *, language: str, decimal_places: int | None = None) -> str:
    """`1200000` -> "1,200,000" (en) or "1.200.000" (de); anything not a number, as given."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return "" if value is None else str(value)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if decimal_places is None and amount == amount.to_integral_value():
        decimal_places = 0
    return numberformat.format(
        amount,
        formats.get_format("DECIMAL_SEPARATOR", language, use_l10n=True),
        decimal_pos=decimal_places,
        grouping=formats.get_format("NUMBER_GROUPING", language, use_l10n=True) or 3,
        thousand_sep=formats.get_format("THOUSAND_SEPARATOR", language, use_l10n=True),
        force_grouping=True,
    )


def money(value: Any, currency: str, *, language: str) -> str:
    """`120000, "EUR"` -> "120,000.00 EUR" in the reader's format; the currency as its code."""
    return f"{number(value, language=language, decimal_places=2)} {currency}".strip()


# --- Facts of a process --------------------------------------------------------------------------


def instance_facts(instance: WorkflowInstance, *, language: str) -> list[tuple[str, str]]:
    """The instance's data as (label, text) rows in the order of its schema, in people's words.

    Labels are the schema's titles; numbers are formatted for the reader, amounts with the
    currency their schema names (`x-currency-field`); fields the schema does not know (results
    the automated steps recorded) follow, their keys humanized.
    """
    properties: Mapping[str, Any] = instance.data_schema.get("properties", {})
    data = instance.data
    # A currency shown beside its amount is not a row of its own.
    beside = {
        spec["x-currency-field"]
        for name, spec in properties.items()
        if "x-currency-field" in spec and name in data
    }
    rows: list[tuple[str, str]] = []
    for name, spec in properties.items():
        if name not in data or name in beside:
            continue
        currency = data.get(spec.get("x-currency-field", ""))
        if currency:
            text = money(data[name], str(currency), language=language)
        else:
            text = _fact_text(data[name], language=language)
        rows.append((spec.get("title") or humanize(name), text))
    for name, value in data.items():
        if name not in properties:
            rows.append((humanize(name), _fact_text(value, language=language)))
    return rows


def _fact_text(value: Any, *, language: str) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float | Decimal):
        return number(value, language=language)
    if isinstance(value, Mapping):
        return "; ".join(f"{humanize(k)}: {_fact_text(v, language=language)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fact_text(v, language=language) for v in value)
    return "" if value is None else str(value)
