"""``paygate new-plugin NAME``: scaffold a provider plugin distribution.

The result installs as is (``pip install -e .``), is listed by ``paygate
plugins``, and its conformance test runs and fails, listing under
"paygate: left to implement" each hook that is still a stub.

Only what the plugin claims is generated: the default capabilities
(authorize, capture, void, refund, partial refund) and each ``--capability``
added, with the hooks they need plus ``paygate_fetch_transaction`` (how
``reconcile`` settles a lost answer). With no option that is five stubs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from string import Template

import click

from paygate.models import CAPABILITY_HOOKS, Capabilities

TEMPLATES = Path(__file__).with_name("templates") / "plugin"
HOOK_TEMPLATES = Path(__file__).with_name("templates") / "hooks"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,38}[a-z0-9]$|^[a-z]$")
SUFFIX = ".tmpl"

#: Capabilities every scaffold claims (``Capabilities()``'s defaults).
DEFAULT_CAPABILITIES = tuple(Capabilities().names())
#: Capabilities that need another one claimed too.
IMPLIED: dict[str, tuple[str, ...]] = {
    "multiple_captures": ("partial_capture",),
    "multiple_refunds": ("partial_refund",),
    "recurring": ("store_payment_method",),
}
#: Hook order in the generated file, and the request class each one takes.
HOOK_REQUESTS: dict[str, str] = {
    "paygate_authorize": "PaymentRequest",
    "paygate_capture": "CaptureRequest",
    "paygate_void": "VoidRequest",
    "paygate_refund": "RefundRequest",
    "paygate_fetch_transaction": "FetchRequest",
    "paygate_confirm": "ConfirmRequest",
    "paygate_store_payment_method": "StoreRequest",
    "paygate_charge_recurring": "PaymentRequest",
    "paygate_parse_webhook": "WebhookRequest",
}


def claimed(extra: Iterable[str] = ()) -> list[str]:
    """The capabilities a scaffold claims: the defaults, ``extra`` and what they imply."""
    wanted = [*DEFAULT_CAPABILITIES]
    for cap in extra:
        if cap not in CAPABILITY_HOOKS:
            raise click.BadParameter(
                f"unknown capability {cap!r}; one of {', '.join(CAPABILITY_HOOKS)}",
                param_hint="--capability",
            )
        for needed in (*IMPLIED.get(cap, ()), cap):
            if needed not in wanted:
                wanted.append(needed)
    return [cap for cap in CAPABILITY_HOOKS if cap in wanted]


def hooks_for(capabilities: Iterable[str]) -> list[str]:
    """The operation hooks to generate for ``capabilities``, in file order."""
    needed = {hook for cap in capabilities for hook in CAPABILITY_HOOKS[cap]}
    needed.add("paygate_fetch_transaction")
    return [hook for hook in HOOK_REQUESTS if hook in needed]


def _code(capabilities: list[str], hooks: list[str]) -> dict[str, str]:
    models = ["Capabilities", "ProviderInfo"]
    if "paygate_parse_webhook" in hooks:
        models.append("WebhookEvent")
    requests = sorted({HOOK_REQUESTS[h] for h in hooks} | {"ProviderResult"})
    imports = (
        f"from paygate.models import {', '.join(models)}\n"
        "from paygate.operations import (\n"
        + "".join(f"    {name},\n" for name in requests)
        + ")\n"
    )
    caps = "".join(f"                {cap}=True,\n" for cap in capabilities)
    # A recurring charge is made on a stored method: claiming it needs "stored".
    methods = '{"card", "stored"}' if "recurring" in capabilities else '{"card"}'
    return {"imports": imports, "capabilities": caps, "payment_methods": methods}


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


def render_plugin(name: str, directory: Path, capabilities: Iterable[str] = ()) -> list[Path]:
    """Write the plugin distribution for ``name`` into ``directory``.

    :param capabilities: capabilities claimed besides the defaults (with
        their hooks generated as stubs).
    :returns: the files written, relative to ``directory``.
    :raises click.BadParameter: bad name or capability, or ``directory`` is
        not empty.
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
    caps = claimed(capabilities)
    hooks = hooks_for(caps)
    values = {**names, **_code(caps, hooks)}
    values["hooks"] = "\n".join(
        Template((HOOK_TEMPLATES / f"{hook}.py.tmpl").read_text()).substitute(names)
        for hook in hooks
    )
    values["webhook_helper"] = (
        Template(WEBHOOK_TEST).substitute(names) if "webhooks" in caps else ""
    )
    values["webhook_imports"] = "from datetime import datetime\n" if "webhooks" in caps else ""
    values["webhook_model"] = ", Transaction" if "webhooks" in caps else ""
    values["webhook_run"] = "ConformanceRun, " if "webhooks" in caps else ""
    written: list[Path] = []
    for template in sorted(TEMPLATES.rglob(f"*{SUFFIX}")):
        relative = template.relative_to(TEMPLATES).as_posix()[: -len(SUFFIX)]
        relative = relative.replace("__package__", names["package"]).replace(
            "__ident__", names["ident"]
        )
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template.read_text()).substitute(values))
        written.append(Path(relative))
    return written


WEBHOOK_TEST = """
    def make_webhook(
        self,
        run: ConformanceRun,
        transaction: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes] | None:
        # A delivery as $display would send it: your event name for
        # event_type, transaction.id in its metadata, signed as of signed_at.
        return None
"""


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--capability",
    "-c",
    "capabilities",
    multiple=True,
    type=click.Choice(sorted(CAPABILITY_HOOKS)),
    help="Claim a capability besides the defaults (repeatable); its hooks are generated.",
)
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create it (default: ./paygate-NAME).",
)
def new_plugin_command(name: str, directory: Path | None, capabilities: tuple[str, ...]) -> None:
    """Scaffold a provider plugin NAME: pyproject with the entry point, a
    package with a documented stub per hook it claims, and the conformance test."""
    target = directory if directory is not None else Path.cwd() / f"paygate-{name}"
    files = render_plugin(name, target, capabilities)
    caps = claimed(capabilities)
    hooks = hooks_for(caps)
    click.echo(f"created {target} ({len(files)} files):")
    for path in files:
        click.echo(f"  {path}")
    click.echo(f"claims: {', '.join(caps)}")
    click.echo(f"{len(hooks)} hook stub(s) to implement: {', '.join(hooks)}")
    click.echo(
        "\nnext:\n"
        f"  cd {target}\n"
        "  pip install -e '.[test]'\n"
        "  paygate plugins        # lists the new provider\n"
        "  pytest                 # conformance suite: lists what is left to implement"
    )


__all__ = [
    "CAPABILITY_HOOKS",
    "claimed",
    "hooks_for",
    "new_plugin_command",
    "plugin_names",
    "render_plugin",
]
