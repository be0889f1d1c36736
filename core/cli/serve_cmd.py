"""``assay serve MODEL``: serve a local model over an OpenAI-compatible completions API."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a local model over an OpenAI-compatible API (completions and chat)",
                       description="Serve a local Hugging Face model directory over /v1/completions and "
                                   "/v1/chat/completions (the model's chat template; any OpenAI client) (loopback by default). "
                                   "POST /update_weights_from_disk {\"model_path\": DIR} loads new weights (SGLang's API; "
                                   "a trainer with generator_url uses it after every update).")
    p.add_argument("model", metavar="MODEL", help="a Hugging Face model directory, or 'tiny'")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--name", help="model name reported by the API (default: the directory name)")
    p.add_argument("--admin-key", default=os.environ.get("ASSAY_SERVE_ADMIN_KEY"),
                   help="bearer token that POST /update_weights_from_disk needs (default: $ASSAY_SERVE_ADMIN_KEY; "
                        "unset: only loopback clients may update weights)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from assay.trainer.generators.hf import HFGenerator
    from assay.trainer.policy import load_policy
    from assay.trainer.serve import CompletionServer

    from assay.errors import AssayError

    if not 0 <= args.port <= 65535:
        raise AssayError(f"--port must be in 0..65535 (0 picks a free one), got {args.port}")
    model, tokenizer = load_policy(args.model, tempfile.mkdtemp(prefix="assay-serve-"))
    try:
        server = CompletionServer(HFGenerator(model, tokenizer), args.name or Path(args.model).name, args.host, args.port,
                                  model_path=args.model, admin_key=args.admin_key)
    except OSError as e:  # the port is taken, or the host is not an address of this machine
        raise AssayError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}; pick another --port "
                         "(0 picks a free one) or --host") from None
    print(f"serving {args.model} at {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
    return 0
