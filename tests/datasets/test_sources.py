"""Reading datasets stored in S3 (moto), and how image paths written in a dataset resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from evaluation.datasets import load_dataset
from evaluation.datasets.sources import dataset_name, folder_of, resolve_image
from evaluation.errors import DatasetError
from tests.datasets.builders import BUCKET, classification_line, jsonl


def _put(s3: Any, key: str, body: str | bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode("utf-8") if isinstance(body, str) else body)
    return f"s3://{BUCKET}/{key}"


def test_an_s3_manifest_resolves_relative_refs_in_its_own_folder(s3: Any) -> None:
    uri = _put(
        s3,
        "sets/pets/test.manifest",
        jsonl(
            classification_line("images/a.jpg", "Dog"),
            classification_line("../shared/b.jpg", "Cat"),
            classification_line("s3://other-bucket/c.jpg", "Dog"),
            classification_line("S3://other-bucket/d.jpg", "Dog"),
        ),
    )
    dataset = load_dataset(uri, s3_client=s3)
    assert (dataset.name, dataset.source, dataset.format) == ("pets-test", uri, "manifest")
    assert [item.image.uri for item in dataset.items] == [
        f"s3://{BUCKET}/sets/pets/images/a.jpg",
        f"s3://{BUCKET}/sets/shared/b.jpg",
        "s3://other-bucket/c.jpg",
        "s3://other-bucket/d.jpg",
    ]
    assert dataset.items[1].source == f"{uri}:2"


def test_a_bad_line_in_an_s3_manifest_is_named_by_uri(s3: Any) -> None:
    uri = _put(
        s3,
        "m/test.manifest",
        jsonl(classification_line("a.jpg", "Dog"), classification_line("../../x.jpg", "Dog")),
    )
    with pytest.raises(DatasetError, match=rf"^{uri}:2: \"source-ref\": '../../x.jpg' points above the root"):
        load_dataset(uri, s3_client=s3)


def test_an_s3_csv_with_a_bom_and_crlf(s3: Any) -> None:
    uri = _put(s3, "sets/pets.csv", "\ufeffimage,labels\r\ndogs/a.jpg,Dog\r\nb.jpg,\r\n".encode())
    dataset = load_dataset(uri, s3_client=s3)
    assert dataset.name == "pets"
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        (f"s3://{BUCKET}/sets/dogs/a.jpg", frozenset({"Dog"})),
        (f"s3://{BUCKET}/sets/b.jpg", frozenset()),
    ]


def test_without_a_client_a_default_one_is_made(s3: Any) -> None:
    uri = _put(s3, "a.csv", "image,labels\na.jpg,Dog\n")
    assert load_dataset(uri).items[0].image.uri == f"s3://{BUCKET}/a.jpg"


def test_a_path_object_holding_an_s3_uri_is_understood(s3: Any) -> None:
    uri = _put(s3, "a.csv", "image,labels\na.jpg,Dog\n")
    assert load_dataset(Path(uri), s3_client=s3).source == uri


def test_a_missing_s3_object_is_named(s3: Any) -> None:
    with pytest.raises(DatasetError, match=rf"dataset not found: s3://{BUCKET}/nope\.manifest \(NoSuchKey"):
        load_dataset(f"s3://{BUCKET}/nope.manifest", s3_client=s3)


def test_access_denied_is_reported_with_the_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_object", service_error_code="AccessDenied", service_message="Access Denied"
        )
        with pytest.raises(
            DatasetError, match=r"cannot read s3://b/t\.csv: GetObject failed: AccessDenied: Access Denied"
        ):
            load_dataset("s3://b/t.csv", s3_client=client)
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "text, folder, expected",
    [
        ("a.jpg", "s3://b/x/", "s3://b/x/a.jpg"),
        ("./y/../a.jpg", "s3://b/x/", "s3://b/x/a.jpg"),
        ("a.jpg", "s3://b/", "s3://b/a.jpg"),
        ("dir\\a.jpg", "s3://b/x/", "s3://b/x/dir/a.jpg"),
        ("  s3://b/k.jpg  ", "/data", "s3://b/k.jpg"),
        ("s3://b/k.jpg", "s3://c/", "s3://b/k.jpg"),
        ("a.jpg", "/data/sets", "/data/sets/a.jpg"),
        ("/abs/a.jpg", "s3://b/x/", "/abs/a.jpg"),
    ],
)
def test_resolve_image(text: str, folder: str, expected: str) -> None:
    assert resolve_image(text, folder).uri == expected


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty image path"),
        ("gs://b/a.jpg", "only s3:// URIs and file paths are supported, not gs://"),
        ("s3://b", "not an S3 object URI"),
        ("../../a.jpg", "points above the root of bucket b"),
    ],
)
def test_resolve_image_problems(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        resolve_image(text, "s3://b/x/")


@pytest.mark.parametrize(
    "source, name",
    [
        ("s3://b/sets/test.manifest", "sets-test"),  # a generic file name takes its folder's
        ("s3://b/test.manifest", "b-test"),
        ("s3://b/sets/birds.manifest", "birds"),
        ("datasets/sample/manifest.jsonl", "sample-manifest"),
        ("s3://b/sets/pets/", "pets"),
        ("s3://b/", "b"),
        ("s3://b", "b"),
        ("data/test.v2.csv", "test.v2"),
    ],
)
def test_dataset_name(source: str, name: str) -> None:
    assert dataset_name(source) == name


def test_folder_of() -> None:
    assert folder_of("s3://b/x/y/m.manifest") == "s3://b/x/y/"
    assert folder_of("s3://b/m.manifest") == "s3://b/"
    assert folder_of("data/m.manifest") == str(Path("data").resolve())
