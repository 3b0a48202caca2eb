"""neo's restorability walk over a backup root: newest first, verifying each bundle in full until one is
restorable (``verify`` without a bundle)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from core.bundle import list_bundles
from core.progress import ProgressFn, no_progress
from core.verify import (
    BUNDLE_ROOT_MISSING,
    BUNDLE_UNVERIFIABLE,
    NO_BUNDLES,
    RESTORABLE,
    VerifyResult,
    verify_bundle,
)
from core.verify_cache import VerifyCache


@dataclass(frozen=True, kw_only=True)
class SkippedBundle:
    bundle: str
    verdict: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class WalkResult:
    code: str
    bundle: str | None
    examined: int
    skipped: tuple[SkippedBundle, ...] = ()
    result: VerifyResult | None = None


def find_restorable(
    root: Path,
    *,
    expected_dimension: int | None = None,
    limit: int = 10,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    cache: VerifyCache | None = None,
) -> WalkResult:
    """neo's restorability walk: newest first, past EMPTY/INCOMPLETE/INVALID, stopping on UNVERIFIABLE (a read
    error). A bundle without a meta (at best UNVERIFIABLE here, where neo would call it legacy) is walked past."""
    if not root.is_dir():
        return WalkResult(code=BUNDLE_ROOT_MISSING, bundle=None, examined=0)
    listing = list_bundles(root)
    if not listing.bundles:
        return WalkResult(code=NO_BUNDLES, bundle=None, examined=0)
    skipped: list[SkippedBundle] = []
    last: VerifyResult | None = None
    for i, b in enumerate(listing.bundles[:limit], start=1):
        res = verify_bundle(b.path, expected_dimension=expected_dimension, on_progress=on_progress, cancel=cancel,
                            cache=cache)
        if res.verdict == RESTORABLE:
            return WalkResult(code=RESTORABLE, bundle=b.name, examined=i, skipped=tuple(skipped), result=res)
        last = res
        first = res.errors[0] if res.errors else (res.warnings[0] if res.warnings else None)
        skipped.append(SkippedBundle(bundle=b.name, verdict=res.verdict, reason=str(first) if first else None))
        if res.verdict == BUNDLE_UNVERIFIABLE and b.meta_state != "absent":
            return WalkResult(code=BUNDLE_UNVERIFIABLE, bundle=b.name, examined=i, skipped=tuple(skipped), result=res)
    return WalkResult(code=last.verdict if last else NO_BUNDLES, bundle=None, examined=len(skipped),
                      skipped=tuple(skipped), result=last)
