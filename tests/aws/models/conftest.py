"""The fake Custom Labels service behind a local Rekognition-protocol endpoint, shared by the model tests:
one server per module, a fresh FakeCustomLabels (models move state over 3 polls) per test, and polls every
few milliseconds instead of every 30 s."""

from __future__ import annotations

import pytest

from evaluation.calls.backends.rekognition import make_client
from evaluation.cli import models as models_cli
from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.custom_labels_runs import FAST, Switchboard
from tests.support.fake_custom_labels import FakeCustomLabels


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(models_cli, "WAITING", FAST)


@pytest.fixture(scope="module")
def server():
    board = Switchboard()
    with RekognitionProtocolServer(board) as running:
        yield running, board


@pytest.fixture
def fake(server):
    server[1].fake = FakeCustomLabels(steps=3)
    return server[1].fake


@pytest.fixture
def endpoint(server, fake):
    return server[0]


@pytest.fixture
def client(endpoint):
    return make_client(endpoint_url=endpoint.url, region="us-east-1")
