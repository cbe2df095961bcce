"""The OpenAPI 3.1 document of the studio API: the routes written by hand (a test checks them
against the URL map), every effect's part (names, inputs, parameter schemas) generated from the
effect contract (webapp/studio/effects)."""

from __future__ import annotations

from ml.age_gender import BAND_NAMES, GENDERS
from webapp.studio.effects import all_effects, face_effects
from webapp.studio.effects.base import ROLES, localized, localized_schema

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


def _params_text(effects) -> str:
    """The `params` field's description, one sentence per effect and parameter."""
    parts = []
    for effect in effects.values():
        props = effect.params_schema.get("properties", {})
        required = set(effect.params_schema.get("required", ()))
        if not props:
            parts.append(f"{effect.name}: no parameters.")
            continue
        listed = []
        for name, spec in props.items():
            bits = [spec.get("title", name)]
            if "enum" in spec:
                bits.append("one of " + ", ".join(f"`{v}`" for v in spec["enum"]))
            if "minimum" in spec and "maximum" in spec:
                bits.append(f"{spec['minimum']:g} to {spec['maximum']:g}")
            if "x-faces" in spec:
                bits.append(f"face ids from GET /media/{{id}}/faces?effect={effect.name}")
            if "const" in spec:
                bits.append(f"must be {str(spec['const']).lower()}")
            if name in required:
                bits.append("required")
            elif "default" in spec:
                bits.append(f"default {spec['default']!r}".replace("'", "`"))
            listed.append(f"`{name}` ({'; '.join(bits)})")
        parts.append(f"{effect.name}: " + ", ".join(listed) + ".")
    return (
        "A JSON object checked against the effect's parameter schema (components.schemas."
        "<effect>Params, also in GET /effects). " + " ".join(parts)
    )


def _role_fields(effects) -> dict:
    """Multipart fields for the inputs of roles other than `media`, from the effects' inputs."""
    fields: dict = {}
    for role in ROLES:
        if role == "media":
            continue
        users = [e for e in effects.values() if e.input(role) is not None]
        if not users:
            continue
        names = ", ".join(e.name for e in users)
        if role == "text":
            fields["text"] = {"type": "string", "description": f"The text input ({names})."}
            continue
        accepts = sorted({kind for e in users for kind in e.input(role).accepts})
        label = "; ".join(
            f"{e.name}: {localized(e.input(role).label, 'en')}"
            + (f" (or params.{e.input(role).instead} instead, not both)"
               if e.input(role).instead else "")
            for e in users
        )  # fmt: skip
        fields[role] = {
            "type": "string",
            "format": "binary",
            "description": f"The {role} input ({' or '.join(accepts)}). {label}.",
        }
        fields[f"{role}_id"] = {"type": "integer", "description": f"Instead of `{role}`."}
    return fields


def effect_schemas() -> dict:
    """components.schemas entries: `<effect>Params` for every effect, and `Effect`."""
    schemas = {
        f"{name}Params": {**localized_schema(effect.params_schema, "en"),
                          "description": f"Parameters of {name}. {effect.description_line()}"}
        for name, effect in all_effects().items()
    }  # fmt: skip
    schemas["Effect"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": list(all_effects())},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "object"}},
            "output": {"type": "string", "enum": ["photo", "video", "same"]},
            "params_schema": {"type": "object"},
            "needs_faces": {"type": "boolean"},
            "needs_source": {"type": "boolean"},
            "models": {"type": "array", "items": {"type": "string"}},
            "provenance": {"type": "string"},
            "notice": {"type": ["string", "null"]},
        },
    }
    return schemas


