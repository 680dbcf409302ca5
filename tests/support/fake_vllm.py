"""A small OpenAI-compatible stand-in for vLLM: /health, /v1/models, /v1/completions (streaming too).

    python fake_vllm.py --model DIR --host H --port P --served-model-name NAME
        [--enable-lora --lora-modules NAME=DIR ...] [other args ignored]

Like vLLM, it refuses to start on a LoRA adapter directory without `adapter_config.json`,
lists each adapter as a model, and answers under its name; the answer names the
adapter's files, so a test sees which weights were put on the base.

With a key (`--api-key KEY` or VLLM_API_KEY, as vLLM reads it), /v1/* answers 401 without
`Authorization: Bearer KEY`; /health stays open, as in vLLM.

Misbehaviour on request, through the environment: FAKE_SLOW_START (seconds before
listening), FAKE_FAIL_HEALTH (health answers 503), FAKE_CRASH_AFTER (seconds, then exit 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY"))
    parser.add_argument("--enable-lora", action="store_true")
    parser.add_argument("--lora-modules", nargs="+", default=[])
    args, unknown = parser.parse_known_args()
    adapters = dict(module.split("=", 1) for module in args.lora_modules)
    for adapter_name, directory in adapters.items():
        if not args.enable_lora or not os.path.isfile(os.path.join(directory, "adapter_config.json")):
            print(f"fake vllm: cannot load LoRA adapter {adapter_name} from {directory}", flush=True)
            sys.exit(2)
    print(f"fake vllm: model={args.model} name={args.served_model_name} extra={unknown}", flush=True)
    print(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    time.sleep(float(os.environ.get("FAKE_SLOW_START", "0")))
    name = args.served_model_name
    api_key = args.api_key

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            return

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> bool:
            """vLLM's rule: a key guards every /v1 path and nothing else."""
            if not api_key or not self.path.startswith("/v1"):
                return False
            if self.headers.get("Authorization") == f"Bearer {api_key}":
                return False
            self._json(401, {"error": "Unauthorized"})
            return True

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path == "/health":
                self._json(503 if os.environ.get("FAKE_FAIL_HEALTH") else 200, {})
            elif self.path == "/v1/models":
                served = [name, *adapters]
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": n, "object": "model", "owned_by": "fake"} for n in served],
                    },
                )
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self._refused():
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self._json(404, {"error": "not found"})
                return
            words = ["hello", " from", " the", " stand-in"][: int(body.get("max_tokens", 4))]
            if body.get("model") in adapters:  # which weights answered: the adapter's own files
                files = sorted(os.listdir(adapters[body["model"]]))
                words = ["adapter", f" {body['model']}", f" ({', '.join(files)})"]
            elif body.get("model") not in (None, name):
                self._json(404, {"error": f"model {body.get('model')} does not exist"})
                return
            if not body.get("stream"):
                self._json(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "text_completion",
                        "model": name,
                        "choices": [{"index": 0, "text": "".join(words), "finish_reason": "length"}],
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in words:
                chunk = {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": name,
                    "choices": [{"index": 0, "text": word, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"data: [DONE]\n\n")

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    crash_after = os.environ.get("FAKE_CRASH_AFTER")
    if crash_after:

        def crash() -> None:
            time.sleep(float(crash_after))
            print("fake vllm: engine died", flush=True)
            os._exit(3)

        threading.Thread(target=crash, daemon=True).start()
    print(f"fake vllm: serving on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
