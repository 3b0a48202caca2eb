"""One Screen per task: bundles (home), diff/plan, restore progress, retention, help."""
