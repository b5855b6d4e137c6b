"""The runner against a local Rekognition-protocol endpoint, with faults injected by the fake service."""

import threading
import time
from collections.abc import Iterator

import pytest

from evaluation.calls.backends import RekognitionLabels, make_client
from evaluation.calls.cache import ResponseCache
from evaluation.calls.ratelimit import TokenBucket
from evaluation.calls.runner import CACHED, CALLED, FAILED, REJECTED, RetryPolicy, fetch, plan
from evaluation.images import ImageRef
from evaluation.server.protocol import RekognitionProtocolServer, ServiceError
from tests.support.fake_rekognition import label
from tests.support.images import png_bytes


@pytest.fixture
def cache(tmp_path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "cache.sqlite") as store:
        yield store


def make_images(tmp_path, fake, count: int) -> list[ImageRef]:
    refs = []
    for index in range(count):
        data = png_bytes(90, 90, seed=index)
        path = tmp_path / f"img{index:03d}.png"
        path.write_bytes(data)
        fake.answer_for_bytes(data, [label("Cat", 50.0 + index % 50)])
        refs.append(ImageRef(str(path)))
    return refs


def backend_for(endpoint, *, max_attempts: int = 5) -> RekognitionLabels:
    return RekognitionLabels(
        make_client(endpoint_url=endpoint.url, region="us-east-1", max_attempts=max_attempts)
    )


def test_every_image_is_called_once_and_a_second_run_calls_nothing(
    tmp_path, endpoint, fake_rekognition, cache
):
    images = make_images(tmp_path, fake_rekognition, 30)
    outcomes, stats = fetch(images, backend_for(endpoint), cache, workers=4, progress=False)
    assert [o.status for o in outcomes] == [CALLED] * 30
    assert stats.calls == 30 and len(cache) == 30
    assert set(fake_rekognition.calls.values()) == {1}
    requests_before = endpoint.stats.requests
    outcomes, stats = fetch(images, backend_for(endpoint), cache, workers=4, progress=False)
    assert [o.status for o in outcomes] == [CACHED] * 30
    assert stats.calls == 0 and endpoint.stats.requests == requests_before


def test_throttling_bursts_and_server_errors_are_retried_until_answered(
    tmp_path, endpoint, fake_rekognition, cache
):
    images = make_images(tmp_path, fake_rekognition, 12)

    def fault(identity: str, attempt: int) -> ServiceError | None:
        if attempt == 1:
            return ServiceError("ThrottlingException", "Rate exceeded")
        if attempt == 2:
            return ServiceError("InternalServerError", "oops", status=500)
        return None

    fake_rekognition.fault = fault
    outcomes, stats = fetch(images, backend_for(endpoint), cache, workers=3, progress=False)
    assert all(o.status == CALLED for o in outcomes)
    assert set(fake_rekognition.calls.values()) == {3}
    assert stats.failed == 0


def test_a_permanent_error_is_not_retried_and_stops_nothing_else(tmp_path, endpoint, fake_rekognition, cache):
    images = make_images(tmp_path, fake_rekognition, 6)
    broken = ImageRef(str(tmp_path / "unknown.png"))
    (tmp_path / "unknown.png").write_bytes(
        png_bytes(90, 90, seed=999)
    )  # the fake has no answer: invalid format
    outcomes, stats = fetch([*images, broken], backend_for(endpoint), cache, workers=2, progress=False)
    failed = outcomes[-1]
    assert failed.status == FAILED and failed.error_code == "InvalidImageFormatException"
    assert "invalid image format" in failed.reason
    assert stats.failed == 1 and stats.calls == 6 and stats.error_codes == {"InvalidImageFormatException": 1}
    assert max(fake_rekognition.calls.values()) == 1


def test_a_rerun_resumes_without_calling_any_answered_image_again(
    tmp_path, endpoint, fake_rekognition, cache
):
    images = make_images(tmp_path, fake_rekognition, 20)
    answered: set[str] = set()

    def outage_after_eight(identity: str, attempt: int) -> ServiceError | None:
        if identity in answered or len(answered) < 8:
            answered.add(identity)
            return None
        return ServiceError("InternalServerError", "outage", status=500)

    fake_rekognition.fault = outage_after_eight
    first, stats = fetch(
        images,
        backend_for(endpoint, max_attempts=1),
        cache,
        workers=1,
        progress=False,
        retry=RetryPolicy(rounds=0),
    )
    assert stats.calls == 8 and stats.failed == 12
    assert all(o.reason.startswith("InternalServerError") for o in first if o.status == FAILED)
    fake_rekognition.fault = None
    calls_before = dict(fake_rekognition.calls)
    _second, stats = fetch(images, backend_for(endpoint), cache, workers=4, progress=False)
    assert stats.calls == 12 and stats.cache_hits == 8
    for identity, count in fake_rekognition.calls.items():
        assert count - calls_before.get(identity, 0) == (0 if identity in answered else 1)


