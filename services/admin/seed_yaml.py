"""Reading seed YAML safely: bounded depth and size, duplicate keys reported, nothing executed.

Whoever writes the file (an admin's upload, a seed file from an image or a colleague) must not
be able to crash or stall the process with it, so every resource the parser spends is bounded:
- depth: PyYAML's composer recurses once per nesting level, so `[` × 5000 would end in a
  RecursionError (a 500 in the API). Nesting is counted while composing and refused past
  `MAX_YAML_DEPTH`, before the stack is at risk; a real seed nests about eight levels;
- size: the callers cap the text; here the number of composed nodes is capped too (a list of
  100 000 tiny items costs far more memory than its text), and the walk for duplicate keys has
  its own budget, which also stops alias bombs ("billion laughs") that expand on the walk;
- only plain YAML types (SafeLoader): tags such as `!!python/object` are parse errors.
Every refusal is a ValidationFailed with an empty field path and the line, so the API answers
422 and first launch a clear message.
"""

from __future__ import annotations

import yaml

from services.admin.seed_checks import join
from services.errors import FieldError, ValidationFailed

MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000  # composed nodes, and again nodes walked after alias expansion


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts nesting and nodes while composing and refuses past the limits."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._nodes += 1
        if self._depth >= MAX_YAML_DEPTH:
            raise _refusal(f"the YAML is nested deeper than {MAX_YAML_DEPTH} levels", self)
        if self._nodes > MAX_YAML_NODES:
            raise _refusal(f"the YAML has more than {MAX_YAML_NODES} values", self)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> tuple[object, list[FieldError]]:
    """The document's plain value (None when empty) and its duplicate keys as field errors.

    Raises ValidationFailed for text that is not YAML, nests too deeply or is too large.
    """
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader already rejects control characters here
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates = _duplicate_keys(node)
        return loader.construct_document(node), duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValidationFailed.single("", f"not valid YAML: {exc.problem}{where}") from None
    except yaml.YAMLError as exc:
        raise ValidationFailed.single("", f"not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _refusal(message: str, loader: _BoundedLoader) -> ValidationFailed:
    mark = loader.peek_event().start_mark  # type: ignore[no-untyped-call]
    return ValidationFailed.single(
        "", f"{message} (line {mark.line + 1}, column {mark.column + 1})"
    )


def _duplicate_keys(root: yaml.Node) -> list[FieldError]:
    """Walk the node tree (aliases expanded, with a budget) and report keys given twice."""
    found: list[FieldError] = []
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    for _ in range(MAX_YAML_NODES):
        if not stack:
            return found
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, join(path, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key == "<<":  # a merge key: its keys may be overridden on purpose
                    stack.append((value_node, path))
                    continue
                if key in seen:
                    found.append(FieldError(join(path, key), "duplicate key"))
                seen.add(key)
                stack.append((value_node, join(path, key)))
    raise ValidationFailed.single("", "the seed is too large (too many values or aliases)")
