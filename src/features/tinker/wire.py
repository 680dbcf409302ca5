"""Protobuf bodies of the Tinker API, read and written with the SDK's own message classes.

`tinker.proto.tinker_public_pb2` ships with the pinned `tinker` package; the
encodings (int32 token bytes, dense or CSR tensors, byte offsets per datum) are
described in docs/tinker-wire.md §4.
"""

from __future__ import annotations

import numpy as np
import zstandard
from tinker.proto import tinker_public_pb2 as pb

PROTOBUF = "application/x-protobuf"
MAX_REQUEST_TOKENS = 65_536  # one forward_backward: the sum over its datums
LORA_ALPHA = 32  # the wire carries no LoRA alpha: every adapter the SDK makes uses this one (trainer.py)
_DTYPES = {pb.DTYPE_FLOAT32: np.float32, pb.DTYPE_INT64: np.int64, pb.DTYPE_INT32: np.int32}


class UserError(ValueError):
    """A request that cannot run as sent: a 400 from the API, or category `user` from a worker."""


class WireError(UserError):
    """A body that does not decode as the message it claims to be."""


def decompress(body: bytes, *, encoding: str | None, limit: int) -> bytes:
    """The body as sent before `Content-Encoding` (zstd or none), refused once it passes `limit` bytes."""
    if not encoding or encoding == "identity":
        return body
    if encoding != "zstd":
        raise WireError(f"content encoding {encoding!r} is not supported (zstd or none)")
    try:
        reader = zstandard.ZstdDecompressor(max_window_size=2**27).stream_reader(
            body, read_across_frames=True
        )
        out = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise WireError(f"the zstd body does not decompress: {exc}") from exc
    if len(out) > limit:
        raise WireError(f"the body decompresses to more than {limit} bytes")
    return out


def parse_forward_backward(body: bytes) -> pb.ForwardBackwardRequest:
    request = pb.ForwardBackwardRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise WireError("the body is not a ForwardBackwardRequest") from exc
    return request


