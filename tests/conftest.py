from __future__ import annotations

import signal

import pytest

from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.fake_rekognition import FakeRekognition

# A shell that starts a command in the background without job control (a CI script, nohup) starts it
# with SIGINT ignored, and every subprocess inherits that; the Ctrl-C tests need it delivered.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials and region, and no user AWS config: no test can reach a real account."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)


@pytest.fixture
def fake_rekognition() -> FakeRekognition:
    return FakeRekognition()


@pytest.fixture
def endpoint(fake_rekognition: FakeRekognition):
    """A local Rekognition-protocol endpoint answering from `fake_rekognition`."""
    with RekognitionProtocolServer(fake_rekognition) as server:
        yield server
