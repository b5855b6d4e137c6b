"""Custom Labels models: the guard, its watchdog, `models list|start|stop`, and `run --start-model`.

Against a local Rekognition-protocol endpoint whose models move STARTING -> RUNNING and STOPPING ->
STOPPED over a few DescribeProjectVersions calls (polled every 10 ms here instead of every 30 s); every
test of `run` checks the model is left STOPPED, or untouched when this tool did not start it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from evaluation.aws.model_cost import HourlyCost, format_duration, parse_duration
from evaluation.aws.model_guard import ModelGuard
from evaluation.aws.models import ModelStartFailed, VersionRef, Waiting, request_stop
from evaluation.calls.backends.rekognition import make_client
from evaluation.cli import main
from evaluation.errors import UserError
from tests.support.custom_labels_runs import FAST, models, run_args, write_dataset
from tests.support.fake_custom_labels import project_arn
from tests.support.images import png_bytes

LABELS = ("dent", "scratch")


# --- the guard on its own -----------------------------------------------------------------------------


def test_guard_starts_waits_and_stops_what_it_started(fake, client):
    arn = fake.add_model("shop", "v1")
    with ModelGuard(
        client, arn, max_runtime_s=60, waiting=FAST, min_inference_units=2, say=lambda _: None
    ) as guard:
        assert fake.status(arn) == "RUNNING" and guard.started_by_us
        assert fake.models[arn].min_inference_units == 2
    assert fake.status(arn) == "STOPPED"
    assert fake.models[arn].history == ["STARTING", "RUNNING", "STOPPING", "STOPPED"]
    assert fake.calls["StartProjectVersion"] == 1 and fake.calls["StopProjectVersion"] == 1


def test_guard_leaves_a_model_it_did_not_start_running(fake, client):
    arn = fake.add_model("shop", "v1", status="RUNNING")
    said = []
    with ModelGuard(client, arn, max_runtime_s=0.05, waiting=FAST, say=said.append) as guard:
        time.sleep(0.2)  # past the deadline: the watchdog is not armed for someone else's model
        assert not guard.started_by_us
    assert fake.status(arn) == "RUNNING"
    assert fake.calls["StartProjectVersion"] == 0 and fake.calls["StopProjectVersion"] == 0
    assert "will not stop it" in said[0]


@pytest.mark.parametrize("ending", [RuntimeError("boom"), KeyboardInterrupt()])
def test_guard_stops_the_model_on_an_error_and_on_ctrl_c(fake, client, ending):
    arn = fake.add_model("shop", "v1")
    guard = ModelGuard(client, arn, max_runtime_s=60, waiting=FAST, say=lambda _: None)
    with pytest.raises(type(ending)), guard:
        raise ending
    assert fake.status(arn) == "STOPPED"


def test_a_model_that_fails_to_start_raises_its_status_message(fake, client):
    arn = fake.add_model("shop", "v1", fail_to_start="Not enough capacity in us-east-1a.")
    guard = ModelGuard(client, arn, max_runtime_s=60, waiting=FAST, say=lambda _: None)
    with pytest.raises(ModelStartFailed, match="failed to start: Not enough capacity in us-east-1a"), guard:
        pytest.fail("the block must not run")
    assert fake.status(arn) == "FAILED" and fake.calls["StopProjectVersion"] == 0


def test_watchdog_stops_the_model_at_the_deadline_and_interrupts_the_work(fake, client):
    arn = fake.add_model("shop", "v1")
    interrupted = threading.Event()
    guard = ModelGuard(
        client, arn, max_runtime_s=0.3, waiting=FAST, say=lambda _: None, interrupt=interrupted.set
    )
    with guard:
        assert interrupted.wait(5), "the watchdog never fired"
        assert guard.deadline_passed.is_set()
        deadline = time.monotonic() + 5
        while fake.status(arn) != "STOPPED" and time.monotonic() < deadline:
            client.describe_project_versions(ProjectArn=project_arn("shop"), VersionNames=["v1"])
    assert fake.status(arn) == "STOPPED"
    assert fake.calls["StopProjectVersion"] == 1  # the exit did not stop it a second time


def test_stopping_a_model_that_is_still_starting_asks_again_at_once_when_refused():
    """Refused while STARTING, the stop is asked again after a short pause (not after the waiter's
    30 s poll for RUNNING): the model is stopped the moment the service lets it be."""
    client = make_client(region="us-east-1")
    arn = "arn:aws:rekognition:us-east-1:123456789012:project/shop/version/v1/1700000000001"
    version = VersionRef.parse(arn)

    def described(status):
        return {"ProjectVersionDescriptions": [{"ProjectVersionArn": arn, "Status": status}]}

    with Stubber(client) as stubber:
        stubber.add_client_error("stop_project_version", "ResourceInUseException", "still starting")
        stubber.add_response("describe_project_versions", described("STARTING"))
        stubber.add_client_error("stop_project_version", "ResourceInUseException", "still starting")
        stubber.add_response("describe_project_versions", described("STARTING"))
        stubber.add_response("stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": arn})
        started = time.monotonic()
        assert request_stop(client, version, project_arn("shop"), Waiting(delay_s=30.0)) == "STOPPING"
        assert time.monotonic() - started < 10.0  # two short pauses, not two 30 s polls
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "ResourceNotFoundException", "LimitExceededException"]
)
def test_service_errors_on_start_name_the_model_and_the_code(code):
    client = make_client(region="us-east-1")
    arn = "arn:aws:rekognition:us-east-1:123456789012:project/shop/version/v1/1700000000001"
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_project_versions",
            {"ProjectVersionDescriptions": [{"ProjectVersionArn": arn, "Status": "STOPPED"}]},
        )
        stubber.add_client_error("start_project_version", code, "no")
        guard = ModelGuard(client, arn, max_runtime_s=60, waiting=FAST, project_arn=project_arn("shop"))
        with pytest.raises(UserError, match=f"cannot start {arn}: {code}"):
            guard.__enter__()
        stubber.assert_no_pending_responses()
    assert not guard.started_by_us


def test_durations_and_costs():
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400 and parse_duration("0.5s") == 0.5
    for bad in ("2", "two hours", "0m", "2h-1m"):
        with pytest.raises(UserError, match="--max-runtime"):
            parse_duration(bad)
    assert format_duration(5400) == "1h30m" and format_duration(0.5) == "0.5s"
    cost = HourlyCost(2, None, 4.0, "prices.yaml")
    assert cost.usd_per_hour == 8.0 and cost.at_most(2) == 16.0
    assert "USD 8.00 per hour" in cost.describe(7200) and "at most USD 16.00" in cost.describe(7200)
    scaling = HourlyCost(1, 3, 4.0, "prices.yaml")
    assert scaling.usd_per_hour == 12.0 and "1 to 3 inference units" in scaling.describe()
    unknown = HourlyCost(1, None, None, "no price")
    assert unknown.usd_per_hour is None and "unknown: pass --price-table" in unknown.describe()


# --- models list | start | stop ----------------------------------------------------------------------


def test_models_list_shows_versions_status_units_and_the_summary(fake, endpoint, capsys, tmp_path):
    fake.add_model("shop", "v1", status="RUNNING", min_inference_units=2)
    fake.add_model("shop", "v2")
    assert models(endpoint, "list", "--project-arn", project_arn("shop")) == 0
    out = capsys.readouterr().out
    assert "v1" in out and "RUNNING" in out and "TRAINING_COMPLETED" in out
    assert "s3://output/EvaluationSummary-shop-v2.json" in out
    assert "1 model(s) running: billed per inference-unit hour" in out
    assert models(endpoint, "list") == 2
    assert "--project-arn" in capsys.readouterr().err


def test_models_start_prints_the_cost_first_holds_until_the_deadline_then_stops(fake, endpoint, capsys):
    arn = fake.add_model("shop", "v1")
    started = time.monotonic()
    assert models(endpoint, "start", arn, "--min-inference-units", "2", "--max-runtime", "0.5s") == 0
    assert time.monotonic() - started >= 0.5
    out = capsys.readouterr().out
    assert out.index("USD 8.00 per hour") < out.index("Holding the model")
    assert fake.status(arn) == "STOPPED" and fake.models[arn].min_inference_units == 2


def test_models_start_refuses_over_max_cost_or_with_an_unknown_price(fake, endpoint, capsys, tmp_path):
    arn = fake.add_model("shop", "v1")
    assert models(endpoint, "start", arn, "--max-runtime", "2h", "--max-cost", "5") == 2
    assert "could cost USD 8.00, more than --max-cost 5" in capsys.readouterr().err
    prices = tmp_path / "prices.yaml"
    prices.write_text("operations: {}\ngroups: {}\ncustom_labels: {us-east-1: {inference_unit_hour: null}}\n")
    assert models(endpoint, "start", arn, "--max-cost", "100", "--price-table", str(prices)) == 2
    assert "price is unknown" in capsys.readouterr().err
    assert fake.calls["StartProjectVersion"] == 0


def test_models_stop_waits_for_stopped(fake, endpoint, capsys):
    arn = fake.add_model("shop", "v1", status="RUNNING")
    assert models(endpoint, "stop", arn) == 0
    assert fake.status(arn) == "STOPPED" and "is STOPPED" in capsys.readouterr().out
    assert models(endpoint, "stop", arn) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_a_bad_arn_is_refused_before_any_call(fake, endpoint, capsys):
    assert models(endpoint, "stop", "arn:aws:rekognition:us-east-1:123456789012:project/shop/1") == 2
    assert "not a Custom Labels model version ARN" in capsys.readouterr().err
    assert sum(fake.calls.values()) == 0


# --- run --backend custom-labels --start-model: every ending leaves the model stopped --------------------


def test_run_with_start_model_evaluates_and_stops_the_model(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--min-inference-units", "1")) == 0
    assert fake.status(arn) == "STOPPED"
    err = capsys.readouterr().err
    assert err.index("USD 4.00 per hour") < err.index("Starting model v1")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["api"] == "DetectCustomLabels" and summary["operation"] == "labels"
    assert summary["model_versions"] == [arn]
    assert summary["api_calls"] == 12
    requests = [request for operation, request in fake.requests if operation == "DetectCustomLabels"]
    assert all(r["MinConfidence"] == 0 and r["ProjectVersionArn"] == arn for r in requests)
    # a rerun finds every answer cached and does not start the model at all
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model")) == 0
    assert fake.calls["StartProjectVersion"] == 1
    assert "not started" in capsys.readouterr().err


def test_run_does_not_stop_a_model_it_did_not_start(fake, endpoint, tmp_path):
    arn = fake.add_model("shop", "v1", status="RUNNING")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model")) == 0
    assert fake.status(arn) == "RUNNING" and fake.calls["StopProjectVersion"] == 0


def test_run_stops_the_model_after_an_error_mid_run(fake, endpoint, tmp_path, capsys, monkeypatch):
    import evaluation.pipeline

    arn = fake.add_model("shop", "v1")
    csv = write_dataset(tmp_path, fake)
    fake.answer_for_bytes(png_bytes(80, 80, seed=3), [{"Confidence": 50.0}])  # an answer with no Name
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model")) == 1  # that image failed, not stored
    assert "CustomLabels[0].Name is missing" in capsys.readouterr().err
    assert fake.status(arn) == "STOPPED"

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluation.pipeline, "analyse", broken)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model")) == 3  # unexpected: traceback, exit 3
    assert "RuntimeError: boom" in capsys.readouterr().err
    assert fake.status(arn) == "STOPPED"


def test_run_stops_the_model_on_ctrl_c_and_keeps_the_answers(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1")
    fake.detect_latency_s = 0.05
    csv = write_dataset(tmp_path, fake, count=30)

    def press_ctrl_c():
        deadline = time.monotonic() + 20
        while sum(fake.detected.values()) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--workers", "2")) == 130
    assert fake.status(arn) == "STOPPED"
    assert "again to resume" in capsys.readouterr().err
    assert 5 <= sum(fake.detected.values()) < 30


def test_run_watchdog_stops_the_model_mid_run_and_a_rerun_resumes(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1")
    fake.detect_latency_s = 0.08  # 30 images on 2 workers: 1.2 s of calls; starting takes about 0.1 s
    csv = write_dataset(tmp_path, fake, count=30)
    args = run_args(tmp_path, csv, endpoint, arn, "--start-model", "--workers", "2")
    assert main([*args, "--max-runtime", "0.6s"]) == 130
    assert fake.status(arn) == "STOPPED"
    err = capsys.readouterr().err
    assert "--max-runtime 0.6s passed" in err and "again to resume" in err
    first = sum(fake.detected.values())
    assert 0 < first < 30
    assert main([*args, "--max-runtime", "1h"]) == 0
    assert fake.status(arn) == "STOPPED" and fake.calls["StartProjectVersion"] == 2
    assert max(fake.detected.values()) == 1, "an image answered before the deadline was asked again"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["api_calls"] + summary["cache_hits"] == 30


def test_run_fails_clearly_when_the_model_fails_to_start(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1", fail_to_start="The model could not be deployed.")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model")) == 2
    err = capsys.readouterr().err
    assert "failed to start: The model could not be deployed." in err and "Traceback" not in err
    assert fake.calls["DetectCustomLabels"] == 0


def test_run_without_start_model_refuses_a_stopped_model_before_any_call(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1", status="STOPPED")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn)) == 2
    assert "is STOPPED, not RUNNING: pass --start-model" in capsys.readouterr().err
    assert fake.calls["DetectCustomLabels"] == 0 and fake.calls["StartProjectVersion"] == 0


def test_run_refuses_to_start_a_model_over_max_cost(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--max-cost", "1")) == 2
    assert "more than --max-cost 1; nothing was started" in capsys.readouterr().err
    assert fake.calls["StartProjectVersion"] == 0


def test_dry_run_prints_calls_and_model_cost_and_touches_no_model(fake, endpoint, tmp_path, capsys):
    arn = fake.add_model("shop", "v1")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "Calls needed: 12" in out and "USD 4.00 per hour" in out and "at most USD 8.00" in out
    assert sum(fake.calls.values()) == 0


def test_a_stopped_model_answers_resource_not_ready(fake, client):
    arn = fake.add_model("shop", "v1", status="STOPPED")
    with pytest.raises(ClientError, match="ResourceNotReadyException"):
        client.detect_custom_labels(ProjectVersionArn=arn, Image={"Bytes": png_bytes(80, 80)})


def test_models_list_takes_the_project_from_the_stack_outputs(fake, endpoint, tmp_path, capsys):
    fake.add_model("rekognition-eval-dev", "v1")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "bucketName": "data",
                "bucketArn": "arn:aws:s3:::data",
                "roleArn": "arn:aws:iam::123456789012:role/eval",
                "region": "us-east-1",
                "projectArn": project_arn("rekognition-eval-dev"),
            }
        )
    )
    assert models(endpoint, "list", "--stack-outputs", str(outputs), "--no-assume-role") == 0
    assert f"Project: {project_arn('rekognition-eval-dev')}" in capsys.readouterr().out


def test_a_deadline_that_passes_while_the_model_starts_stops_it_before_any_call(
    fake, endpoint, tmp_path, capsys
):
    fake.steps = 12  # starting takes 12 polls (about 0.3 s here): longer than --max-runtime
    arn = fake.add_model("shop", "v1")
    csv = write_dataset(tmp_path, fake)
    assert main(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--max-runtime", "0.05s")) == 130
    assert "--max-runtime 0.05s passed" in capsys.readouterr().err
    assert fake.status(arn) == "STOPPED" and fake.calls["DetectCustomLabels"] == 0
