"""Console logging: what an operator needs at LOG_LEVEL, the libraries' chatter kept down."""

from __future__ import annotations

import logging
import os

# Native libraries read these when they are first imported (models load after the fork, later
# than create_app): TensorFlow's C++ INFO/WARNING lines (oneDNN, CPU features) and glog/absl
# lines of MediaPipe. An operator who sets one of them keeps their value.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "GLOG_minloglevel": "2",
}

# Python loggers that speak at INFO about their own machinery, not about this app.
QUIET_LOGGERS = {
    "alembic.runtime.plugins": logging.WARNING,  # seven "setup plugin" lines per command
    "absl": logging.ERROR,
    "tensorflow": logging.ERROR,
    "h5py": logging.WARNING,
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
    "urllib3": logging.WARNING,
    "huey.consumer": logging.WARNING,
}

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def quiet_native_libraries() -> None:
    """Set the environment defaults that keep TensorFlow's and MediaPipe's C++ logs down."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`; libraries' own INFO chatter is raised to WARNING or ERROR."""
    quiet_native_libraries()
    logging.basicConfig(level=level, format=FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    logging.getLogger().setLevel(level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, logging.getLevelName(level)))


# Lines native code (TensorFlow Lite, MediaPipe's absl logging) writes straight to stderr that
# are harmless but read like failures. absl's C++ logging has no switch to lower its level.
NATIVE_NOISE = (
    b"Created TensorFlow Lite XNNPACK delegate",
    b"All log messages before absl::InitializeLog() is called",
    b"inference_feedback_manager.cc",
    b"landmark_projection_calculator.cc",
    b"gl_context.cc",
)


def filter_native_stderr(noise: tuple[bytes, ...] = NATIVE_NOISE) -> None:
    """Route this process's stderr (fd 2) through a thread that drops the known-harmless lines.

    For server processes only (a gunicorn worker): everything else is passed on unchanged, and
    at exit the pipe is drained so no last words are lost.
    """
    import atexit
    import threading

    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not any(part in line for part in noise):
                    os.write(original, line + b"\n")
        if pending:
            os.write(original, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        import sys

        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the pump sees the end
        thread.join(timeout=2)

    atexit.register(restore)
