"""The foreign keys' own indexes dropped where a composite index starts with the same column
(each serves the same lookups and the FK's checks): every insert and every non-HOT update of
these hot tables maintained them for nothing. Dropped by name, so SQLite does not rebuild the
tables (an AlterField there copies every row)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import index_dropped


class Migration(migrations.Migration):
    # PostgreSQL drops (and, reversed, builds) the indexes CONCURRENTLY: without taking the
    # tables' write lock, which a plain DROP INDEX would hold behind any long transaction.
    atomic = False
    dependencies = [
        ("workflows", "0002_search_and_dashboard_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="workflowinstance",
                    name="requester",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="requested_instances",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                index_dropped("workflows_workflowinstance_requester_id_09ef90f5", table="workflows_workflowinstance", column="requester_id"),
            ],
        ),
    ]
