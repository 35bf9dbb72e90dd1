"""Imports every module that defines tables so `SQLModel.metadata` is complete (for Alembic)."""

from sqlmodel import SQLModel

from agent import models as agent_models
from context.canonical import models as canonical_models
from context.identity import models as identity_models
from context.intake import models as intake_models
from context.profiles import models as profiles_models
from handoff import models as handoff_models

# Every table-defining module, in data-flow order (add new ones here).
TABLE_MODULES = (
    intake_models,
    canonical_models,
    identity_models,
    profiles_models,
    agent_models,
    handoff_models,
)

metadata = SQLModel.metadata
