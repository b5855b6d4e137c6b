"""A recorded line's answer is stored as the line spells it, and only where that is certain: the record
is always the one json.loads reads, and the text, when cut out, parses to the record's response."""

from __future__ import annotations

import json
import re

import pytest

from evaluation.calls.recorded import parse_line

ANSWER = {"Labels": [{"Name": "Dog", "Confidence": 91.5, "Parents": [{"Name": "Animal"}]}]}

LINES = [
    # (line, whether the answer's text can be cut out of it)
    ('{"image": "a.jpg", "response": ' + json.dumps(ANSWER) + "}", True),
    (
        '{"response":'
        + json.dumps(ANSWER, separators=(",", ":"))
        + ',"image":"a.jpg","model_version":"3.0"}',
        True,
    ),
    ('{ "image" : "a\\"response\\": {}.jpg" ,  "response"  :  ' + json.dumps(ANSWER, indent=1) + "  }", True),
    ('{"image": "é.jpg", "response": {"Labels": [], "Note": {"response": {"x": 1}}}}', True),  # nested key
    ('{"image": "a.jpg", "response": {"Labels": []}, "response": {"Labels": [{"Name": "Cat"}]}}', False),
    ('{"image": "a.jpg", "response": {"Labels": []}, "response": null}', False),  # json.loads keeps the last
    ('{"meta": {"response": 1}, "image": "a.jpg", "response": {"Labels": []}}', False),  # an object before it
    ('{"image": "a.jpg", "response": {"Labels": []}, "extra": {"response": 2}}', False),  # and after it
    ('{"image": "a.jpg", "response": {"Labels": [], "ResponseMetadata": {"RequestId": "r"}}}', False),
    ('{"image": "a.jpg", "response": [1, 2]}', False),
    ('{"image": "a.jpg", "response": "text"}', False),
    ('{"image": "a.jpg"}', False),
    ('["response", {"a": 1}]', False),
    ('{"image": "a.jpg", "response": {"Labels": [], "Confidence": NaN}}', True),
    # what orjson reads otherwise than json (or refuses) is read by json: the record is json's
    ('{"image": "a.jpg", "response": {"Labels": [], "Big": 18446744073709551616}}', True),  # 2**64: an int
    ('{"image": "a.jpg", "response": {"Labels": [], "Small": -9223372036854775809}}', True),
    ('{"image": "a.jpg", "response": {"Labels": [], "Far": 1e400}}', True),
    ('{"image": "a.jpg", "response": {"Labels": [], "Text": "\\ud800"}}', True),  # a lone surrogate
    ('{"image": "a.jpg", "response": {"Labels": []}, "model_version": "3.0}"}', True),  # a "}" after it
    ('{"image": "a.jpg", "response": {"Labels": [{"Name": "}"}]}, "model_version": "3.0"}', True),
    ('{"image": "a.jpg", "response": {"Labels": []}, "n": 1, "extra": [{}]}', True),
]


@pytest.mark.parametrize(("line", "cut"), LINES)
def test_the_record_is_json_loads_and_the_text_is_the_lines_own(line: str, cut: bool) -> None:
    record, text = parse_line(line)
    expected = json.loads(line)
    assert json.dumps(record, sort_keys=True) == json.dumps(expected, sort_keys=True)  # NaN-safe equality
    assert (text is not None) == cut
    if text is not None:
        assert text in line and json.dumps(json.loads(text), sort_keys=True) == json.dumps(
            expected["response"], sort_keys=True
        )


@pytest.mark.parametrize(
    "line",
    [
        '{"image": "a.jpg", "response": {"Labels": [}',  # broken inside the answer
        '{"image": "a.jpg", "response": {"Labels": []}',  # the record is never closed
        '{"image": "a.jpg", "response": {"Labels": []}} trailing',
        "not json",
    ],
)
def test_a_broken_line_raises_what_json_loads_raises(line: str) -> None:
    with pytest.raises(ValueError) as ours:
        parse_line(line)
    with pytest.raises(ValueError) as theirs:
        json.loads(line)
    assert str(ours.value) == str(theirs.value)


def test_a_replay_stores_each_answer_as_its_line_spells_it(tmp_path) -> None:
    from evaluation.calls.answers import model_version_of
    from evaluation.calls.cache import ResponseCache
    from evaluation.calls.recorded import store_recorded

    spelled = (
        '{ "Labels" : [ {"Name": "Dog", "Confidence": 91.50, "Parents": []} ] , "LabelModelVersion": "3.0" }'
    )
    lines = [
        '{"image": "s3://b/a.jpg", "response": ' + spelled + "}",
        '{"image": "s3://b/b.jpg", "response": {"Labels": [], "ResponseMetadata": {"RequestId": "r-1"}}}',
    ]
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = store_recorded(
            answers,
            keys_by_image={"s3://b/a.jpg": "ka", "s3://b/b.jpg": "kb"},
            image_ids={"s3://b/a.jpg": "ia", "s3://b/b.jpg": "ib"},
            operation="DetectLabels",
            params={"MinConfidence": 50},
            cache=cache,
            validate=lambda response: response,
            model_version_of=model_version_of,
        )
        stored = cache.raw_answers(["ka", "kb"])
    assert report.stored == 2 and report.bad == 0
    assert stored["ka"] == spelled  # as recorded, not spelled again
    assert json.loads(stored["kb"]) == {"Labels": []}  # the request's metadata is never kept


def test_orjson_reads_a_usual_line_and_leaves_the_rest_to_json() -> None:
    from evaluation.calls import recorded_reading

    usual = '{"image":"a.jpg","response":' + json.dumps(ANSWER) + ',"model_version":"3.0"}\n'
    assert recorded_reading._cut_by_orjson(usual, usual.index("{", 2)) is not None
    big = '{"image": "a.jpg", "response": {"Labels": [], "Big": 1234567890123456789012}}'
    assert recorded_reading._cut_by_orjson(big, big.index("{", 2)) is None
    record, _ = parse_line(big)
    assert record["response"]["Big"] == 1234567890123456789012 and isinstance(record["response"]["Big"], int)


def test_every_double_is_read_as_json_reads_it() -> None:
    import random
    import struct

    rng = random.Random(19)
    doubles = []
    while len(doubles) < 5000:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            doubles.append(value)
    spelled = [repr(value) for value in doubles] + [
        f"{rng.uniform(0, 100):.{rng.randint(1, 18)}f}" for _ in doubles
    ]
    spelled = [text for text in spelled if not re.search(r"\d{19}", text)]  # those go to json
    line = '{"image": "a.jpg", "response": {"Labels": [], "Values": [' + ", ".join(spelled) + "]}}"
    from evaluation.calls import recorded_reading

    assert recorded_reading._cut_by_orjson(line, line.index("{", 2)) is not None  # read by orjson
    record, text = parse_line(line)
    assert text is not None
    expected = json.loads(line)["response"]["Values"]
    assert [repr(value) for value in record["response"]["Values"]] == [repr(value) for value in expected]
