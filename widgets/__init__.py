"""Reusable widgets for the console. They never import ``console`` (an import-linter contract)."""

from widgets.bars import compact, legend, split_bar
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.job_progress import TaskProgress, rate_text
from widgets.status_header import Freshness, HeaderState, StatusHeader
from widgets.table import DataTable
from widgets.toggles import CheckList, Radio

__all__ = [
    "CheckList",
    "ConfirmScreen",
    "DataTable",
    "Freshness",
    "HeaderState",
    "MessageScreen",
    "Radio",
    "StatusHeader",
    "TaskProgress",
    "compact",
    "legend",
    "rate_text",
    "split_bar",
]
