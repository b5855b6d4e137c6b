import sqlite3
import threading

from evaluation.calls.cache import ResponseCache, cache_key


def test_key_depends_on_image_operation_and_params_not_their_order():
    a = cache_key("sha256:x", "DetectLabels", {"MinConfidence": 0.0, "MaxLabels": 1000})
    assert a == cache_key("sha256:x", "DetectLabels", {"MaxLabels": 1000, "MinConfidence": 0.0})
    assert a != cache_key("sha256:y", "DetectLabels", {"MinConfidence": 0.0, "MaxLabels": 1000})
    assert a != cache_key("sha256:x", "DetectModerationLabels", {"MinConfidence": 0.0, "MaxLabels": 1000})
    assert a != cache_key("sha256:x", "DetectLabels", {"MinConfidence": 50.0, "MaxLabels": 1000})


def test_round_trip_without_per_call_metadata(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        cache.put(
            "k1",
            image_id="sha256:x",
            operation="DetectLabels",
            params={"MinConfidence": 0.0},
            response={"Labels": [], "LabelModelVersion": "3.0", "ResponseMetadata": {"RequestId": "r"}},
            model_version="3.0",
        )
    with ResponseCache(path) as cache:
        stored = cache.get("k1")
        assert stored is not None
        assert stored.response == {"Labels": [], "LabelModelVersion": "3.0"}
        assert stored.model_version == "3.0"
        assert cache.get("missing") is None
        assert set(cache.get_many(["k1", "missing"])) == {"k1"}
        assert len(cache) == 1


def test_wal_mode_and_two_writers_on_one_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    first, second = ResponseCache(path), ResponseCache(path)

    def write(cache: ResponseCache, prefix: str) -> None:
        for index in range(200):
            cache.put(
                f"{prefix}{index}",
                image_id=f"sha256:{prefix}{index}",
                operation="DetectLabels",
                params={},
                response={"Labels": []},
                model_version=None,
            )

    threads = [threading.Thread(target=write, args=(cache, p)) for cache, p in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(first) == 400
    first.close()
    second.close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_many_connections_opening_and_writing_at_once(tmp_path):
    """Opening (WAL switch, schema) and writing race across connections; none may fail as 'locked'."""
    path = tmp_path / "busy.sqlite"
    errors: list[BaseException] = []

    def open_and_write(prefix: str) -> None:
        try:
            with ResponseCache(path) as cache:
                for index in range(50):
                    cache.put(
                        f"{prefix}{index}",
                        image_id="x",
                        operation="DetectLabels",
                        params={},
                        response={"Labels": []},
                        model_version=None,
                    )
        except BaseException as error:  # collected: an exception in a thread would otherwise be lost
            errors.append(error)

    threads = [threading.Thread(target=open_and_write, args=(f"t{n}-",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with ResponseCache(path) as cache:
        assert len(cache) == 400


def test_only_answers_of_the_documented_shape_go_in_and_come_out(tmp_path):
    import json

    import pytest

    from evaluation.calls.answers import BadAnswer

    path = tmp_path / "c.sqlite"
    good = {"Labels": [{"Name": "Cat", "Confidence": 91.5, "Parents": [{"Name": "Animal"}]}]}
    with ResponseCache(path) as cache:
        cache.put(
            "good", image_id="a", operation="DetectLabels", params={}, response=good, model_version=None
        )
        with pytest.raises(BadAnswer, match=r"Labels\[0\]\.Confidence is 'high'"):
            cache.put(
                "bad",
                image_id="b",
                operation="DetectLabels",
                params={},
                response={"Labels": [{"Name": "Cat", "Confidence": "high"}]},
                model_version=None,
            )
        assert len(cache) == 1
    with sqlite3.connect(path) as connection:  # rows an older version stored
        for key, text in (("nan", '{"Labels": [{"Name": "Cat", "Confidence": NaN}]}'), ("text", "<html>")):
            connection.execute(
                "INSERT INTO responses VALUES (?, 'x', 'DetectLabels', '{}', ?, NULL, 'then')", (key, text)
            )
    with ResponseCache(path) as cache:
        assert set(cache.get_many(["good", "nan", "text"])) == {"good"}
        assert cache.get("nan") is None and not cache.contains("text")
        assert cache.get("good").response == json.loads(json.dumps(good))


def test_a_claim_is_held_until_its_lease_ends_and_ends_with_the_answer(tmp_path):
    import time

    from evaluation.calls.cache import ANSWERED, CLAIMED, HELD_ELSEWHERE

    with ResponseCache(tmp_path / "c.sqlite") as first, ResponseCache(tmp_path / "c.sqlite") as second:
        assert first.claim("k", "run-a", lease_s=0.4) == CLAIMED
        assert first.claim("k", "run-a", lease_s=0.4) == CLAIMED  # its own claim, again
        assert second.claim("k", "run-b", lease_s=60) == HELD_ELSEWHERE
        first.renew("run-a", lease_s=0.4)
        time.sleep(0.5)  # run-a died: its lease ran out
        assert second.claim("k", "run-b", lease_s=60) == CLAIMED
        assert first.claim("k", "run-a", lease_s=60) == HELD_ELSEWHERE
        second.release("k", "run-b")
        assert first.claim("k", "run-a", lease_s=60) == CLAIMED
        first.put(
            "k",
            image_id="x",
            operation="DetectLabels",
            params={},
            response={"Labels": []},
            model_version=None,
            owner="run-a",
        )
        assert second.claim("k", "run-b", lease_s=60) == ANSWERED


def test_a_file_that_is_not_a_cache_is_named_in_a_user_error(tmp_path):
    import pytest

    from evaluation.calls.cache import CacheError
    from evaluation.errors import UserError

    path = tmp_path / "c.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(CacheError, match="not a readable cache") as caught:
        ResponseCache(path)
    assert isinstance(caught.value, UserError) and str(path) in str(caught.value)


def test_each_answer_is_stored_once_and_older_model_versions_are_kept(tmp_path):
    path = tmp_path / "c.sqlite"

    def answer(version: str, name: str) -> dict:
        return {"Labels": [{"Name": name, "Confidence": 90.0}], "LabelModelVersion": version}

    def put(cache: ResponseCache, version: str, name: str, *, newest: bool = True) -> None:
        cache.put(
            "k1",
            image_id="sha256:x",
            operation="DetectLabels",
            params={},
            response=answer(version, name),
            model_version=version,
            newest=newest,
        )

    with ResponseCache(path) as cache:
        put(cache, "3.0", "Cat")
        put(cache, "3.0", "Cat")  # asked again (--refresh), same model version: superseded, not kept twice
        put(cache, "3.2", "Lion", newest=False)  # a canary's answer: kept by version only
        put(cache, "3.1", "Dog")  # a newer model: the 3.0 answer moves to the versions kept
        assert cache.get("k1").response == answer("3.1", "Dog")
        assert sorted(cache.versions("k1")) == ["3.0", "3.1", "3.2"]  # oldest first, by the second
        found = cache.get_versions({"k1": "3.0"})["k1"]
        assert found.response == answer("3.0", "Cat") and found.model_version == "3.0"
        assert cache.get_versions({"k1": "3.2"})["k1"].response == answer("3.2", "Lion")
        assert cache.get_versions({"k1": None})["k1"].response == answer("3.1", "Dog")
    with sqlite3.connect(path) as connection:  # 3.1 once (the newest), 3.0 and 3.2 once each beside it
        kept = connection.execute(
            "SELECT model_version FROM answer_versions ORDER BY model_version"
        ).fetchall()
        assert kept == [("3.0",), ("3.2",)]
        assert connection.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)