def document(config: dict) -> dict:
    """The document, with this server's limits in the descriptions."""
    effects = all_effects()
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
            "`consent_required`, `image_required`, `source_and_person` (a source photo and "
            "a generated person both given), `unknown_person`."
        ),
        "409": _error(
            "`face_bank_empty`: a generated person was asked for while the face bank has none "
            "yet (a studio worker is filling it)."
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
            "effect": {"type": "string", "enum": list(effects)},
            "params": {
                "type": "string",
                "description": _params_text(effects),
                "example": '{"keep": [0], "mode": "synthetic"}',
            },
            **_role_fields(effects),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Face Platform studio API",
            "version": "1",
            "description": (
                "Upload a photo or video, start an effect ("
                + ", ".join(f"`{name}`" for name in effects)
                + "), poll the "
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
            "/media/{media_id}/extra": {
                "get": {
                    "summary": "An extra output of a result (e.g. a WebVTT subtitle track)",
                    "description": "The names are listed in the job's `result.extras`.",
                    "parameters": [
                        MEDIA_ID,
                        {
                            "name": "name",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "example": "subtitles.vtt"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The file (text/vtt, application/json, ...).",
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
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
                                "enum": list(face_effects()),
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
            "/people/candidates": {
                "get": {
                    "summary": "Generated people to swap onto a face (face_swap's `person`)",
                    "description": "A few people of no real person, of the asked gender and age "
                    "band, from the face bank (tags by the age/gender model). Their `id` is "
                    "stable: send it as face_swap's params.person (no consent needed). Ask "
                    "`batch=1, 2, ...` for others. When the bank has too few of the band, a "
                    "studio worker makes more: the answer is 202 with the candidates so far and "
                    "`status` `generating` (or `filling` while the default bank is still being "
                    "filled); ask again after Retry-After. Throttled per client "
                    f"({config['STUDIO_PEOPLE_LIMIT']}; 429 beyond).",
                    "parameters": [
                        {
                            "name": "gender",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "enum": list(GENDERS)},
                        },
                        {
                            "name": "age_band",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "enum": list(BAND_NAMES)},
                            "description": "child <13, teen 13-19, young 20-34, adult 35-54, "
                            "senior 55+ (years).",
                        },
                        {
                            "name": "count",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 12,
                                "default": 4,
                            },
                        },
                        {
                            "name": "batch",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                            "description": "Which batch of `count` (0 first; `next_url` asks the "
                            "next).",
                        },
                    ],
                    "responses": {
                        "200": _json("A full batch.", "Candidates"),
                        "202": _json(
                            "Fewer than `count` so far; a worker is making more (Retry-After).",
                            "Candidates",
                        ),
                        "400": _error("`bad_gender`, `bad_age_band`, `bad_count`, `bad_batch`."),
                        "429": _error("Too many requests (`too_many_requests`)."),
                        "503": _error("The job queue cannot be reached (`queue_unavailable`)."),
                        **AUTH_ERRORS,
                    },
                }
            },
            "/people/{person_id}/thumbnail": {
                "get": {
                    "summary": "A candidate's face (JPEG, 160 px)",
                    "description": "Cached by the browser: an id's face never changes (ETag, "
                    "`Cache-Control: private, max-age=604800, immutable`; 304 on If-None-Match).",
                    "parameters": [
                        {
                            "name": "person_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The face.",
                            "content": {
                                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
                            },
                        },
                        "304": {"description": "Not modified."},
                        "404": _error("No such person in the face bank."),
                        **AUTH_ERRORS,
                    },
                }
            },
            "/effects": {
                "get": {
                    "summary": "The effects",
                    "responses": {
                        "200": {
                            "description": "Every effect with its inputs, output and "
                            "parameter schema, to build a form from.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "effects": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Effect"},
                                            }
                                        },
                                    }
                                }
                            },
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
                **effect_schemas(),
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
                        "original_name": {
                            "type": ["string", "null"],
                            "description": "The file name it was uploaded under (None for results)",
                        },
                        "url": {"type": "string"},
                        "faces_url": {"type": "string"},
                    },
                },
                "Candidate": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "face_swap's params.person"},
                        "kind": {
                            "type": "string",
                            "enum": ["generated", "consented"],
                            "description": "`consented` (a real donor) only where the operator "
                            "allows it (STUDIO_SWAP_CONSENTED_DONORS)",
                        },
                        "seed": {"type": ["integer", "null"]},
                        "gender": {"type": "string", "enum": list(GENDERS)},
                        "age_band": {"type": "string", "enum": list(BAND_NAMES)},
                        "age": {"type": "integer"},
                        "yaw": {"type": "number", "description": "head turn, degrees"},
                        "thumbnail_url": {"type": "string"},
                    },
                },
                "Candidates": {
                    "type": "object",
                    "properties": {
                        "gender": {"type": "string"},
                        "age_band": {"type": "string"},
                        "batch": {"type": "integer"},
                        "count": {"type": "integer"},
                        "status": {"type": "string", "enum": ["ready", "generating", "filling"]},
                        "message": {"type": "string"},
                        "candidates": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Candidate"},
                        },
                        "bank": {"type": "object"},
                        "next_url": {"type": "string"},
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
                        "extras": {
                            "type": "array",
                            "description": "Extra outputs of the effect (e.g. a WebVTT track).",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            },
                        },
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
