#!/usr/bin/env python3
"""Writes tests/chat/jinja_cases.json: Jinja templates rendered by jinja2 exactly as transformers
configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson,
raise_exception, strftime_now). Each case: template, variables, and either `text` or `error`.
Run: python3 tests/chat/make_jinja_cases.py   (jinja2 3.1.x)."""
import json
import os
from datetime import datetime

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "  Hi there!  "},
    {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Dublin", "days": 3}}}]},
    {"role": "tool", "content": "{\"temp\": 12.5}"},
    {"role": "user", "content": "Thanks — ça va? 日本語 🙂"},
]
VARS = {
    "xs": [3, 1, 2],
    "words": ["b", "A", "c", "a"],
    "d": {"b": 1, "a": 2, "c": None},
    "s": "  Hello World  ",
    "n": None,
    "f": 1.5,
    "i": 7,
    "t": True,
    "empty": [],
    "nested": {"k": [1, {"x": "y"}], "u": "é\"\n\t\u2028"},
    "tools": [{"type": "function", "function": {"name": "f", "description": "Does ü things", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "number"}}, "required": ["a"]}}}],
}

TEMPLATES = r"""
{{ 'a' }}
{{ "it's" }} {{ 'say "x"' }}
{{ 1 + 2 }} {{ 7 - 10 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}
{{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.0 }} {{ -0.0 }} {{ 3.14159 }} {{ 1_000 }} {{ 0x1F }}
{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ (1, 2) }} {{ (1,) }} {{ () }}
{{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true ~ 1.0 }}
{{ true }} {{ false }} {{ none }} {{ True }} {{ None }} {{ [1, 'a', none, true, 1.5] }} {{ {'a': 1, 'b': [1, 2]} }}
{{ xs }} {{ d }} {{ nested }} {{ s }} {{ n }} {{ f }} {{ i }} {{ t }}
{{ "it's" ~ ["it's", 'say "x"', "a\\b", "\n"] }}
{{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2 }} {{ 1 <= 0 }}
{{ 'a' in 'cat' }} {{ 2 in xs }} {{ 'a' in d }} {{ 'z' not in d }} {{ not 1 in xs }} {{ 'x' in undefined_thing }}
{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ '' or [] }} {{ not '' }} {{ not xs }} {{ none or false }}
{{ 'yes' if t else 'no' }} {{ 'yes' if n else 'no' }} [{{ 'x' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}
{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[5:] }} {{ xs[-10:10] }} {{ 'hello'[1:3] }} {{ 'héllo'[::-1] }} {{ 'abc'[-1] }}
{{ d.a }} {{ d['b'] }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }}
[{{ d.zz }}] [{{ xs[10] }}] [{{ messages[0].nothing }}] {{ messages[0].role }} {{ messages[1]['content'] }}
{{ messages[2].tool_calls[0].function.arguments | tojson }} {{ messages[2].tool_calls[0].function.name }}
{{ tools | tojson }}
{{ tools[0] | tojson(indent=2) }}
{{ tools[0].function | tojson(indent=4, sort_keys=true) }}
{{ nested | tojson }} {{ nested | tojson(ensure_ascii=true) }} {{ [1.0, 2.5, 1e20, none, true] | tojson }} {{ {} | tojson }} {{ [] | tojson(indent=2) }}
{{ d | tojson(separators=(',', ':')) }} {{ 'x' | tojson }} {{ {1: 'a', none: 'b'} | tojson }}
{{ s | trim }}|{{ s | length }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello wORLD-foo(bar)' | title }}|{{ 'hELLO world' | capitalize }}
{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\n\nhi\n'.lstrip('\n') }}|{{ 'hi!!'.rstrip('!') }}
{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }}
{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a</think>b</think>c'.split('</think>')[-1] }}
{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ "they're bill's friends".title() }} {{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.replace('', '-') }}
{{ 'a-b'.replace('-', '_') }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.count('b') }} {{ ', '.join(['x', 'y']) }} {{ '{} and {}'.format(1, 'two') }} {{ '{0}{name}'.format('a', name='b') }}
{{ 'ÀÉÎõü straße'.upper() }} {{ 'ÀÉÎ'.lower() }} {{ 'éa'.title() }} {{ 'a\nb\r\nc'.splitlines() }}
{{ xs | length }} {{ xs | count }} {{ xs | first }} {{ xs | last }} {{ xs | join(', ') }} {{ xs | join }} {{ xs | sort }} {{ xs | sort(reverse=true) }} {{ words | sort }} {{ words | sort(case_sensitive=true) }}
{{ xs | list }} {{ 'ab' | list }} {{ d | list }} {{ xs | sum }} {{ xs | min }} {{ xs | max }} {{ xs | reverse | list }} {{ [1, 2, 1, 3] | unique | list }}
{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(by='key', reverse=true) }} {{ {'b': 'x', 'A': 'y', 'a': 'z'} | dictsort }}
{{ 3.7 | int }} {{ '42' | int }} {{ 'x' | int }} {{ 'x' | int(5) }} {{ '3.9' | int }} {{ 3 | float }} {{ '2.5' | float }} {{ 'x' | float }} {{ true | int }}
{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 7 | round }} {{ 2.1 | round(method='ceil') }} {{ 2.9 | round(0, 'floor') }}
{{ 1 | string }} {{ none | string }} {{ xs | string }} {{ '<a href="x">' | e }} {{ '<b>' | safe }} {{ undefined_thing | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ n | d('z') }} {{ none | default('q') }}
{{ "line1\nline2\n\nline4" | indent }}|{{ "a\nb" | indent(2, true) }}|{{ "a\n\nb" | indent(width='> ', blank=true) }}
{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'in', ['user', 'system']) | map(attribute='role') | join(',') }}
{{ messages | map(attribute='role') | list }} {{ messages | selectattr('tool_calls', 'defined') | list | length }} {{ xs | select('odd') | list }} {{ xs | reject('odd') | list }} {{ ['a', 'B'] | map('upper') | list }}
{{ messages | map(attribute='missing', default='?') | join }} {{ xs | map('string') | join('-') }} {{ [[1, 2], [3]] | map('length') | list }}
{{ n is none }} {{ n is not none }} {{ x is defined }} {{ x is undefined }} {{ xs is iterable }} {{ 1 is iterable }} {{ 'a' is string }} {{ 1 is string }} {{ d is mapping }} {{ xs is mapping }}
{{ 1 is number }} {{ 1.5 is number }} {{ 'x' is number }} {{ true is number }} {{ xs is sequence }} {{ 'x' is sequence }} {{ 1 is sequence }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }}
{{ 1 is integer }} {{ 1.0 is float }} {{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 2 is eq 2 }} {{ 2 is eq(3) }} {{ 2 is in xs }} {{ 'a' is in 'abc' }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ n is sameas none }} {{ 3 is gt 2 }} {{ 3 is le 2 }} {{ 2 is ne 2 }}
{% if t %}T{% elif n %}N{% else %}E{% endif %}{% if n %}1{% elif i > 5 %}2{% endif %}{% if not t %}x{% else %}y{% endif %}
{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}
{% for x in xs %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }}]{% endfor %}
{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}/{{ loop.length }}{% endfor %}|{% for x in empty %}{{ x }}{% else %}none{% endfor %}|{% for x in xs if x > 5 %}{{ x }}{% else %}filtered all{% endfor %}
{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %} {% for k in d %}{{ k }}{% endfor %} {% for c in 'héj' %}{{ c }}.{% endfor %} {% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}
{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in [1,2,3,4] %}{% if x is even %}{% continue %}{% endif %}{{ x }}{% endfor %}
{% for x in xs %}{% for y in xs %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}
{% set x = 1 %}{% for i in xs %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}
{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{% set l = [1, 2] %}{{ l }}
{% set ns = namespace(count=0, found=false) %}{% for x in xs %}{% set ns.count = ns.count + x %}{% if x == 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}
{% set ns = namespace(items=[]) %}{% for x in xs %}{% set ns.items = ns.items + [x * 2] %}{% endfor %}{{ ns.items }}
{% set ns = namespace() %}{% set ns.a = 'A' %}{{ ns.a }}{{ ns.b }}|{% set ns2 = namespace({'k': 1}, j=2) %}{{ ns2.k }}{{ ns2.j }}
{% set block %}inside {{ i }}{% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}
{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(greeting='Yo', name='Cy') }}
{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ i }}{% endcall %}
{% macro listing(items) %}{% for it in items %}{{ caller(it) }}{% endfor %}{% endmacro %}{% call(item) listing(xs) %}<{{ item }}>{% endcall %}
{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}
{% filter upper %}hello {{ i }}{% endfilter %} {% with a = 5, b = 6 %}{{ a * b }}{% endwith %}{{ a }}
{% raw %}{{ not evaluated }}{% endraw %} {# a comment #}after
{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ dict(a=1, b=2) }} {% set j = joiner('; ') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %}
{{ messages | length }} {{ messages[-1].content | length }} {{ messages[-1].content[:8] }} {{ messages[-1].content | upper }}
{%- for m in messages -%}
  <{{ m.role }}>
{%- endfor %}
{% for m in messages %}
    {{ m.role }}
{% endfor %}
  {% if true %}
  indented
  {% endif %}
    end
{% for m in messages %}
  {%+ if true %}keep{% endif %}
{% endfor %}
a   {%- if true -%}   b   {%- endif %}   c
{{ 'x' -}}
   y   {{- 'z' }}
line1 {# comment #}
line2
   {# lone comment #}
line3
{% if true %}
x   
{% endif +%}
y
  {{ 'v' }}
  {% raw %}  raw {{ x }}
  {% endraw %}
done
{%- set x = 1 -%}
{{ x }}
text with trailing newline

{{- " a" }}{{ '\u00e9\x41\t|' }}{{ "\\" }}{{ 'tab\there' }}
{{ xs.index(2) }} {{ xs.count(3) }} {{ (1, 2).index(2) }}
"""

