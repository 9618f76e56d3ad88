"""Diagnostics the provider returns, and mapping server errors back onto HCL attribute paths.

A server 400 names the offending member in wire terms, either as
``spec.listeners[0].portMapping.port`` or AWS-style ``spec.listeners.1.member.portMapping.port``;
``wire_path_to_steps`` turns that into ``spec[0].listener[0].port_mapping[0].port``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tf.gen import tfplugin_pb2 as pb

from meshplane.terraform.client import ApiError
from meshplane.terraform.schema import Block
from meshplane.terraform.validation import PathStep, Problem, render

_WIRE_PATH = re.compile(r"\bspec(?:\.[A-Za-z_][A-Za-z0-9_]*|\.\d+|\[\d+\])*")
_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*|\d+)|\[(\d+)\]")


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    detail: str = ""
    steps: tuple[PathStep, ...] = ()
    error: bool = True

    def to_pb(self) -> pb.Diagnostic:
        severity = pb.Diagnostic.ERROR if self.error else pb.Diagnostic.WARNING
        diag = pb.Diagnostic(severity=severity, summary=self.summary, detail=self.detail)
        if self.steps:
            diag.attribute.CopyFrom(attribute_path(self.steps))
        return diag


def attribute_path(steps: tuple[PathStep, ...]) -> pb.AttributePath:
    return pb.AttributePath(steps=[
        pb.AttributePath.Step(element_key_int=s) if isinstance(s, int) else pb.AttributePath.Step(attribute_name=s)
        for s in steps
    ])


def from_problem(problem: Problem) -> Diagnostic:
    return Diagnostic(problem.summary, problem.detail, problem.steps)


def wire_path_to_steps(root: Block, wire_path: str) -> tuple[tuple[PathStep, ...], str] | None:
    """(Terraform steps, display text) for a wire path below the resource root, or None."""
    tokens: list[str | int] = ["spec"]
    rest = wire_path[len("spec"):]
    for match in _TOKEN.finditer(rest):
        name, index = match.group(1), match.group(2)
        if index is not None:
            tokens.append(int(index))
        elif name.isdigit():
            tokens.append(int(name) - 1)  # AWS style: 1-based, followed by "member"
        elif name != "member":
            tokens.append(name)
    steps: list[PathStep] = []
    text: list[PathStep] = []
    block = root
    cut = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not isinstance(token, str):
            return None
        sub = next((b for b in block.blocks if b.wire == token), None)
        if sub is not None:
            block = sub
            index = 0
            if not sub.single:
                if i + 1 < len(tokens) and isinstance(tokens[i + 1], int):
                    index = int(tokens[i + 1])
                    i += 1
            if not cut:
                steps.append(sub.name)
            text.append(sub.name)
            if sub.is_set:
                cut = True  # Terraform cannot address one element of a set by index
                text.append("*")
            else:
                if not cut:
                    steps.append(index)
                text.append(index)
            i += 1
            continue
        attr = next((a for a in block.attributes if a.wire == token), None)
        if attr is None:
            return None
        if not cut:
            steps.append(attr.name)
        text.append(attr.name)
        break
    return tuple(steps), render(tuple(text))


def from_api_error(action: str, err: ApiError, root: Block | None = None) -> list[Diagnostic]:
    """Diagnostics for a failed call: one per attribute a 400's message names, else one for the call.

    The server joins several problems with ``; `` (schemas/messages.py); each becomes its own
    diagnostic on its HCL path, carrying the server's sentence as detail. An authentication or
    authorization refusal (403) keeps AWS's code in the summary and adds what to check to the detail.
    """
    summary = f"{action}: {err.code or 'error'}" if err.status else action
    found: list[Diagnostic] = []
    if root is not None and err.status == 400:
        for clause in err.message.split("; "):
            match = _WIRE_PATH.search(clause)
            mapped = wire_path_to_steps(root, match.group(0)) if match else None
            if match and mapped:
                steps, text = mapped
                found.append(Diagnostic(f"Invalid value for {text}", f"{action}: {clause}", steps))
    return found or [Diagnostic(summary, err.detail)]
