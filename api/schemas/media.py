"""Media shapes: an uploaded file's record (never its storage key)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field


class MediaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    file_name: str | None
    file_type: str | None
    file_size: int | None
    entity_type: str | None
    entity_id: uuid.UUID | None
    uploaded_by_user_id: uuid.UUID | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def download_url(self) -> str:
        return f"/api/v1/media/{self.id}/download"


class MediaFilters(BaseModel):
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    file_type: str | None = None
    uploaded_by_user_id: uuid.UUID | None = None
