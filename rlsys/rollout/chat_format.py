"""ChatML framing (Qwen3 style): the chat template and the token text of incremental messages.

`QWEN3_CHAT_TEMPLATE` reproduces Qwen3's template for plain chats (no tool-call schema): every
message is `<|im_start|>{role}\\n{content}<|im_end|>\\n`, and assistant messages before the last
user message have their `<think>…</think>` block removed — which is why an episode must never
be re-rendered: the earlier turns would change under it.

`continuation_text` is what the episode loop appends after a sampled assistant turn: the closing
`<|im_end|>` (unless the model sampled it), the new user messages, and the next assistant header.
"""

from __future__ import annotations

from typing import Iterable

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
ASSISTANT_HEADER = f"{IM_START}assistant\n"

QWEN3_CHAT_TEMPLATE = """{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- set ns = namespace(last_query_index=messages|length - 1, found=false) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if not ns.found and message.role == 'user' %}
        {%- set ns.found = true %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = message.content if message.content is string else '' %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {%- set reasoning_content = '' %}
        {%- if '</think>' in content %}
            {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index and reasoning_content %}
            {{- '<|im_start|>assistant\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- '<|im_start|>assistant\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""


def message_text(role: str, content: str) -> str:
    """One complete ChatML message."""
    return f"{IM_START}{role}\n{content}{IM_END}\n"


def continuation_parts(user_messages: Iterable[str], im_end_sampled: bool) -> list[tuple[str, bool]]:
    """`continuation_text` as (text, trusted) parts: the ChatML framing trusted, the user
    messages (tool output, page text: untrusted) not — see `plain_text.encode_parts`."""
    parts: list[tuple[str, bool]] = [("\n" if im_end_sampled else f"{IM_END}\n", True)]
    for message in user_messages:
        parts += [(f"{IM_START}user\n", True), (message, False), (f"{IM_END}\n", True)]
    parts.append((ASSISTANT_HEADER, True))
    return parts


def continuation_text(user_messages: Iterable[str], im_end_sampled: bool) -> str:
    """Text appended after a sampled assistant turn, up to and including the next assistant header.

    `im_end_sampled`: the turn ended on a sampled `<|im_end|>` (so only its newline is missing);
    otherwise it ended on a stop string or the length limit and the turn still needs closing.
    """
    return "".join(text for text, _ in continuation_parts(user_messages, im_end_sampled))