def test_rejected_images_are_listed_and_never_called(tmp_path, endpoint, fake_rekognition, cache):
    images = make_images(tmp_path, fake_rekognition, 2)
    (tmp_path / "small.png").write_bytes(png_bytes(20, 20))
    rejected = [ImageRef(str(tmp_path / "small.png")), ImageRef(str(tmp_path / "gone.jpg"))]
    outcomes, stats = fetch([*images, *rejected], backend_for(endpoint), cache, progress=False)
    assert [o.status for o in outcomes] == [CALLED, CALLED, REJECTED, REJECTED]
    assert outcomes[2].reason.startswith("too small") and outcomes[3].reason == "file not found"
    assert endpoint.stats.requests == 2 and stats.rejected == 2


def test_identical_bytes_under_two_names_cost_one_call(tmp_path, endpoint, fake_rekognition, cache):
    data = png_bytes(90, 90, seed=5)
    fake_rekognition.answer_for_bytes(data, [label("Dog", 91.0)])
    refs = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(data)
        refs.append(ImageRef(str(tmp_path / name)))
    outcomes, _stats = fetch(refs, backend_for(endpoint), cache, progress=False)
    assert [o.status for o in outcomes] == [CALLED, CACHED]
    assert endpoint.stats.requests == 1


def test_token_bucket_spaces_events_at_the_rate():
    now = [0.0]
    bucket = TokenBucket(10.0, burst=2.0, clock=lambda: now[0])
    assert bucket.try_take() and bucket.try_take()  # the burst
    assert not bucket.try_take()  # a server would throttle this one
    now[0] += 0.1
    assert bucket.try_take()  # one token refilled after 1/tps seconds
    now[0] += 0.1
    bucket.acquire()  # a client gets it without waiting
    with pytest.raises(ValueError, match="tps"):
        TokenBucket(0)


def test_dropped_connections_and_slow_answers_are_retried(tmp_path, fake_rekognition, cache):
    import time

    from evaluation.server.protocol import DropConnection, RekognitionProtocolServer

    images = make_images(tmp_path, fake_rekognition, 8)

    def fault(identity: str, attempt: int) -> ServiceError | None:
        if attempt == 1:
            raise DropConnection
        if attempt == 2:
            time.sleep(1.0)  # longer than the client's read timeout: the client gives up and retries
        return None

    fake_rekognition.fault = fault
    with RekognitionProtocolServer(fake_rekognition) as server:
        client = make_client(endpoint_url=server.url, region="us-east-1", read_timeout=0.3)
        outcomes, stats = fetch(images, RekognitionLabels(client), cache, workers=4, progress=False)
    assert [o.status for o in outcomes] == [CALLED] * 8
    assert min(fake_rekognition.calls.values()) >= 3
    assert stats.retries >= 16 and stats.failed == 0


