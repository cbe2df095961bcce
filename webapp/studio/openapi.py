"""The OpenAPI 3.1 document of the studio API, written by hand (a test checks it against the
routes)."""

from __future__ import annotations

BASE = "/api/v1/studio"


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


MEDIA_ID = {"name": "media_id", "in": "path", "required": True, "schema": {"type": "integer"}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
AUTH_ERRORS = {
    "401": _error("No valid token or session (`unauthorized`, `invalid_token`)."),
    "403": _error("The account is not a studio user or admin."),
}
NOT_YOURS = {"404": _error("No such media or job, or it belongs to someone else.")}


def document(config: dict) -> dict:
    """The document, with this server's limits in the descriptions."""
    limits = (
        f"Each file at most {config['STUDIO_MAX_UPLOAD_MB']} MB; photos at most "
        f"{config['MAX_IMAGE_PIXELS']:,} pixels; videos at most "
        f"{config['STUDIO_MAX_VIDEO_SECONDS']:g} s and {config['STUDIO_MAX_VIDEO_PIXELS']:,} "
        "pixels a frame."
    )
    upload_errors = {
        "400": _error(
            "Refused input: `missing_media`, `empty_file`, `corrupt_image`, `corrupt_video`, "
            "`no_video_stream`, `no_frames`, `unsupported_image`, `bad_params`, "
            "`unknown_param`, `unknown_effect`, `missing_effect`, `missing_source`, "
            "`consent_required`, `image_required`."
        ),
        "413": _error(
            "Too large: `file_too_large`, `image_too_large`, `video_too_long`, "
            "`video_too_large`, `request_entity_too_large`."
        ),
        "415": _error("Not a JPEG, PNG or WebP photo nor an MP4, MOV or WebM video."),
    }
    job_form = {
        "type": "object",
        "required": ["effect"],
        "properties": {
            "media": {
                "type": "string",
                "format": "binary",
                "description": "The photo (JPEG, PNG, WebP) or video (MP4, MOV, WebM). "
                "The type is read from the content, not the name. " + limits,
            },
            "media_id": {
                "type": "integer",
                "description": "Instead of `media`: a file uploaded before (POST /media).",
            },
            "effect": {"type": "string", "enum": ["face_swap", "anonymize"]},
            "params": {
                "type": "string",
                "description": (
                    "A JSON object. anonymize: `keep` (face ids to leave as they are, default "
                    "none; ids from GET /media/{id}/faces?effect=anonymize), `mode` "
                    "(`synthetic` (default): a face of no real person of similar age and "
                    "gender; `blur`; `pixelate`) and `fallback` (`blur` (default), `pixelate` "
                    "or `none`: how to hide a face that cannot get a synthetic face because the "
                    "face bank holds too few people of its gender and age; `none` fails the "
                    "job instead). face_swap: `consent` (required, must be true: you confirm "
                    "that the person whose face is in `source` agreed) and `targets` (face ids "
                    "to swap, default every face; ids from GET /media/{id}/faces?"
                    'effect=face_swap). Example: {"keep": [0], "mode": "synthetic"}.'
                ),
                "example": '{"keep": [0], "mode": "synthetic"}',
            },
            "source": {
                "type": "string",
                "format": "binary",
                "description": "face_swap only: a photo of the face to put in.",
            },
            "source_id": {"type": "integer", "description": "Instead of `source`."},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Face Platform studio API",
            "version": "1",
            "description": (
                "Upload a photo or video, start an effect (`face_swap`, `anonymize`), poll the "
                "job's status URL and fetch the result. Results are labelled synthetic in their "
                "metadata (PNG text and XMP, JPEG XMP, MP4 tags). Authenticate with a personal "
                "token (`Authorization: Bearer <token>`, made on the studio's API tokens page or "
                "with `flask users token EMAIL`) or a logged-in session (which must also send "
                'X-CSRFToken on POST). Errors are `{"error": code, "message": text}`.'
            ),
        },
        "servers": [{"url": BASE}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/media": {
                "post": {
                    "summary": "Upload a photo or video",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["media"],
                                    "properties": {
                                        "media": job_form["properties"]["media"],
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json("Stored.", "Media"),
                        "200": _json("The same file was stored before; that media.", "Media"),
                        **upload_errors,
                        **AUTH_ERRORS,
                    },
                }
            },
            "/media/{media_id}": {
                "get": {
                    "summary": "One of your media files",
                    "parameters": [MEDIA_ID],
                    "responses": {"200": _json("The media.", "Media"), **AUTH_ERRORS, **NOT_YOURS},
                }
            },
            "/media/{media_id}/file": {
                "get": {
                    "summary": "The file (photo, video or result)",
                    "parameters": [
                        MEDIA_ID,
                        {
                            "name": "download",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["1"]},
                            "description": "Send as an attachment.",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The file; byte ranges are served (206).",
                            "content": {
                                "image/*": {"schema": {"type": "string", "format": "binary"}},
                                "video/*": {"schema": {"type": "string", "format": "binary"}},
                            },
                        },
                        **AUTH_ERRORS,
                        **NOT_YOURS,
                    },
                }
            },
            "/media/{media_id}/faces": {
                "get": {
                    "summary": "The faces in a photo or a video's first frame",
                    "description": "Face ids as the effect uses them (`keep`, `targets`), "
                    "boxes [x, y, w, h] in pixels of the upright image, enrolled employees "
                    "named, and `suggest_keep` on them and on the main subject. A worker "
                    "finds the faces: 202 until it has.",
                    "parameters": [
                        MEDIA_ID,
                        {
                            "name": "effect",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["anonymize", "face_swap"],
                                "default": "anonymize",
                            },
                        },
                    ],
                    "responses": {
                        "200": _json("The faces.", "Faces"),
                        "202": {
                            "description": "A worker is looking; ask again (Retry-After).",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"const": "pending"}},
                                    }
                                }
                            },
                        },
                        "400": _error("Unknown effect."),
                        **AUTH_ERRORS,
                        **NOT_YOURS,
                    },
                }
            },
            "/jobs": {
                "get": {
                    "summary": "Your newest jobs",
                    "responses": {
                        "200": {
                            "description": "Newest first.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "jobs": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Job"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **AUTH_ERRORS,
                    },
                },
                "post": {
                    "summary": "Start an effect",
                    "requestBody": {
                        "required": True,
                        "content": {"multipart/form-data": {"schema": job_form}},
                    },
                    "responses": {
                        "202": {
                            "description": "Queued; poll `status_url`.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["job_id", "status_url"],
                                        "properties": {
                                            "job_id": {"type": "integer"},
                                            "status_url": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        **upload_errors,
                        **AUTH_ERRORS,
                        "404": _error("`media_id` or `source_id` is not one of yours."),
                        "503": _error("The job queue cannot be reached (`queue_unavailable`)."),
                    },
                },
            },
            "/jobs/{job_id}": {
                "get": {
                    "summary": "A job's status",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json("The job.", "Job"), **AUTH_ERRORS, **NOT_YOURS},
                }
            },
            "/jobs/{job_id}/cancel": {
                "post": {
                    "summary": "Cancel a queued or running job",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": _json("Cancelled.", "Job"),
                        "409": _error("The job has already finished (`job_finished`)."),
                        **AUTH_ERRORS,
                        **NOT_YOURS,
                    },
                }
            },
            "/jobs/{job_id}/retry": {
                "post": {
                    "summary": "Queue a failed or cancelled job again",
                    "parameters": [JOB_ID],
                    "responses": {
                        "202": _json("Queued again.", "Job"),
                        "409": _error("Only failed or cancelled jobs (`not_retryable`)."),
                        **AUTH_ERRORS,
                        **NOT_YOURS,
                    },
                }
            },
            "/effects": {
                "get": {
                    "summary": "The effects",
                    "responses": {
                        "200": {
                            "description": "Names and whether each needs `source`.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **AUTH_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "Media": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["image", "video"]},
                        "media_type": {"type": "string", "example": "video/mp4"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "duration": {"type": ["number", "null"]},
                        "frames": {"type": ["integer", "null"]},
                        "size_bytes": {"type": "integer"},
                        "url": {"type": "string"},
                        "faces_url": {"type": "string"},
                    },
                },
                "Face": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "box": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "minItems": 4,
                            "maxItems": 4,
                        },
                        "score": {"type": "number"},
                        "employee_id": {"type": ["integer", "null"]},
                        "name": {"type": ["string", "null"]},
                        "main_subject": {"type": "boolean"},
                        "suggest_keep": {"type": "boolean"},
                    },
                },
                "Faces": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["done", "failed"]},
                        "faces": {"type": "array", "items": {"$ref": "#/components/schemas/Face"}},
                        "error": {"type": "string"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                    },
                },
                "Result": {
                    "type": "object",
                    "properties": {
                        "url": {"type": "string"},
                        "download_url": {"type": "string"},
                        "media_type": {"type": "string", "example": "image/png"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "duration": {"type": ["number", "null"]},
                        "frames": {"type": ["integer", "null"]},
                    },
                },
                "Job": {
                    "type": "object",
                    "properties": {
                        "job_id": {"type": "integer"},
                        "effect": {"type": "string"},
                        "params": {"type": "object"},
                        "status": {
                            "type": "string",
                            "enum": ["queued", "running", "done", "failed", "cancelled"],
                        },
                        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                        "message": {"type": ["string", "null"]},
                        "error": {"type": ["string", "null"]},
                        "error_code": {"type": ["string", "null"]},
                        "attempts": {"type": "integer"},
                        "input": {"$ref": "#/components/schemas/Media"},
                        "result": {
                            "oneOf": [{"$ref": "#/components/schemas/Result"}, {"type": "null"}]
                        },
                        "details": {"type": ["object", "null"]},
                        "status_url": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "started_at": {"type": ["string", "null"], "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    }
