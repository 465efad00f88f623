"""A graph for the split-mode test: one node that sleeps (``asyncio.sleep``, so cancelling the run interrupts it).

Input ``{"sleeps": [first, then]}``: attempt 1 sleeps ``first`` seconds, every retry sleeps ``then``, so a run
whose first attempt is interrupted finishes quickly once it is retried. The output says which attempt (the
server's ``run_attempt`` metadata) and which process (pid) finished the run. With ``"hold_on_cancel": seconds``
the node ignores its first cancellation and keeps sleeping that long (a second cancellation ends it): a run that
does not stop when the queue shuts down.
"""

from __future__ import annotations

import asyncio
import os
from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    sleeps: list[float]
    attempt: int
    pid: int
    slept: float
    hold_on_cancel: float


async def slow(state: State, config: RunnableConfig) -> State:
    attempt = int((config.get("metadata") or {}).get("run_attempt", 1))
    sleeps = state.get("sleeps") or [0.0]
    seconds = float(sleeps[min(attempt, len(sleeps)) - 1])
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        hold = float(state.get("hold_on_cancel") or 0)
        if hold:
            await asyncio.sleep(hold)
        raise
    return {"attempt": attempt, "pid": os.getpid(), "slept": seconds}


builder = StateGraph(State)
builder.add_node("slow", slow)
builder.add_edge(START, "slow")
builder.add_edge("slow", END)
graph = builder.compile()
