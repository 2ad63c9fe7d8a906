#!/usr/bin/env python3
"""Golden values for vm_bench_runtime::significance::mann_whitney_u.

Run: pip install scipy numpy; python3 mannwhitney_golden.py > mannwhitney_golden.json
"""
import json
import numpy as np
from scipy.stats import mannwhitneyu

rng = np.random.default_rng(20261128)
cases = []
# Hand-written small cases, with ties.
cases.append(([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]))
cases.append(([1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [2.0, 3.0, 4.0, 4.0, 5.0]))
cases.append(([10.0, 10.0, 11.0], [10.0, 12.0, 12.0, 9.0]))
# Realistic timing noise: lognormal around 1000 ns, with 20% shifts and none.
for n1, n2, shift, sigma in [(30, 30, 1.0, 0.05), (50, 40, 1.2, 0.05), (100, 100, 1.02, 0.1),
                             (20, 25, 0.8, 0.2), (200, 150, 1.0, 0.03)]:
    x = 1000.0 * rng.lognormal(0.0, sigma, n1)
    y = 1000.0 * shift * rng.lognormal(0.0, sigma, n2)
    cases.append((np.round(x, 3).tolist(), np.round(y, 3).tolist()))

out = []
for x, y in cases:
    r = mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    out.append({"x": x, "y": y, "u": float(r.statistic), "p_value": float(r.pvalue)})
print(json.dumps({"scipy": __import__("scipy").__version__, "cases": out}, indent=1))