ERRORS = r"""
{{ raise_exception('Conversation roles must alternate') }}
{% if %}
{% for x in %}{% endfor %}
{% if true %}unclosed
{{ 1 + }}
{{ undefined_thing.attr }}
{{ undefined_thing + 1 }}
{{ messages[0].nothing.deeper }}
{{ xs.append(4) }}
{{ d.update({'a': 1}) }}
{{ 1 / 0 }}
{{ 'a' + 1 }}
{{ 'a' < 1 }}
{{ xs | nofilter }}
{{ x is notatest }}
{% unknowntag %}
{{ range(1000000) | list }}
{{ n | tojson }}{{ undefined_thing | tojson }}
{# unterminated comment
{{ 'unterminated }}
{{ (1, 2] }}
{% set x.y = 1 %}
{% endfor %}
{{ 1 }
{{ xs[::0] }}
{% for a, b in [1, 2] %}{% endfor %}
{{ none() }}
{{ 1 < none }}
{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}
"""


def render(template, variables, messages=None, add_generation_prompt=True):
    return env.from_string(template).render(
        messages=MESSAGES if messages is None else messages, tools=variables.get("tools"), documents=None,
        add_generation_prompt=add_generation_prompt, bos_token="<s>", eos_token="</s>",
        **{k: v for k, v in variables.items() if k != "tools"})


