"""The plan's look at the flat substrates (concepts, trajectories, mailbox, neo's ledgers): each bundle file
beside its live target, and whether that target exists (merge copies only into an absent one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.bundle import substrate_files
from core.datadir import DataDir
from core.neo_paths import HEAL_ATTEMPTS_FILE, HEAL_EVENTS_FILE, RECOVERY_RUNS_DIR
from core.scan import payload_files
from core.substrates import FLAT_DIRECTORIES, FLAT_TARGETS


@dataclass
class FlatScan:
    substrate: str
    target: str | None
    # (bundle file name, target path, target exists and is non-empty)
    files: list[tuple[str, str, bool]] = field(default_factory=list)
    note: str | None = None


def scan_flat(dd: DataDir, bundle: Path) -> dict[str, FlatScan]:
    out: dict[str, FlatScan] = {}
    for sub in FLAT_TARGETS:
        target = dd.flat_target(sub)
        fs = FlatScan(sub, str(target))
        files = substrate_files(bundle, sub)
        if sub in FLAT_DIRECTORIES:
            fs.files += [(f.name, str(target / f.name), (target / f.name).exists()) for f in files]
            if not fs.files:
                fs.note = f"bundle has no {sub}/*.jsonl"
        elif not (bundle / sub).is_dir():
            fs.note = f"bundle has no {sub}/ (optional in older bundles)"
        elif not files:
            fs.note = f"bundle has no {sub}/*.jsonl"
        else:
            exists = target.is_file() and target.stat().st_size > 0
            fs.files.append((files[0].name, str(target), exists))
        out[sub] = fs
    out["ledgers"] = scan_ledgers(dd, bundle)
    return out


def scan_ledgers(dd: DataDir, bundle: Path) -> FlatScan:
    """neo's three ledgers, each against where neo keeps it live (a member the bundle lacks is not listed)."""
    fs = FlatScan("ledgers", str(dd.neo.orchestrator_dir))
    folder = bundle / "ledgers"
    if not folder.is_dir():
        fs.note = "bundle has no ledgers/ (optional in older bundles)"
        return fs
    for name, target in ((HEAL_ATTEMPTS_FILE, dd.neo.heal_attempts_file), (HEAL_EVENTS_FILE, dd.neo.heal_events_file)):
        if (folder / name).is_file():
            fs.files.append((name, str(target), target.exists()))
    runs = dd.neo.recovery_runs_dir
    for f in payload_files(folder / RECOVERY_RUNS_DIR, compressed=False):
        fs.files.append((f"{RECOVERY_RUNS_DIR}/{f.name}", str(runs / f.name), (runs / f.name).exists()))
    if not fs.files:
        fs.note = "bundle has no ledger files"
    return fs
