"""What a careless or hostile key cannot do to the shared workers: aliases, far seq_ids, tensor bombs."""

from __future__ import annotations

import httpx
import numpy as np
from tinker.proto import tinker_public_pb2 as pb

from tests.features.tinker.test_training import ALICE, BASE, BOB, server  # noqa: F401 (the fixture)

HEADERS = {"X-API-Key": ALICE}


def _session(url: str) -> str:
    answer = httpx.post(f"{url}/api/v1/create_session", json={"tags": []}, headers=HEADERS)
    return answer.json()["session_id"]


def _model(url: str, session_id: str) -> str:
    body = {"session_id": session_id, "model_seq_id": 0, "base_model": BASE, "lora_config": {"rank": 2}}
    queued = httpx.post(f"{url}/api/v1/create_model", json=body, headers=HEADERS)
    assert queued.status_code == 200, queued.text
    _result(url, queued.json()["request_id"])
    return queued.json()["model_id"]


def _result(url: str, request_id: str) -> httpx.Response:
    for _ in range(10):
        answer = httpx.post(
            f"{url}/api/v1/retrieve_future", json={"request_id": request_id}, headers=HEADERS, timeout=60
        )
        if (
            answer.headers["content-type"].startswith("application/x-protobuf")
            or "try_again" not in answer.text
        ):
            return answer
    raise AssertionError("no answer")


def _forward_backward(url: str, model_id: str, seq_id: int, datum: pb.Datum) -> httpx.Response:
    request = pb.ForwardBackwardRequest(
        model_id=model_id, seq_id=seq_id, data=[datum], loss_fn="cross_entropy"
    )
    return httpx.post(
        f"{url}/api/v1/forward_backward",
        content=request.SerializeToString(),
        headers={**HEADERS, "Content-Type": "application/x-protobuf"},
    )


def _tokens(values: list[int]) -> pb.Chunk:
    return pb.Chunk(encoded_text=pb.EncodedTextChunk(tokens=np.asarray(values, dtype="<i4").tobytes()))


def test_another_spelling_of_a_base_model_is_refused(server: str) -> None:  # noqa: F811
    session_id = _session(server)
    for alias in (f"./{BASE}", f"{BASE}/", f"{BASE}/.", BASE.upper()):
        body = {"session_id": session_id, "model_seq_id": 0, "base_model": alias, "lora_config": {"rank": 2}}
        answer = httpx.post(f"{server}/api/v1/create_model", json=body, headers=HEADERS)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "unknown_base_model", alias


def test_a_tensor_bomb_or_a_far_seq_id_fails_alone(server: str) -> None:  # noqa: F811
    model_id = _model(server, _session(server))
    tokens = [1, 2, 3]
    bomb = pb.Datum(model_input=[_tokens(tokens)])
    bomb.loss_fn_inputs["target_tokens"].CopyFrom(
        pb.Tensor(dense=np.asarray([2, 3, 4], dtype="<i8").tobytes(), dtype=pb.DTYPE_INT64, shape=[3])
    )
    bomb.loss_fn_inputs["weights"].CopyFrom(  # 45 bytes claiming 120 GB once made dense
        pb.Tensor(
            dtype=pb.DTYPE_FLOAT32,
            shape=[1, 30_000_000_000],
            sparse_csr=pb.SparseCsr(
                values=np.zeros(1, dtype="<f4").tobytes(),
                crow_indices=np.asarray([0, 1], dtype="<i8").tobytes(),
                col_indices=np.asarray([0], dtype="<i8").tobytes(),
            ),
        )
    )
    queued = _forward_backward(server, model_id, 1, bomb)
    assert queued.status_code == 200, queued.text
    failed = _result(server, queued.json()["request_id"]).json()
    assert failed["category"] == "user" and "larger than" in failed["error"]

    good = pb.Datum(model_input=[_tokens(tokens)])
    good.loss_fn_inputs["target_tokens"].CopyFrom(
        pb.Tensor(dense=np.asarray([2, 3, 4], dtype="<i8").tobytes(), dtype=pb.DTYPE_INT64, shape=[3])
    )
    good.loss_fn_inputs["weights"].CopyFrom(
        pb.Tensor(dense=np.ones(3, dtype="<f4").tobytes(), dtype=pb.DTYPE_FLOAT32, shape=[3])
    )
    answer = _result(server, _forward_backward(server, model_id, 2, good).json()["request_id"])
    assert answer.headers["content-type"].startswith("application/x-protobuf")  # the worker went on

    far = _forward_backward(server, model_id, 10_000, good)
    assert far.status_code == 400 and far.json()["error"]["code"] == "seq_id_too_far"
    too_many = pb.Datum(model_input=[_tokens([1] * 70_000)])
    assert _forward_backward(server, model_id, 3, too_many).status_code == 400
    garbage = httpx.post(
        f"{server}/api/v1/forward_backward",
        content=b"\xff" * 64,
        headers={**HEADERS, "Content-Type": "application/x-protobuf"},
    )
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "bad_protobuf"
    # Bob can neither queue on Alice's model nor read her requests
    assert _forward_backward(server, model_id, 3, good).status_code == 200
    bob = httpx.post(
        f"{server}/api/v1/forward_backward",
        content=pb.ForwardBackwardRequest(model_id=model_id, seq_id=4, data=[good]).SerializeToString(),
        headers={"X-API-Key": BOB, "Content-Type": "application/x-protobuf"},
    )
    assert bob.status_code == 404
    peek = httpx.post(
        f"{server}/api/v1/retrieve_future",
        json={"request_id": queued.json()["request_id"]},
        headers={"X-API-Key": BOB},
    )
    assert peek.status_code == 404


def test_a_zstd_body_is_limited_by_its_decompressed_size(server: str) -> None:  # noqa: F811
    import zstandard

    model_id = _model(server, _session(server))
    good = pb.Datum(model_input=[_tokens([1, 2, 3])])
    good.loss_fn_inputs["target_tokens"].CopyFrom(
        pb.Tensor(dense=np.asarray([2, 3, 4], dtype="<i8").tobytes(), dtype=pb.DTYPE_INT64, shape=[3])
    )
    good.loss_fn_inputs["weights"].CopyFrom(
        pb.Tensor(dense=np.ones(3, dtype="<f4").tobytes(), dtype=pb.DTYPE_FLOAT32, shape=[3])
    )
    body = pb.ForwardBackwardRequest(model_id=model_id, seq_id=1, data=[good], loss_fn="cross_entropy")
    headers = {**HEADERS, "Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"}
    compressor = zstandard.ZstdCompressor()
    packed = httpx.post(
        f"{server}/api/v1/forward_backward",
        content=compressor.compress(body.SerializeToString()),
        headers=headers,
    )
    assert packed.status_code == 200, packed.text  # the SDK may compress: a small body is read
    # 64 MiB of zeros in a few KiB on the wire: refused once past the 8 MiB body cap, before parsing
    bomb = compressor.compress(b"\0" * 64 * 1024**2)
    assert len(bomb) < 100_000
    refused = httpx.post(f"{server}/api/v1/forward_backward", content=bomb, headers=headers)
    assert refused.status_code == 400 and "decompresses to more than" in refused.json()["error"]["message"]
    odd = httpx.post(
        f"{server}/api/v1/forward_backward", content=b"x", headers={**headers, "Content-Encoding": "br"}
    )
    assert odd.status_code == 400 and "not supported" in odd.json()["error"]["message"]
