"""Token counting works with the network cut off, including counts LangChain makes on its own."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from agent.llm import ChatMessage, OpenAIChatModel
from agent.llm.openai_chat import OfflineTokenChatOpenAI
from agent.llm.tokens import count_message_tokens, count_tokens, truncate_to_tokens


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Refuse every outbound connection and hide any tiktoken download cache."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network is cut off in this test (tried {address[0]})")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def test_counts_are_cl100k_counts() -> None:
    # cl100k facts: "hello world" is 2 tokens; special-token text in user input is counted as plain text.
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1


def test_message_count_includes_chat_overhead() -> None:
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hello world")]
    content_only = count_tokens("Be brief.") + count_tokens("hello world")
    assert count_message_tokens(messages) > content_only
    assert count_message_tokens(messages[:1]) < count_message_tokens(messages)


def test_truncate_to_tokens() -> None:
    text = "one two three four five six seven"
    cut = truncate_to_tokens(text, 3)
    assert count_tokens(cut) == 3 and text.startswith(cut)
    assert truncate_to_tokens(text, 100) == text
    assert truncate_to_tokens(text, 0) == ""


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama-3.1-8b-instruct", "qwen2.5:7b"])
def test_langchain_token_counting_stays_offline(model: str) -> None:
    # Plain ChatOpenAI would call tiktoken's cl100k_base/o200k_base here, which downloads its BPE file.
    llm = OfflineTokenChatOpenAI(model=model, base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    assert llm.get_num_tokens("hello world") == 2
    counted = llm.get_num_tokens_from_messages([SystemMessage("Be brief."), HumanMessage("hello world")])
    ours = count_message_tokens(
        [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hello world")]
    )
    assert counted == ours


def test_the_model_wrapper_uses_the_offline_counter() -> None:
    model = OpenAIChatModel(model="local-model", base_url="http://127.0.0.1:9/v1")
    assert model.chat_openai.get_num_tokens("hello world") == 2
