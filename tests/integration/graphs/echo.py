"""A trivial graph for the Agent Server test: no LLM, no network, one node that echoes its input."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    message: str


def echo(state: State) -> State:
    return {"message": f"echo: {state['message']}"}


builder = StateGraph(State)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
builder.add_edge("echo", END)
graph = builder.compile()
