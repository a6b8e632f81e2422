#!/usr/bin/env python3
"""Differential test: dpo.cpp's chat templates against transformers' apply_chat_template.

Every chat template of the fixtures (tests/fixtures/chat_template_cases.json, the chat_template of
each fixture tokenizer's tokenizer_config.json) and each of dpo's built-in templates (llama-2,
zephyr, chatml, llama-3, read back from dpo itself) is rendered with each fixture tokenizer's
special tokens, for every conversation of chat_template_cases.json plus hand-made ones (system
prompts, multi-turn, whitespace to strip, special-token text, Jinja-looking text, tool calls and
tool results with tools=, reasoning, list content, non-alternating roles that make templates
raise) plus seeded random ones, each with add_generation_prompt False and True. transformers'
apply_chat_template(tokenize=False) and `dpo chat render` must give the same text, byte for byte,
or both fail (raise_exception, a missing key).

dpo side: `dpo chat render --tokenizer DIR --chat-template (auto|NAME|FILE) --file CASES.jsonl`,
one {"messages": [...], "add_generation_prompt": bool, "variables": {...}} per line in, one
{"text": "..."} or {"error": "..."} per line out; `--print-template` prints the template's source.

usage: tests/parity/chat_template_diff.py [--dpo BINARY] [--wait SECONDS] [--seed S] [--show K]
exit: 0 all identical; 1 a mismatch (or an error); 77 transformers/jinja2 not importable (CTest
SKIP_RETURN_CODE), except with CI=true, where a missing reference is a failure (1).
"""
import argparse
import json
import os
import random
import subprocess
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_diff import TOKENIZERS  # noqa: E402  (name, folder under tests/fixtures)
BUILTINS = ["llama-2", "zephyr", "chatml", "llama-3"]
# chat_template_cases.json labels -> the fixture tokenizer they were rendered with (PROVENANCE.md)
CASE_TOKENIZER = {"llama3": "llama3", "qwen3": "qwen3", "llama2-chat": "mistral",
                  "tinyllama-chat": "mistral"}
SKIP = 77
TEMP_DIRS = []  # removed at exit (not with --keep)


def temp_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    TEMP_DIRS.append(path)
    return path

# Templates that look at how apply_chat_template hands data to the template: the special-token
# variables, None-valued tools/documents, message key order, tojson, the reasoning aliases.
PROBES = {
    "probe-variables": "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|"
                       "{{ documents }}|{{ tools is none }}|{{ enable_thinking is defined }}",
    "probe-tojson": "{{ messages | tojson }}\n{{ messages[0] | tojson(indent=2) }}\n"
                    "{{ tools | tojson }}",
    "probe-items": "{% for m in messages %}{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}\n"
                   "{% endfor %}",
    "probe-reasoning": "{% for m in messages %}{{ m.role }}:{{ m.reasoning_content }}|{{ m.thinking }}"
                       "|{{ m.reasoning }}\n{% endfor %}",
}


def missing_reference(what):
    if os.environ.get("CI", "").lower() == "true":
        print(f"chat_template_diff: {what} is not importable, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"chat_template_diff: SKIP: {what} is not importable (pip install transformers jinja2)",
          file=sys.stderr)
    sys.exit(SKIP)


# ------------------------------------------------------------------------------- conversations

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city (°C).",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "e.g. Dublin, 北京"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {"type": "function", "function": {"name": "search", "description": "Web search",
                                                "parameters": {"type": "object", "properties": {
                                                    "q": {"type": "string"}}}}}


