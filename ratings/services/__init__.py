"""The writes of the ratings app, one module per area (as Zulip's ``zerver/actions/``):

* ``recording``: the one recording service for every source (R1–R4), ``actions_record`` and
  ``actions_recorder``;
* ``aggregates``: applying changes to the rating aggregates and rebuilding them (R6);
* ``voiding``: ``action_void`` (R5);
* ``recalculation``: a KPI's points after its ratio changed (R2), or after it started or stopped
  counting in the rating (R6);
* ``points``: what one action is worth (R2).

Other apps import the services from here; a test that patches a module's name patches it in its
module (``ratings.services.recording.AGGREGATE_FLUSH_KEYS``).
"""

from ratings.services.aggregates import (
    aggregates_rebuild,
    department_totals_delete,
    department_totals_follow,
    latest_values_follow,
    team_totals_follow,
)
from ratings.services.points import compute_points
from ratings.services.recalculation import (
    kpi_points_recalculate,
    kpi_rating_state_changed,
    recalculation_run,
    recalculation_start,
)
from ratings.services.recording import (
    MAX_BATCH,
    ActionsRecorder,
    RecordResult,
    actions_record,
    actions_recorder,
)
from ratings.services.voiding import action_void

__all__ = [
    "MAX_BATCH",
    "ActionsRecorder",
    "RecordResult",
    "action_void",
    "actions_record",
    "actions_recorder",
    "aggregates_rebuild",
    "compute_points",
    "department_totals_delete",
    "department_totals_follow",
    "kpi_points_recalculate",
    "kpi_rating_state_changed",
    "latest_values_follow",
    "recalculation_run",
    "recalculation_start",
    "team_totals_follow",
]
