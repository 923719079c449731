"""instance_start: a valid start records its version and audit event; bad input writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from apps.accounts.models import User
from apps.core.errors import DuplicateBusinessKey, InvalidProcessData, NotPermitted, UnknownProcessKind
from apps.workflows.services import instance_start
from tests.db_state import writes_nothing
from tests.factories import employee_onboarding_data, purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def start(people, *, kind="purchase_order", key="PO-1", data=None, actor="requester"):
    return instance_start(
        kind=kind,
        business_key=key,
        data=purchase_order_data() if data is None else data,
        actor=people[actor] if actor else None,
    )


def test_start_records_kind_version_requester_and_data(people):
    order = start(people, key="PO-2026/07:a_b.c-1", actor="requester")

    assert (order.kind, order.definition_version, order.state) == ("purchase_order", 1, "team_lead_review")
    assert order.requester == order.started_by == people["requester"]
    assert order.data == purchase_order_data()
    assert order.version == 2  # the start transition counts as a change


def test_integration_starts_on_behalf_of_a_requester(people):
    order = instance_start(
        kind="purchase_order",
        business_key="ERP-77",
        data=purchase_order_data(),
        actor=people["integration"],
        requester=people["requester"],
    )

    assert (order.started_by, order.requester) == (people["integration"], people["requester"])


def test_same_business_key_is_fine_for_another_kind(people):
    start(people, key="SHARED-1")
    other = start(
        people, kind="employee_onboarding", key="SHARED-1", data=employee_onboarding_data(), actor="hr"
    )

    assert other.kind == "employee_onboarding"


def test_unknown_kind_is_refused(people):
    with writes_nothing(), pytest.raises(UnknownProcessKind, match="Known kinds: account_activation"):
        start(people, kind="teleportation")


@pytest.mark.parametrize("key", ["", " PO-1", "-PO", "PO 1", "PO\n1", "PÖ-1", "x" * 121, None, 17, ["PO-1"]])
def test_invalid_business_key_is_refused(people, key):
    with writes_nothing(), pytest.raises(InvalidProcessData) as error:
        start(people, key=key)

    assert error.value.errors == {"business_key": ["Invalid business key."]}


def test_duplicate_business_key_is_refused(people):
    first = start(people, key="PO-1")

    with writes_nothing(first), pytest.raises(DuplicateBusinessKey) as error:
        start(people, key="PO-1", data=purchase_order_data(999), actor="requester2")

    assert error.value.kind == "conflict"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(purchase_order_data("1200"), "amount", id="amount-as-text"),
        pytest.param(purchase_order_data(True), "amount", id="amount-as-boolean"),
        pytest.param(purchase_order_data(0), "amount", id="amount-zero"),
        pytest.param(purchase_order_data(-5), "amount", id="amount-negative"),
        pytest.param(purchase_order_data(2_000_000_000), "amount", id="amount-too-large"),
        pytest.param(purchase_order_data(currency="eur"), "currency", id="currency-lowercase"),
        pytest.param(purchase_order_data(supplier=""), "supplier", id="supplier-empty"),
        pytest.param(purchase_order_data(supplier=["Acme"]), "supplier", id="supplier-as-list"),
        pytest.param(purchase_order_data(description="x" * 2001), "description", id="description-too-long"),
        pytest.param(purchase_order_data(colour="red"), "non_field_errors", id="extra-field"),
        pytest.param(
            {"amount": 10, "currency": "EUR", "supplier": "Acme"}, "non_field_errors", id="missing-field"
        ),
    ],
)
def test_data_failing_the_schema_is_refused_with_the_field_named(people, data, field):
    with writes_nothing(), pytest.raises(InvalidProcessData) as error:
        start(people, data=data)

    assert list(error.value.errors) == [field]


def test_payload_over_the_size_limit_is_refused_before_validation(people):
    huge = purchase_order_data(description="x" * settings.WORKFLOW_DECISION_DATA_MAX_BYTES)

    with writes_nothing(), pytest.raises(InvalidProcessData, match="bytes; at most"):
        start(people, data=huge)


@pytest.mark.parametrize("data", [[], ["amount", 10], "amount=10", 10, None])
def test_data_that_is_not_an_object_is_refused(people, data):
    with writes_nothing(), pytest.raises(InvalidProcessData) as error:
        instance_start(kind="purchase_order", business_key="PO-1", data=data, actor=people["requester"])

    assert error.value.errors == {"data": ["Must be an object."]}


@pytest.mark.parametrize("who", ["outsider", "lead", "finance", "auditor", "risk"])
def test_people_without_the_start_permission_are_refused(people, who):
    with writes_nothing(), pytest.raises(NotPermitted):
        start(people, actor=who)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(purchase_order_data(supplier="Acme\x00Tools"), id="nul-in-text"),
        pytest.param({**purchase_order_data(), "\x00": 1}, id="nul-in-key"),
        pytest.param(purchase_order_data(supplier="Acme \ud800"), id="lone-surrogate"),
        pytest.param(purchase_order_data(Decimal("12.50")), id="decimal"),
        pytest.param(purchase_order_data(float("nan")), id="nan"),
        pytest.param(purchase_order_data(float("inf")), id="infinity"),
        pytest.param(purchase_order_data(supplier={"Acme"}), id="set"),
    ],
)
def test_values_the_database_cannot_store_are_refused_as_invalid_data(people, data):
    # Without the check these reached PostgreSQL and came back as a DataError or TypeError.
    with writes_nothing(), pytest.raises(InvalidProcessData):
        start(people, data=data)


@pytest.mark.parametrize("supplier", ["Acme \\u0000 Tools", "\\\\u0000", "Ünïcödé 工具 🛠"])
def test_text_that_merely_looks_like_an_escape_is_stored_as_given(people, supplier):
    order = start(people, data=purchase_order_data(supplier=supplier))

    order.refresh_from_db()
    assert order.data["supplier"] == supplier


def test_a_start_costs_eight_statements(people, django_assert_num_queries):
    requester = User.objects.get(pk=people["requester"].pk)  # read afresh, as a request reads it
    # 1 may the requester start one (the permission, their own or their roles', and the role the
    # kind names, in one query); then its transaction (a savepoint inside the test's): SAVEPOINT,
    # 1 the instance, written once after its start transition ran; the task it opens: 1 the
    # step's queue, 1 the task (no query for open tasks to close: a new instance has none); at the
    # end, 1 the three audit events in one INSERT (a new instance's chain is empty: no head to
    # read, no lock to take), 1 the two outbox events in another; RELEASE.
    with django_assert_num_queries(8):
        order = instance_start(
            kind="purchase_order", business_key="PO-COUNTED", data=purchase_order_data(), actor=requester
        )
    assert order.tasks.get().state == "open"
