"""Reading and writing App Mesh resources in the files users hold: meshplane's JSON export, saved
``aws appmesh describe-*`` output, Terraform state v4, CloudFormation templates, k8s manifests.

Public API:

* :func:`read(text, source, names) -> list[Resource]`: detect the format from the content and
  convert (``names``: ``--set LogicalId=name`` values for CloudFormation's generated names);
* :mod:`meshplane.formats.importer`: validate with the API's schemas and write in one transaction;
* :mod:`meshplane.formats.exporter`: read the store and render a format.

One module per format (json_format, tfstate, cloudformation, k8s, hcl); model.py holds the common
in-memory model, a list of :class:`~meshplane.formats.model.Resource`.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshplane.formats.model import FormatError, Resource

__all__ = ["FormatError", "Resource", "detect", "read"]


def detect(text: str) -> tuple[str, object]:
    """The format of ``text`` and its decoded content: (``json``|``tfstate``|``cloudformation``|``k8s``, docs).

    :raises FormatError: neither JSON nor YAML of a known shape.
    """
    from meshplane.formats import json_format, tfstate

    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            docs = json_format.decode_documents(text)
        except RecursionError:
            raise FormatError("JSON nested too deeply") from None
        except ValueError:
            docs = None
        if docs is not None:
            if len(docs) == 1 and tfstate.is_state(docs[0]):
                return "tfstate", docs[0]
            if len(docs) == 1 and _is_cloudformation(docs[0]):
                return "cloudformation", docs[0]
            if docs and all(_is_k8s(d) for d in docs):
                return "k8s", docs
            return "json", docs
    from meshplane.formats import yaml_docs

    try:
        ydocs = [d for d in yaml_docs.load_all(text) if d is not None]
    except ValueError as exc:
        raise FormatError(f"neither JSON nor YAML: {exc}") from None
    if len(ydocs) == 1 and _is_cloudformation(ydocs[0]):
        return "cloudformation", ydocs[0]
    if ydocs and all(_is_k8s(d) for d in ydocs):
        return "k8s", ydocs
    raise FormatError("not a Terraform state, meshplane export, describe output, CloudFormation template "
                      "or appmesh.k8s.aws manifest")


def _is_cloudformation(doc: object) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("Resources"), dict)


def _is_k8s(doc: object) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def read(text: str, source: str, names: Mapping[str, str] | None = None) -> tuple[str, list[Resource]]:
    """Detect the format of ``text`` (from file ``source``) and return it with its resources.

    :param names: CloudFormation logical id -> physical name (``--set``), for generated names.
    :raises FormatError: naming ``source``, the resource and the problem.
    """
    try:
        fmt, content = detect(text)
    except FormatError as exc:
        raise FormatError(f"{source}: {exc}") from None
    try:
        return fmt, _parse(fmt, content, source, names)
    except FormatError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        # A shape the reader did not expect (a list where an object belongs ...): a bad file, never a crash.
        raise FormatError(f"{source}: not a valid {fmt} file: unexpected {type(exc).__name__} ({exc})") from None


def _parse(fmt: str, content: object, source: str, names: Mapping[str, str] | None) -> list[Resource]:
    if fmt == "tfstate":
        from meshplane.formats import tfstate

        return tfstate.parse(content, source)  # type: ignore[arg-type]
    if fmt == "cloudformation":
        from meshplane.formats import cloudformation

        return cloudformation.parse(content, source, names or {})  # type: ignore[arg-type]
    if fmt == "k8s":
        from meshplane.formats import k8s

        return k8s.parse(content, source)  # type: ignore[arg-type]
    from meshplane.formats import json_format

    return json_format.parse(content, source)  # type: ignore[arg-type]