def test_two_runs_sharing_one_cache_file(tmp_path, endpoint, fake_rekognition):
    import threading

    images = make_images(tmp_path, fake_rekognition, 40)
    path = tmp_path / "shared.sqlite"
    results = {}

    def run(name: str, subset: list[ImageRef]) -> None:
        with ResponseCache(path) as store:
            results[name] = fetch(subset, backend_for(endpoint), store, workers=4, progress=False)

    threads = [
        threading.Thread(target=run, args=("a", images[:30])),
        threading.Thread(target=run, args=("b", images[10:])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(o.status in (CALLED, CACHED) for name in results for o in results[name][0])
    with ResponseCache(path) as store:
        assert len(store) == 40
        assert len(store.get_many(o.cache_key for o in results["a"][0])) == 30


def test_adaptive_rate_backs_off_on_push_back_and_recovers_to_its_ceiling():
    from evaluation.calls.ratelimit import AdaptiveRate

    now = [0.0]
    rate = AdaptiveRate(50.0, burst=1.0, clock=lambda: now[0])
    rate.pushed_back()
    assert rate.tps == pytest.approx(40.0)
    rate.pushed_back()  # the same burst of throttles cuts once
    assert rate.tps == pytest.approx(40.0)
    now[0] += 1.0
    rate.pushed_back()
    assert rate.tps == pytest.approx(32.0)
    for _ in range(1000):
        rate.went_through()
    assert rate.tps == 50.0  # never above the configured rate


def test_a_dead_endpoint_stops_the_run_with_one_reason(tmp_path, fake_rekognition, cache):
    from evaluation.calls.runner import SetupFailure
    from evaluation.errors import UserError

    images = make_images(tmp_path, fake_rekognition, 40)
    # botocore's default attempts and the runner's rounds: neither is spent on a connection never made
    client = make_client(endpoint_url="http://127.0.0.1:9", region="us-east-1")
    started = time.monotonic()
    with pytest.raises(SetupFailure, match="stopped at the first call: EndpointConnectionError") as caught:
        fetch(images, RekognitionLabels(client), cache, workers=2, progress=False)
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, UserError) and "--endpoint-url" in str(caught.value)


def test_every_throttle_is_counted_botocores_own_retries_included(tmp_path, fake_rekognition, cache):
    images = make_images(tmp_path, fake_rekognition, 12)

    def fault(identity: str, attempt: int) -> ServiceError | None:
        return ServiceError("ThrottlingException", "Rate exceeded") if attempt <= 2 else None

    fake_rekognition.fault = fault
    with RekognitionProtocolServer(fake_rekognition) as server:
        outcomes, stats = fetch(images, backend_for(server), cache, workers=3, progress=False)
    assert all(o.status == CALLED for o in outcomes)
    assert stats.throttled == 24  # two per image, every one retried inside botocore
    assert stats.throttled == sum(count - 1 for count in fake_rekognition.calls.values())


def test_a_lost_throttle_after_all_retries_is_counted_once_per_attempt(tmp_path, fake_rekognition, cache):
    images = make_images(tmp_path, fake_rekognition, 2)
    fake_rekognition.fault = lambda identity, attempt: ServiceError("ThrottlingException", "Rate exceeded")
    with RekognitionProtocolServer(fake_rekognition) as server:
        backend = backend_for(server, max_attempts=3)
        outcomes, stats = fetch(
            images, backend, cache, workers=1, progress=False, retry=RetryPolicy(rounds=1, base_s=0.01)
        )
    assert [o.status for o in outcomes] == [FAILED, FAILED]
    # every attempt was throttled: botocore's within each call, the runner's rounds, the last ones
    assert stats.throttled == sum(fake_rekognition.calls.values()) >= 2 * 2 * 3


def test_an_image_another_run_holds_is_not_called_and_its_answer_is_picked_up(
    tmp_path, endpoint, fake_rekognition
):
    images = make_images(tmp_path, fake_rekognition, 4)
    path = tmp_path / "shared.sqlite"
    with ResponseCache(path) as store:
        outcomes, _ = plan(images, backend_for(endpoint), store)
        held = outcomes[0].cache_key
        assert store.claim(held, "other-run", lease_s=60) == "claimed"

    def other_run_answers() -> None:  # the holder stores its answer a moment later
        time.sleep(0.5)
        with ResponseCache(path) as other:
            other.put(
                held, image_id=outcomes[0].image_id, operation="DetectLabels",
                params=backend_for(endpoint).request_params(), response={"Labels": []},
                model_version=None, owner="other-run",
            )

    thread = threading.Thread(target=other_run_answers)
    thread.start()
    with ResponseCache(path) as store:
        result, stats = fetch(images, backend_for(endpoint), store, workers=2, progress=False, poll_s=0.05)
    thread.join()
    assert [o.status for o in result] == [CACHED, CALLED, CALLED, CALLED]
    assert len(fake_rekognition.calls) == 3 and stats.calls == 3


def test_a_dead_runs_claim_expires_and_the_image_is_called(tmp_path, endpoint, fake_rekognition):
    images = make_images(tmp_path, fake_rekognition, 2)
    with ResponseCache(tmp_path / "shared.sqlite") as store:
        outcomes, _ = plan(images, backend_for(endpoint), store)
        assert store.claim(outcomes[0].cache_key, "dead-run", lease_s=0.3) == "claimed"  # never renewed
        started = time.monotonic()
        result, _ = fetch(images, backend_for(endpoint), store, progress=False, lease_s=5, poll_s=0.05)
    assert [o.status for o in result] == [CALLED, CALLED]
    assert time.monotonic() - started >= 0.25
    assert set(fake_rekognition.calls.values()) == {1}


def test_a_duplicate_of_an_image_replay_lacks_shares_its_reason(tmp_path, cache):
    from evaluation.calls.backends import ReplayLabels
    from evaluation.calls.runner import MISSING

    data = png_bytes(90, 90, seed=77)
    refs = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(data)
        refs.append(ImageRef(str(tmp_path / name)))
    outcomes, _ = fetch(refs, ReplayLabels(), cache, progress=False)
    assert [o.status for o in outcomes] == [MISSING, MISSING]
    assert all(o.reason and "--backend rekognition" in o.reason for o in outcomes)
