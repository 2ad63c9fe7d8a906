#!/usr/bin/env python3
"""Generates stats.json: inputs and expected statistics computed independently with
numpy/scipy, checked by tests/stats_golden.rs. Run: python3 gen_stats.py > stats.json
(numpy 2.x, scipy 1.x)."""
import json

import numpy as np
from scipy import stats

rng = np.random.default_rng(20261128)
datasets = {
    "normal_200": rng.normal(1000.0, 25.0, 200),
    "lognormal_outliers_500": np.concatenate(
        [rng.lognormal(5.0, 0.1, 490), rng.uniform(2000.0, 5000.0, 10)]
    ),
    "small_5": np.array([12.5, 11.0, 13.25, 11.0, 40.0]),
    "ties_50": np.repeat([3.0, 4.0, 5.0, 6.0, 100.0], [10, 20, 10, 9, 1]).astype(float),
    "uniform_1000": rng.uniform(0.25, 0.75, 1000),
    "two_values": np.array([1.0, 9.0]),
}


def order_stat_ci(n, q, conf=0.95):
    """1-based ranks (l, u) of the distribution-free quantile interval."""
    alpha = 1 - conf
    cdf = stats.binom.cdf(np.arange(0, n + 1), n, q)
    l = 1
    for rank in range(1, n + 1):
        if cdf[rank - 1] <= alpha / 2:
            l = rank
        else:
            break
    u = n
    for rank in range(1, n + 1):
        if cdf[rank - 1] >= 1 - alpha / 2:
            u = rank
            break
    return l, u


out = []
for name, x in datasets.items():
    x = np.asarray(x, dtype=float)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    iqr = q3 - q1
    case = {
        "name": name,
        "data": x.tolist(),
        "mean": float(np.mean(x)),
        "median": float(np.median(x)),
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "stddev": float(np.std(x, ddof=1)),
        "mad": float(stats.median_abs_deviation(x, scale=1.0)),
        "p90": float(np.quantile(x, 0.90)),
        "p95": float(np.quantile(x, 0.95)),
        "p99": float(np.quantile(x, 0.99)),
        "outliers": {
            "low_severe": int(np.sum(x < q1 - 3 * iqr)),
            "low_mild": int(np.sum((x >= q1 - 3 * iqr) & (x < q1 - 1.5 * iqr))),
            "high_mild": int(np.sum((x <= q3 + 3 * iqr) & (x > q3 + 1.5 * iqr))),
            "high_severe": int(np.sum(x > q3 + 3 * iqr)),
        }
        if len(x) >= 4
        else {"low_severe": 0, "low_mild": 0, "high_mild": 0, "high_severe": 0},
        "quantile_ci": [],
    }
    xs = np.sort(x)
    for q in (0.5, 0.9, 0.95, 0.99):
        l, u = order_stat_ci(len(x), q)
        case["quantile_ci"].append(
            {"q": q, "l": l, "u": u, "lo": float(xs[l - 1]), "hi": float(xs[u - 1])}
        )
    if len(x) >= 2:
        b = stats.bootstrap(
            (x,), np.mean, confidence_level=0.95, method="percentile",
            n_resamples=20000, random_state=np.random.default_rng(7),
        )
        case["mean_ci_bootstrap"] = [
            float(b.confidence_interval.low), float(b.confidence_interval.high)
        ]
    out.append(case)

print(json.dumps({"generator": "numpy %s, scipy %s" % (np.__version__, __import__("scipy").__version__),
                  "cases": out}, indent=1))
