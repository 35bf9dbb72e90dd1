"""Imports every module that defines tables so `SQLModel.metadata` is complete (for Alembic)."""

from sqlmodel import SQLModel

import agent.models
import context.canonical.models
import context.identity.models
import context.intake.models
import context.profiles.models  # noqa: F401

metadata = SQLModel.metadata
