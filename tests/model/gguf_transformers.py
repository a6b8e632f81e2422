"""transformers' GGUF loading, for the C++ GGUF input tests.

  logits FILE.gguf IDS OUT      AutoModelForCausalLM.from_pretrained(dir, gguf_file=...) in float32:
                                logits of the comma-separated IDS -> float32 OUT (T x V)
  tokenize FILE.gguf TEXTS.json AutoTokenizer.from_pretrained(dir, gguf_file=...): one JSON list of
                                ids per text of the JSON list TEXTS.json (special tokens added)
"""
import json
import os
import sys

import numpy as np
import torch


def main(argv):
    path = os.path.abspath(argv[1])
    folder, name = os.path.dirname(path), os.path.basename(path)
    if argv[0] == "logits":
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                     attn_implementation="eager")
        ids = torch.tensor([[int(x) for x in argv[2].split(",")]])
        with torch.no_grad():
            logits = model(ids).logits[0].float().numpy()
        logits.astype(np.float32).tofile(argv[3])
        return 0
    if argv[0] == "tokenize":
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        texts = json.load(open(argv[2]))
        print(json.dumps([tok(t)["input_ids"] for t in texts]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
