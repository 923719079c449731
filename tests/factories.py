"""What tests are made of: people, each process's data, and processes started through the real
service. Moving a started process through its human steps is in tests/process_steps.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import factory
from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        """UserFactory(roles=["Finance", "Managers"]) puts the user in those role groups."""
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))


# --- Process data: valid for its process's schema; keyword overrides replace single fields ----------


def purchase_order_data(amount: float = 1200, **overrides: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "EUR",
        "supplier": "Acme Tools",
        "description": "Drills",
        **overrides,
    }


def account_activation_data(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "national_id": "AB-1234",
        "employer": "Analytical Engines Ltd",
        "requested_limit": 5000,
        **overrides,
    }


def employee_onboarding_data(**overrides: Any) -> dict[str, Any]:
    return {
        "employee_name": "Grace Hopper",
        "employee_email": "grace@example.com",
        "start_date": "2027-01-04",
        "department": "Engineering",
        "job_title": "Compiler engineer",
        **overrides,
    }


# --- Started processes: through instance_start, so every rule, audit event and outbox row is real ---


def start_purchase_order(
    requester: User, *, amount: float = 1200, business_key: str = "PO-1", **details: Any
) -> WorkflowInstance:
    """A purchase order `requester` raised for `amount` EUR (1,200: a team lead's alone).

    `details` replace fields of purchase_order_data (supplier, description, ...).
    """
    return instance_start(
        kind="purchase_order",
        business_key=business_key,
        data=purchase_order_data(amount, **details),
        actor=requester,
    )


def start_account_activation(
    client: User | None, *, business_key: str = "ACC-1", **details: Any
) -> WorkflowInstance:
    """An account activation the integration `client` (None: the system) asked for.

    Its automated checks are enqueued after the commit, so in a test's transaction they run only
    when the test runs the captured callbacks (run_account_activation does).
    """
    return instance_start(
        kind="account_activation",
        business_key=business_key,
        data=account_activation_data(**details),
        actor=client,
    )


def run_account_activation(
    client: User,
    capture: Callable[..., AbstractContextManager[list[Callable[[], Any]]]],
    *,
    business_key: str = "ACC-1",
    **details: Any,
) -> WorkflowInstance:
    """Start an activation and run what it deferred to after the commit: its automated checks.

    `capture` is pytest-django's django_capture_on_commit_callbacks. Returns the instance as
    the checks left it.
    """
    with capture(execute=True) as callbacks:
        application = start_account_activation(client, business_key=business_key, **details)
    assert callbacks, "the automated steps should wait for the commit"
    application.refresh_from_db()
    return application


def start_employee_onboarding(
    starter: User, *, business_key: str = "EMP-1", **details: Any
) -> WorkflowInstance:
    """An employee onboarding `starter` began: payroll, IT and HR tasks open at once."""
    return instance_start(
        kind="employee_onboarding",
        business_key=business_key,
        data=employee_onboarding_data(**details),
        actor=starter,
    )
