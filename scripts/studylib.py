"""studylib - what scripts/collect_results, scripts/select_lr and jobs/sweep share: reading a run
directory (config.ini, metrics.jsonl, summary.txt, the sweep cell), the task of a dataset path,
the per-run study figures, and the statistics (Student t quantile, mean with its confidence
interval, paired differences). Python 3 standard library only; not a script.

Definitions (one place, used by every tool):
  task, partition  of a dataset path data/study/<task>_<partition>.h5: the file stem, split at
                   its last '_' when what follows names a partition (iid, natural, dir<alpha>,
                   quantity<alpha>); else the task is the whole stem and the partition ''.
  last-k mean      of a metrics column: the mean of its last k finite values (the rows where it
                   was evaluated), k = fl.eval_last of the run's config.ini (default 5).
  best val         the first row with the highest val_acc; test_at_best_val is that row's
                   test_acc (model choice on validation only; test accuracy is only reported).
  failed_rate      sum of clients_failed / sum of (clients_ok + clients_failed) over rounds.
"""
import configparser
import json
import math
import os
import re
import sys

DEFAULT_EVAL_LAST = 5
PARTITION_RE = re.compile(r"^(?P<task>.+)_(?P<part>iid|natural|dir[0-9.]+|quantity[0-9.]*)$")


def warn(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr)


def num(v):
    if v is None or v == "":
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_ini(path, prog="studylib"):
    """An INI file as {section.key: value}; keys before any section are bare. Empty when absent."""
    out = {}
    if not os.path.isfile(path):
        return out
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"), strict=False)
    cp.optionxform = str
    try:
        with open(path) as f:
            text = f.read()
        if not text.lstrip().startswith("["):
            text = "[_]\n" + text
        cp.read_string(text)
    except configparser.Error as e:
        warn(prog, f"{path}: unreadable ({e}); ignoring it")
        return out
    for sec in cp.sections():
        for k, v in cp[sec].items():
            out[k if sec == "_" else f"{sec}.{k}"] = v.strip()
    return out


def read_config(run_dir, prog="studylib"):
    """A run's config.ini as {section.key: value}; empty when absent."""
    return read_ini(os.path.join(run_dir, "config.ini"), prog)


def read_summary(run_dir):
    path = os.path.join(run_dir, "summary.txt")
    out = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    out[parts[0]] = parts[1].strip()
    return out


def read_metrics(run_dir, prog="studylib"):
    rows = []
    path = os.path.join(run_dir, "metrics.jsonl")
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warn(prog, f"{path}:{n}: not JSON; row skipped")
    return rows


def sweep_cell(run_dir):
    """The cell record of jobs/sweep's sweep.json in the parent folder, if any."""
    path = os.path.join(os.path.dirname(run_dir), "sweep.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    for c in meta.get("cells", []):
        if os.path.normpath(c.get("run_dir", "")) == os.path.normpath(run_dir) or c.get("name") == os.path.basename(run_dir):
            return c
    return None


def find_runs(roots, prog="studylib"):
    """Every folder under roots that holds a metrics.jsonl (checkpoint folders skipped)."""
    runs = []
    for root in roots:
        if not os.path.isdir(root):
            warn(prog, f"{root}: not a folder; skipped")
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "ckpt")
            if "metrics.jsonl" in filenames:
                runs.append(os.path.abspath(dirpath))
    return sorted(set(runs))


def task_of(data_path):
    """(task, partition) of a dataset path (see the module's definitions); ('', '') when empty."""
    if not data_path:
        return "", ""
    stem = os.path.splitext(os.path.basename(data_path))[0]
    m = PARTITION_RE.match(stem)
    return (m["task"], m["part"]) if m else (stem, "")


def last_k(rows, col, k):
    """The last k finite values of a metrics column."""
    xs = [num(r.get(col)) for r in rows]
    return [x for x in xs if finite(x)][-k:] if k > 0 else []


def mean(xs):
    xs = [x for x in xs if finite(x)]
    return sum(xs) / len(xs) if xs else math.nan


def eval_last_of(cfg):
    k = num(cfg.get("fl.eval_last"))
    return int(k) if finite(k) and k >= 1 else DEFAULT_EVAL_LAST


def study_fields(rows, cfg):
    """The per-run study figures computed from metrics.jsonl (old runs without the new columns
    give NaN for them)."""
    k = eval_last_of(cfg)
    out = dict(eval_last=k)
    for col in ("val_acc", "test_acc", "client_acc_mean", "client_acc_p10", "expert_load_cv"):
        out[col + "_last" if col in ("val_acc", "test_acc") else col] = mean(last_k(rows, col, k))
    best_val, best_round, test_at = math.nan, math.nan, math.nan
    for r in rows:
        v = num(r.get("val_acc"))
        if finite(v) and not (finite(best_val) and v <= best_val):
            best_val, best_round, test_at = v, num(r.get("round")), num(r.get("test_acc"))
    out.update(best_val_acc=best_val, best_val_round=best_round, test_at_best_val=test_at)
    ok = sum(x for x in (num(r.get("clients_ok")) for r in rows) if finite(x))
    failed = sum(x for x in (num(r.get("clients_failed")) for r in rows) if finite(x))
    out["failed_rate"] = failed / (ok + failed) if ok + failed > 0 else math.nan
    return out


# ---- statistics ------------------------------------------------------------------------------

def _betacf(a, b, x):
    """Continued fraction of the regularized incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t, df):
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The p-quantile of Student's t with df > 0 degrees of freedom (bisection on t_cdf)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile: need 0 < p < 1 and df > 0 (p={p}, df={df})")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def mean_ci(xs, level=0.95):
    """dict(n, mean, sd, half, lo, hi) of the finite xs: the mean and its Student-t confidence
    interval (n-1 degrees of freedom, sd the sample standard deviation). half/lo/hi are NaN for
    n < 2, everything NaN for n = 0."""
    xs = [x for x in xs if finite(x)]
    n = len(xs)
    out = dict(n=n, mean=math.nan, sd=math.nan, half=math.nan, lo=math.nan, hi=math.nan)
    if n == 0:
        return out
    m = sum(xs) / n
    out["mean"] = m
    if n >= 2:
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
        half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * sd / math.sqrt(n)
        out.update(sd=sd, half=half, lo=m - half, hi=m + half)
    return out


def paired(ref, other, level=0.95):
    """ref and other map a pairing key (the seed) to a value; the difference ref - other over
    the keys both have finite: mean_ci of the differences plus keys (the pairs used)."""
    keys = sorted(k for k in ref if k in other and finite(ref[k]) and finite(other[k]))
    out = mean_ci([ref[k] - other[k] for k in keys], level)
    out["keys"] = keys
    return out