def handmade_cases():
    """(name, messages, variables) for the templates' interesting paths."""
    u = lambda c: {"role": "user", "content": c}
    a = lambda c: {"role": "assistant", "content": c}
    s = lambda c: {"role": "system", "content": c}
    call = {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "function": {
                "name": "get_weather", "arguments": {"unit": "celsius", "city": "Dublin"}}}]}
    call_str = {"role": "assistant", "content": "Let me check.",
                "tool_calls": [{"type": "function", "function": {
                    "name": "search", "arguments": "{\"q\": \"Cork \\u00e9\"}"}},
                               {"name": "get_weather", "arguments": {"city": "Zürich"}}]}
    tool = {"role": "tool", "content": "{\"temperature\": 12, \"sky\": \"grey\"}"}
    cases = [
        ("one user", [u("What is the capital of Ireland?")], {}),
        ("system + user", [s("You are terse."), u("Hi")], {}),
        ("three turns", [u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")], {}),
        ("system + two turns", [s("Be kind."), u("Q1"), a("A1"), u("Q2"), a("A2")], {}),
        ("ends with assistant", [u("2+2?"), a("4")], {}),
        ("whitespace to strip", [s("  sys \n"), u("\n\n  spaced out  \t\n"), a("  answer  \n\n")], {}),
        ("empty content", [u(""), a(""), u(" ")], {}),
        ("special-token text", [u("<|im_start|>assistant\n<s>[INST] </s> <|eot_id|>"),
                                a("<|begin_of_text|><|start_header_id|>x<|end_header_id|>")], {}),
        ("jinja-looking text", [u("{{ bos_token }} {% if x %}{% endif %} {# c #} {{- '}}' -}}"),
                                a("{% raw %}x{% endraw %} ${x} %}")], {}),
        ("unicode", [s("Réponds en français ✨"), u("日本語で説明して 👩‍👩‍👧‍👦 🇮🇪"),
                     a("مرحبا שלום\u200f \u00a0 e\u0301 \ufeff")], {}),
        ("quotes and backslashes", [u("He said \"hi\" and 'bye' \\n \\\\ \\u0041"),
                                    a("C:\\path\\to\\file")], {}),
        ("long content", [u("word " * 2000), a("x" * 5000)], {}),
        ("newlines", [u("line1\nline2\r\nline3\rline4\n"), a("\n")], {}),
        ("assistant first", [a("I start."), u("ok")], {}),
        ("two users in a row", [u("one"), u("two")], {}),
        ("system only", [s("Only a system prompt.")], {}),
        ("system not first", [u("hi"), s("late system"), a("ok")], {}),
        ("unknown role", [{"role": "narrator", "content": "Once upon a time"}, u("go on")], {}),
        ("extra keys in order", [{"content": "content first", "role": "user", "name": "zed",
                                  "a": 1, "z": [1, 2.5, None, True, {"k": "v"}]}], {}),
        ("list content", [{"role": "user", "content": [{"type": "text", "text": "Describe:"},
                                                       {"type": "image"}]}], {}),
        ("tools offered", [s("You can call tools."), u("Weather in Dublin?")],
         {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ("tools, no system", [u("Weather in Dublin?")], {"tools": [WEATHER_TOOL]}),
        ("tool call and result", [u("Weather in Dublin?"), call, tool,
                                  a("It is 12 °C and grey.")], {"tools": [WEATHER_TOOL]}),
        ("tool calls, string args", [u("Search and check"), call_str, tool, tool, u("thanks")],
         {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ("reasoning_content", [u("Think first"), {"role": "assistant", "content": "42",
                                                   "reasoning_content": "6 times 7"}, u("why?")], {}),
        ("reasoning (old name)", [u("Think"), {"role": "assistant", "content": "yes",
                                               "reasoning": "because"}, u("more")], {}),
        ("thinking (gpt-oss name)", [u("Think"), {"role": "assistant", "content": "no",
                                                  "thinking": "hmm"}], {}),
        ("think tags in content", [u("Q"), a("<think>\nsecret plan\n</think>\n\nThe answer."),
                                   u("Q2"), a("<think>x</think>y")], {}),
        ("enable_thinking false", [u("Quick answer please")], {"enable_thinking": False}),
        ("enable_thinking true", [u("Think hard")], {"enable_thinking": True}),
        ("numbers as content", [u("1"), a("2")], {}),
    ]
    return cases


def fixture_cases():
    with open(os.path.join(FIXTURES, "chat_template_cases.json"), encoding="utf-8") as f:
        data = json.load(f)
    out, seen = [], set()
    for label, entry in data.items():
        for i, c in enumerate(entry["cases"]):
            key = json.dumps(c["messages"])
            if key not in seen:
                seen.add(key)
                out.append((f"fixture {label} #{i}", c["messages"], {}))
    return data, out


def random_cases(seed, n):
    sys.path.insert(0, HERE)
    from tokenizer_diff import make_corpus  # the tokenizer test's strings as message contents
    r = random.Random(seed)
    texts = [t for t in make_corpus(seed, 3000) if len(t) < 2000]
    out = []
    for k in range(n):
        messages = []
        if r.random() < 0.4:
            messages.append({"role": "system", "content": r.choice(texts)})
        for turn in range(r.randint(1, 6)):
            role = "user" if turn % 2 == 0 else "assistant"
            if r.random() < 0.05:
                role = r.choice(["user", "assistant", "system", "tool"])
            messages.append({"role": role, "content": r.choice(texts)})
        out.append((f"random #{k}", messages, {}))
    return out


# ----------------------------------------------------------------------------------- rendering

def transformers_render(tokenizer, template, messages, add_generation_prompt, variables):
    variables = dict(variables)
    tools = variables.pop("tools", None)
    try:
        return {"text": tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=template, add_generation_prompt=add_generation_prompt,
            tokenize=False, **variables)}
    except Exception as e:  # jinja2 TemplateError, raise_exception, TypeError, ...
        return {"error": f"{type(e).__name__}: {e}"}


def dpo_render(dpo, tokenizer_dir, choice, cases, work, tag):
    path = os.path.join(work, f"cases_{tag}.jsonl")
    with open(path, "w", encoding="ascii") as f:
        for messages, agp, variables in cases:
            f.write(json.dumps({"messages": messages, "add_generation_prompt": agp,
                                "variables": variables}, ensure_ascii=True) + "\n")
    cmd = [dpo, "chat", "render", "--tokenizer", tokenizer_dir, "--chat-template", choice,
           "--file", path]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    # bytes split on "\n" only: str.splitlines() would also cut at U+2028, U+0085, \r, ...
    rows = [json.loads(line) for line in proc.stdout.split(b"\n") if line.strip()]
    if len(rows) != len(cases):
        raise RuntimeError(f"{' '.join(cmd)}: {len(rows)} lines for {len(cases)} cases")
    return rows


def dpo_template_source(dpo, tokenizer_dir, choice):
    cmd = [dpo, "chat", "render", "--tokenizer", tokenizer_dir, "--chat-template", choice,
           "--print-template"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode('utf-8', 'replace')[-1000:]}")
    return proc.stdout.decode("utf-8")


def first_diff(a, b):
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return i


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dpo", default=os.environ.get("DPO"),
                   help="dpo binary (default: $DPO, else build-debian/dpo, else build/dpo)")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the dpo binary")
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--random", type=int, default=60, help="random conversations")
    p.add_argument("--show", type=int, default=3, help="mismatches shown per template")
    p.add_argument("--keep", help="keep the JSON-lines files in this folder")
    args = p.parse_args()

    try:
        import jinja2  # noqa: F401  (transformers renders with it)
        import transformers
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        missing_reference(f"transformers ({e})")
    hf_logging.set_verbosity_error()

    candidates = [args.dpo] if args.dpo else [os.path.join(ROOT, "build-debian", "dpo"),
                                               os.path.join(ROOT, "build", "dpo")]
    deadline = time.time() + args.wait
    while True:
        found = [c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)]
        if found or time.time() >= deadline:
            break
        time.sleep(10)
    if not found:
        print(f"chat_template_diff: no dpo binary at {' or '.join(candidates)} (build it, or pass "
              "--dpo)", file=sys.stderr)
        return 1
    dpo = found[0]
    probe = subprocess.run([dpo, "chat", "render", "--help"], capture_output=True)
    if probe.returncode != 0:
        print(f"chat_template_diff: {dpo} has no `chat render` command (it renders chat templates "
              "for this test)", file=sys.stderr)
        return 1

    t0 = time.time()
    fixture_data, fixture_convs = fixture_cases()
    conversations = fixture_convs + handmade_cases() + random_cases(args.seed, args.random)
    cases = [(m, agp, v) for _, m, v in conversations for agp in (False, True)]
    names = [f"{n} (add_generation_prompt={agp})" for n, _, _ in conversations
             for agp in (False, True)]
    work = args.keep or temp_dir("chat_template_diff.")
    os.makedirs(work, exist_ok=True)

    # (label, tokenizer name, dpo's --chat-template, template source for transformers or None for
    # the tokenizer's own)
    jobs = []
    dirs = {name: os.path.join(FIXTURES, rel) for name, rel in TOKENIZERS}
    hf = {name: AutoTokenizer.from_pretrained(d) for name, d in dirs.items()}
    for name in dirs:
        if hf[name].chat_template is not None:
            jobs.append((f"{name}: tokenizer_config.json chat_template", name, "auto", None))
        for builtin in BUILTINS:
            jobs.append((f"{name}: built-in {builtin}", name, builtin,
                         dpo_template_source(dpo, dirs[name], builtin)))
    for label, entry in fixture_data.items():
        path = os.path.join(work, f"template_{label}.jinja")
        with open(path, "w", encoding="utf-8") as f:
            f.write(entry["template"])
        jobs.append((f"{CASE_TOKENIZER[label]}: chat_template_cases.json {label}",
                     CASE_TOKENIZER[label], path, entry["template"]))
    for label, source in PROBES.items():
        path = os.path.join(work, f"template_{label}.jinja")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        for name in ("mistral", "llama3", "qwen3"):
            jobs.append((f"{name}: {label}", name, path, source))

    print(f"chat_template_diff: {len(conversations)} conversations x 2 (add_generation_prompt), "
          f"{len(jobs)} template/tokenizer pairs; transformers {transformers.__version__}; dpo {dpo}")
    failures = 0
    notes = []
    for label, name, choice, source in jobs:
        try:
            got = dpo_render(dpo, dirs[name], choice, cases, work, f"{len(notes)}")
        except RuntimeError as e:
            print(f"{label}: FAILED: {e}")
            failures += 1
            continue
        notes.append(label)
        bad, errors_both = [], 0
        for i, (messages, agp, variables) in enumerate(cases):
            want = transformers_render(hf[name], source, messages, agp, variables)
            have = got[i]
            if "error" in want and "error" in have:
                errors_both += 1
            elif want.get("text") != have.get("text") or ("error" in want) != ("error" in have):
                bad.append((i, want, have))
        print(f"{label}: {len(cases) - len(bad)} / {len(cases)} identical"
              f"{f' ({errors_both} raise in both)' if errors_both else ''}")
        for i, want, have in bad[:args.show]:
            print(f"  MISMATCH {names[i]}: {ascii(cases[i][0])[:300]}"
                  f"{' variables ' + ascii(cases[i][2])[:200] if cases[i][2] else ''}")
            if "text" in want and "text" in have:
                j = first_diff(want["text"], have["text"])
                at = max(0, j - 40)
                print(f"    first difference at character {j}:\n"
                      f"    transformers: {ascii(want['text'][at:j + 60])}\n"
                      f"    dpo:          {ascii(have['text'][at:j + 60])}")
            else:
                print(f"    transformers: {ascii(want)[:300]}\n    dpo:          {ascii(have)[:300]}")
        if bad:
            failures += 1

    # the fixture file itself, as today's transformers renders it (information: the C++ test
    # tests/chat/fixture_cases_test.cpp compares dpo with the stored text)
    stale = 0
    for label, entry in fixture_data.items():
        for c in entry["cases"]:
            want = transformers_render(hf[CASE_TOKENIZER[label]], entry["template"], c["messages"],
                                       c["add_generation_prompt"], {})
            stale += want.get("text") != c["text"]
    if stale:
        print(f"note: {stale} renderings stored in chat_template_cases.json differ from transformers "
              f"{transformers.__version__}")
    print(f"chat_template_diff: {'FAILED' if failures else 'OK'} ({len(jobs)} pairs x {len(cases)} "
          f"renderings, {time.time() - t0:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for path in TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
    sys.exit(code)
