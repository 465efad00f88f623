"""The docstrings of the config models' fields (the string literal under each annotated attribute), read from
their source only when the docs and the settings TypedDicts are generated.

pydantic's ``use_attribute_docstrings`` would read them for every model each time the config module is imported,
which every ``plan`` and ``check`` does (a tenth of the config module's import); nothing at run time reads a
field's description.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap

from pydantic import BaseModel
from pydantic.fields import FieldInfo


@functools.cache
def _class_docs(cls: type) -> dict[str, str]:
    """``{attribute: docstring}`` of the annotated attributes written in ``cls``'s own body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (built-in or generated class)
        return {}
    [node] = ast.parse(source).body
    if not isinstance(node, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for statement, following in zip(node.body, node.body[1:], strict=False):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def field_doc(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """The description of field ``name``: its ``Field(description=...)``, else the docstring under it in the
    nearest class of ``model``'s hierarchy that declares it."""
    if info.description is not None:
        return info.description
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in _class_docs(cls):
            return _class_docs(cls)[name]
    return ""
