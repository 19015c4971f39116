"""Data never goes into markup: every markup-taking call in the UI code gets string literals only.

`.props("...")` strings are parsed into attributes (`.style` into CSS), `ui.html`/`ui.markdown`
render HTML and `run_javascript` runs code: a stage's tag pattern with a `"` inside a props string
injected an `innerHTML` attribute. Data goes in as values instead (element arguments,
`element.props[key] = value`, bindings). This scan of the source keeps it that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pages", "app")
METHODS = {"props", "style", "run_javascript", "add_head_html", "add_body_html", "add_css"}
UI_FUNCTIONS = METHODS | {"html", "markdown", "mermaid"}


def markup_calls_with_data(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: call(argument)` for each markup call given anything but a string literal."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _markup_call(node.func)
        if name is None:
            continue
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                found.append(f"{filename}:{node.lineno}: {name}({ast.unparse(argument)})")
    return found


def _markup_call(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id == "ui":
            return f"ui.{func.attr}" if func.attr in UI_FUNCTIONS else None
        return f".{func.attr}" if func.attr in METHODS else None
    if isinstance(func, ast.Name) and func.id in UI_FUNCTIONS:
        return func.id
    return None


def test_the_ui_code_passes_no_data_inside_markup() -> None:
    found = [
        problem
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        for problem in markup_calls_with_data(path.read_text(encoding="utf-8"), str(path))
    ]

    assert found == [], (
        "pass data as values (element arguments, element.props[key] = value, bindings), "
        "never inside markup:\n" + "\n".join(found)
    )


def test_the_scan_sees_every_way_of_building_a_string() -> None:
    source = """
field.props(f'hint="{hint}"')
field.props('hint="' + hint + '"')
field.props('hint="%s"' % hint)
field.props('hint="{}"'.format(hint))
field.props(HINT)
ui.html(text)
ui.markdown(f"# {title}")
ui.run_javascript("alert(" + value + ")")
ui.add_head_html(snippet)
element.props(add=classes)
field.props("outlined dense")
ui.html("<br>")
field.props["hint"] = hint
field.props.update(hint=hint)
ui.label(text)
"""
    found = markup_calls_with_data(source)

    assert [line.split(": ", 1)[1] for line in found] == [
        ".props(f'hint=\"{hint}\"')",
        ".props('hint=\"' + hint + '\"')",
        ".props('hint=\"%s\"' % hint)",
        ".props('hint=\"{}\"'.format(hint))",
        ".props(HINT)",
        "ui.html(text)",
        "ui.markdown(f'# {title}')",
        "ui.run_javascript('alert(' + value + ')')",
        "ui.add_head_html(snippet)",
        ".props(classes)",
    ]