# Conversations for the real templates of the fixtures (Qwen3 with tools and reasoning, Llama-3,
# Llama-2, TinyLlama): each rendered with and without the generation prompt and the tools.
CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Sys ü"}, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
     {"role": "user", "content": "Q2"}],
    [{"role": "user", "content": "What is the weather?"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}},
         {"type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}}]},
     {"role": "tool", "content": "{\"temp\": 21.5}"}, {"role": "tool", "content": "12:00"},
     {"role": "assistant", "content": "<think>\nIt is warm.\n</think>\n\nIt is 21.5 °C at noon."},
     {"role": "user", "content": "<tool_response>x</tool_response>"}],
    [{"role": "user", "content": "Think"}, {"role": "assistant", "content": "Done", "reasoning_content": "step 1\nstep 2"},
     {"role": "user", "content": "Again 🙂"}, {"role": "assistant", "content": "\n\nAnswer with\nlines\n"}],
    [{"role": "assistant", "content": "I start"}, {"role": "user", "content": "odd order"}],
]
CONVERSATION_VARIABLES = [
    {},
    {"tools": VARS["tools"]},
    {"enable_thinking": False},
]


def conversation_cases():
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "chat_template_cases.json")
    with open(fixtures, encoding="utf-8") as f:
        templates = {label: entry["template"] for label, entry in json.load(f).items()}
    out = []
    for label, template in templates.items():
        for messages in CONVERSATIONS:
            for variables in CONVERSATION_VARIABLES:
                for add_generation_prompt in (False, True):
                    # "label": the template of that label in tests/fixtures/chat_template_cases.json
                    case = {"label": label, "variables": variables, "messages": messages,
                            "add_generation_prompt": add_generation_prompt}
                    try:
                        case["text"] = render(template, variables, messages, add_generation_prompt)
                    except Exception as e:
                        case["error"] = f"{type(e).__name__}: {e}"
                    out.append(case)
    return out


def cases():
    out = []
    # Each non-empty line is one template; the whitespace-control block (from "{%- for m in messages -%}"
    # to the xs.index line) is also kept whole, since it tests lines and newlines together.
    text = TEMPLATES.strip("\n")
    ws_start = text.index("{%- for m in messages -%}")
    ws_end = text.index("{{ xs.index(2) }}")
    singles = text[:ws_start].splitlines() + text[ws_end:].splitlines()
    templates = [t for t in singles if t.strip()] + [text[ws_start:ws_end]]
    for template in templates:
        out.append({"template": template, "text": render(template, VARS)})
    for template in [t for t in ERRORS.strip("\n").splitlines() if t.strip()]:
        try:
            result = render(template, VARS)
        except Exception as e:  # the error class and message, for reference
            out.append({"template": template, "error": f"{type(e).__name__}: {e}"})
            continue
        raise SystemExit(f"expected an error from {template!r}, got {result!r}")
    return out + conversation_cases()


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        # One case per line; cases without messages/variables/add_generation_prompt use the defaults.
        head = {"jinja2": jinja2.__version__, "messages": MESSAGES, "variables": VARS}
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases()))
        f.write("\n]}\n")
    print(f"wrote {path}")
