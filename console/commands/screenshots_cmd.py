"""Placeholder until this command lands; the owner replaces this whole file."""

from __future__ import annotations

import argparse

from console.commands.common import Context
from core.errors import ConsoleError

NAME = "screenshots"
HELP = "(not built yet)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace, ctx: Context) -> int:
    raise ConsoleError("screenshots is not built yet")
