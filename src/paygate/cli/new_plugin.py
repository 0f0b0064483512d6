"""``paygate new-plugin NAME``: scaffold a provider plugin distribution.

The result installs as is (``pip install -e .``), is listed by ``paygate
plugins``, and its conformance test runs and fails, listing under
"paygate: left to implement" each hook that is still a stub.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import click

TEMPLATES = Path(__file__).with_name("templates") / "plugin"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,38}[a-z0-9]$|^[a-z]$")
SUFFIX = ".tmpl"


def plugin_names(name: str) -> dict[str, str]:
    """Every spelling of ``name`` the templates use."""
    ident = name.replace("-", "_")
    words = [w for w in re.split(r"[-_]", name) if w]
    return {
        "name": name,
        "ident": ident,
        "package": f"paygate_{ident}",
        "dist": f"paygate-{name}",
        "camel": "".join(w.capitalize() for w in words),
        "cls": "".join(w.capitalize() for w in words) + "Provider",
        "display": " ".join(w.capitalize() for w in words),
        "env": ident.upper(),
    }


def render_plugin(name: str, directory: Path) -> list[Path]:
    """Write the plugin distribution for ``name`` into ``directory``.

    :returns: the files written, relative to ``directory``.
    :raises click.BadParameter: bad name, or ``directory`` is not empty.
    """
    if not NAME_RE.match(name) or "__" in name or "--" in name:
        raise click.BadParameter(
            "use lower-case letters, digits, '-' or '_', starting with a letter "
            '(it becomes the provider name: provider="<name>")',
            param_hint="NAME",
        )
    if directory.exists() and any(directory.iterdir()):
        raise click.BadParameter(f"{directory} exists and is not empty", param_hint="--directory")
    names = plugin_names(name)
    written: list[Path] = []
    for template in sorted(TEMPLATES.rglob(f"*{SUFFIX}")):
        relative = template.relative_to(TEMPLATES).as_posix()[: -len(SUFFIX)]
        relative = relative.replace("__package__", names["package"]).replace(
            "__ident__", names["ident"]
        )
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template.read_text()).substitute(names))
        written.append(Path(relative))
    return written


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create it (default: ./paygate-NAME).",
)
def new_plugin_command(name: str, directory: Path | None) -> None:
    """Scaffold a provider plugin NAME: pyproject with the entry point, a
    package with a documented stub per hook, and the conformance test."""
    target = directory if directory is not None else Path.cwd() / f"paygate-{name}"
    files = render_plugin(name, target)
    click.echo(f"created {target} ({len(files)} files):")
    for path in files:
        click.echo(f"  {path}")
    click.echo(
        "\nnext:\n"
        f"  cd {target}\n"
        "  pip install -e '.[test]'\n"
        "  paygate plugins        # lists the new provider\n"
        "  pytest                 # conformance suite: lists what is left to implement"
    )


__all__ = ["new_plugin_command", "plugin_names", "render_plugin"]
