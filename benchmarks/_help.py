"""``--help`` that shows every option's default.

:class:`DefaultsHelpFormatter` appends ``(default: VALUE)`` to an option's help unless the help
already names its default in words (``"(default 5)"``, ``"default auto: ..."``) or there is none
to show (``None``, or ``False`` for an on/off flag). :func:`show_defaults` puts it on a parser and
on every subcommand parser below it, keeping a raw description where a parser asked for one.
"""

from __future__ import annotations

import argparse

__all__ = ["DefaultsHelpFormatter", "RawDescriptionDefaultsHelpFormatter", "show_defaults"]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends each option's line with its default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        # a literal '%' in the value must survive argparse's %-formatting of the help
        return f"{text} (default: {str(shown).replace('%', '%%')})"


class RawDescriptionDefaultsHelpFormatter(
    argparse.RawDescriptionHelpFormatter, DefaultsHelpFormatter
):
    """:class:`DefaultsHelpFormatter` that keeps the description's own line breaks."""


def show_defaults(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` and all its subcommand parsers a help that shows defaults; return it."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = RawDescriptionDefaultsHelpFormatter if raw else DefaultsHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share one parser
                show_defaults(sub)
    return parser