def check_request_size(request: pb.ForwardBackwardRequest, *, max_tokens: int) -> None:
    """Refuse a forward_backward of more than `max_tokens` input tokens before decoding any of it."""
    total = sum(len(chunk.encoded_text.tokens) // 4 for datum in request.data for chunk in datum.model_input)
    if total > max_tokens:
        raise WireError(
            f"one forward_backward takes at most {max_tokens} tokens ({total} sent); send smaller batches"
        )


def datum_tokens(datum: pb.Datum) -> list[int]:
    """The input tokens of a datum: its text chunks, in order (images and audio are refused)."""
    tokens: list[int] = []
    for chunk in datum.model_input:
        if chunk.WhichOneof("chunk") != "encoded_text":
            raise WireError("only encoded_text chunks are supported as model input")
        raw = chunk.encoded_text.tokens
        if len(raw) % 4:
            raise WireError("encoded_text tokens are int32 bytes: their length must be a multiple of 4")
        tokens.extend(np.frombuffer(raw, dtype="<i4").tolist())
    return tokens


def tensor_array(tensor: pb.Tensor, *, max_elements: int) -> np.ndarray:
    """A Tensor message as a numpy array (dense, or sparse CSR made dense), of at most `max_elements`."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise WireError(f"tensor dtype {tensor.dtype} is not supported")
    shape = list(tensor.shape)
    if any(size < 0 for size in shape) or _product(shape) > max_elements:
        raise WireError(f"a tensor of shape {shape} is larger than the {max_elements} values allowed here")
    if tensor.HasField("sparse_csr"):
        csr = tensor.sparse_csr
        values = np.frombuffer(csr.values, dtype=dtype)
        rows = np.frombuffer(csr.crow_indices, dtype=np.int64)
        cols = np.frombuffer(csr.col_indices, dtype=np.int64)
        if len(shape) != 2 or len(rows) != shape[0] + 1 or len(cols) != len(values):
            raise WireError("a sparse tensor needs a 2-D shape and matching CSR indices")
        if (
            rows[0] != 0
            or rows[-1] != len(values)
            or np.any(np.diff(rows) < 0)
            or (len(cols) and (cols.min() < 0 or cols.max() >= shape[1]))
        ):
            raise WireError("the CSR indices do not describe a tensor of this shape")
        dense = np.zeros(shape, dtype=dtype)
        for row in range(shape[0]):
            start, end = int(rows[row]), int(rows[row + 1])
            dense[row, cols[start:end]] = values[start:end]
        return dense
    if len(tensor.dense) % np.dtype(dtype).itemsize:
        raise WireError("a dense tensor's bytes do not fit its dtype")
    array = np.frombuffer(tensor.dense, dtype=dtype)
    if array.size > max_elements:
        raise WireError(f"a tensor of {array.size} values is larger than the {max_elements} allowed here")
    if shape:
        if int(np.prod(shape)) != array.size:
            raise WireError(f"a tensor of shape {shape} cannot hold {array.size} values")
        array = array.reshape(shape)
    return array


def _product(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size  # Python integers: no overflow on a hostile shape
    return total


def loss_config(request: pb.ForwardBackwardRequest) -> dict[str, float]:
    """The numeric loss settings (`loss_fn_config`, or the newer `loss_fn_config_v2`)."""
    config = {key: float(value) for key, value in request.loss_fn_config.items()}
    for key, value in request.loss_fn_config_v2.items():
        if value.WhichOneof("value") == "number":
            config[key] = float(value.number)
    return config


def forward_backward_output(logprobs: list[np.ndarray], metrics: dict[str, float]) -> bytes:
    """A ForwardBackwardOutput: one ArrayRecord with each datum's `logprobs`, and the metrics."""
    arrays = [np.ascontiguousarray(values, dtype=np.float32).reshape(-1) for values in logprobs]
    offsets = np.cumsum([0, *(array.nbytes for array in arrays)]).astype(np.int64)
    record = pb.ArrayRecord(type_tag="ArrayRecord", num_datums=len(arrays))
    record.fields["logprobs"].CopyFrom(
        pb.BatchedTensor(
            data=b"".join(array.tobytes() for array in arrays),
            offsets=offsets.tobytes(),
            dtype=pb.DTYPE_FLOAT32,
        )
    )
    output = pb.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", loss_fn_outputs=[record])
    for key, value in metrics.items():
        output.metrics[key] = value
    return output.SerializeToString()


def sample_response(
    sequences: list[tuple[list[int], list[float], bool]], prompt_logprobs: list[float] | None
) -> bytes:
    """A SampleResponse: each sequence's tokens (int32), log-probabilities (float32) and stop reason."""
    response = pb.SampleResponse()
    for tokens, logprobs, stopped in sequences:
        response.sequences.append(
            pb.SampledSequence(
                stop_reason=pb.STOP_REASON_STOP if stopped else pb.STOP_REASON_LENGTH,
                tokens=np.asarray(tokens, dtype="<i4").tobytes(),
                logprobs=np.asarray(logprobs, dtype="<f4").tobytes(),
            )
        )
    if prompt_logprobs is not None:
        response.prompt_logprobs = np.asarray(prompt_logprobs, dtype="<f4").tobytes()
    return response.SerializeToString()


def cross_entropy_request(
    *, model_id: str, seq_id: int, input_ids: list[int], weights: list[float] | None, forward_only: bool
) -> bytes:
    """The ForwardBackwardRequest the SDK would send for one sequence: predict each token from those before.

    `weights` are per token of `input_ids` (the first one is never predicted); unset, all count 1.
    """
    targets = np.asarray(input_ids[1:], dtype=np.int64)
    if weights is None:
        weight_values = np.ones(len(targets), dtype=np.float32)
    else:
        if len(weights) != len(input_ids):
            raise UserError(f"weights has {len(weights)} values for {len(input_ids)} input_ids")
        weight_values = np.asarray(weights[1:], dtype=np.float32)
    datum = pb.Datum()
    chunk = datum.model_input.add()
    chunk.encoded_text.tokens = np.asarray(input_ids[:-1], dtype="<i4").tobytes()
    datum.loss_fn_inputs["target_tokens"].CopyFrom(
        pb.Tensor(dtype=pb.DTYPE_INT64, shape=[len(targets)], dense=targets.tobytes())
    )
    datum.loss_fn_inputs["weights"].CopyFrom(
        pb.Tensor(dtype=pb.DTYPE_FLOAT32, shape=[len(weight_values)], dense=weight_values.tobytes())
    )
    request = pb.ForwardBackwardRequest(
        model_id=model_id, seq_id=seq_id, loss_fn="cross_entropy", forward_only=forward_only
    )
    request.data.append(datum)
    return request.SerializeToString()


def read_forward_backward_output(body: bytes) -> dict[str, float]:
    """The metrics of a ForwardBackwardOutput (`loss:sum`, …)."""
    output = pb.ForwardBackwardOutput()
    output.ParseFromString(body)
    return dict(output.metrics)


def read_sample_response(body: bytes) -> list[dict[str, object]]:
    """Each sequence of a SampleResponse as JSON: its tokens and whether it stopped by itself."""
    response = pb.SampleResponse()
    response.ParseFromString(body)
    return [
        {
            "tokens": np.frombuffer(sequence.tokens, dtype="<i4").tolist(),
            "stopped": sequence.stop_reason == pb.STOP_REASON_STOP,
        }
        for sequence in response.sequences
    ]
