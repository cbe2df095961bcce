"""Studio records: uploaded and produced media, and the jobs that turn one into the other."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import UTCDateTime, enum_column, utcnow
from webapp.extensions import db


class MediaKind(enum.StrEnum):
    """What a media file holds."""

    IMAGE = "image"
    VIDEO = "video"


class MediaOrigin(enum.StrEnum):
    """Where a media file came from."""

    UPLOAD = "upload"
    RESULT = "result"


class JobStatus(enum.StrEnum):
    """Where a studio job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once the job will not change any more (until retried)."""
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class MediaAsset(db.Model):
    """A photo or video a studio user uploaded, or one a job produced; only its owner sees it."""

    __tablename__ = "media_assets"
    __table_args__ = (Index("ix_media_assets_owner_sha256", "owner_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MediaKind] = mapped_column(enum_column(MediaKind))
    origin: Mapped[MediaOrigin] = mapped_column(enum_column(MediaOrigin))
    path: Mapped[str] = mapped_column(String(255))  # relative to MEDIA_DIR
    sha256: Mapped[str] = mapped_column(String(64))  # of the stored file
    content_type: Mapped[str] = mapped_column(String(50))  # from the content, never the name
    size_bytes: Mapped[int]
    original_name: Mapped[str | None] = mapped_column(String(255))  # as uploaded, for downloads
    width: Mapped[int]  # after EXIF orientation
    height: Mapped[int]
    duration: Mapped[float | None]  # seconds (videos)
    frames: Mapped[int | None]  # frame count (videos; 1 for images)
    fps: Mapped[float | None]
    # Faces found for the page's selectable boxes: None until detected, then a list of dicts.
    faces: Mapped[list | None] = mapped_column(JSON)
    faces_error: Mapped[str | None] = mapped_column(String(255))
    faces_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_video(self) -> bool:
        """True for videos."""
        return self.kind == MediaKind.VIDEO


class StudioJob(db.Model):
    """One effect applied to one upload, run by a studio worker; the page polls its progress."""

    __tablename__ = "studio_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    effect: Mapped[str] = mapped_column(String(40))  # an effect name (webapp/studio/effects)
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # checked before the job is queued
    input_id: Mapped[int] = mapped_column(ForeignKey("media_assets.id", ondelete="RESTRICT"))
    # face_swap: the photo of the face to put in.
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="RESTRICT")
    )
    # The inputs of other roles (driving, reference, audio: media ids; text: the string).
    inputs: Mapped[dict | None] = mapped_column(JSON)
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_assets.id", ondelete="SET NULL")
    )
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus), default=JobStatus.QUEUED, index=True
    )
    progress: Mapped[int] = mapped_column(default=0)  # percent, 0-100
    message: Mapped[str | None] = mapped_column(String(255))  # what the worker is doing now
    error: Mapped[str | None] = mapped_column(String(500))  # why it failed, for the user
    error_code: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(default=0)  # times a worker started it
    details: Mapped[dict | None] = mapped_column(JSON)  # what the effect reports (faces replaced)
    worker: Mapped[str | None] = mapped_column(String(120))  # "host:pid" of the running worker
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    input: Mapped[MediaAsset] = relationship(foreign_keys=[input_id])
    source: Mapped[MediaAsset | None] = relationship(foreign_keys=[source_id])
    result: Mapped[MediaAsset | None] = relationship(foreign_keys=[result_id])
