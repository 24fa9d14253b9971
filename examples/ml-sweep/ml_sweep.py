"""Wine cultivar classification: a scikit-learn hyperparameter sweep, model selection and a
held-out evaluation report with a confusion matrix.

    dagtrail run examples/ml-sweep/ml_sweep.py:model_sweep --docker never

`ingest` copies the dataset (data/wine.csv, UCI wine via scikit-learn, committed here) into
its outputs and splits it; `train.map(CONFIGS, ...)` is one sweep task (`foreach: values`)
whose items each cross-validate one configuration and save the fitted model under
train/<index>/; `select` keeps the best; `evaluate` scores it once on the held-out split.
The best model's lineage runs back to the exact bytes of the data file (its sha256).
"""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
import shutil
from pathlib import Path

from dagtrail.flow import outputs, task, workflow

HERE = Path(__file__).resolve().parent
LABEL = "cultivar"
CONFIGS = [
    {"model": "logistic_regression", "C": 0.01},
    {"model": "logistic_regression", "C": 1.0},
    {"model": "logistic_regression", "C": 100.0},
    {"model": "random_forest", "n_estimators": 25, "max_depth": 2},
    {"model": "random_forest", "n_estimators": 100},  # no max_depth: grown until pure
    {"model": "svm", "C": 0.1, "gamma": "scale"},
]
IMAGE = "ghcr.io/example/sklearn:1.9"


def _read(path: Path) -> tuple[list[str], list[list[float]], list[int]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if LABEL not in header:
        raise ValueError(f"{path}: no {LABEL!r} column")
    k = header.index(LABEL)
    features = [h for h in header if h != LABEL]
    x = [[float(v) for i, v in enumerate(r) if i != k] for r in body]
    return features, x, [int(r[k]) for r in body]


def _write(path: Path, features: list[str], x, y) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*features, LABEL])
        writer.writerows([*map(float, row), int(label)] for row, label in zip(x, y, strict=True))


def _model(config: dict, seed: int):
    # Each item is its own process: import only the model family it trains.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kind = config["model"]
    if kind == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        estimator = LogisticRegression(C=config["C"], max_iter=2000)
    elif kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        estimator = RandomForestClassifier(n_estimators=config["n_estimators"], max_depth=config.get("max_depth"),
                                           random_state=seed)
    elif kind == "svm":
        from sklearn.svm import SVC

        estimator = SVC(C=config["C"], gamma=config["gamma"], random_state=seed)
    else:
        raise ValueError(f"unknown model {kind!r}")
    return make_pipeline(StandardScaler(), estimator)


def _stratified_split(y: list[int], test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices (train, test), each class split in the same proportion. NumPy only: importing
    scikit-learn (and SciPy with it) costs this task more than the whole split."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.array(y)
    train, test = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_test = round(test_fraction * len(rows))
        test += rows[:n_test].tolist()
        train += rows[n_test:].tolist()
    return sorted(train), sorted(test)


@task(image=IMAGE, timeout="5m")
def ingest(data_file: str, test_fraction: float, seed: int) -> dict:
    source = Path(data_file) if Path(data_file).is_absolute() else HERE / data_file
    out = outputs()
    shutil.copyfile(source, out / "data.csv")  # the dataset itself becomes an artifact in lineage
    features, x, y = _read(out / "data.csv")
    train_rows, test_rows = _stratified_split(y, test_fraction, seed)
    _write(out / "train.csv", features, [x[i] for i in train_rows], [y[i] for i in train_rows])
    _write(out / "test.csv", features, [x[i] for i in test_rows], [y[i] for i in test_rows])
    return {"source": data_file, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "rows": len(y),
            "train_rows": len(train_rows), "test_rows": len(test_rows), "features": features,
            "classes": sorted(set(y))}


@task(image=IMAGE, vcpu=1, memory_mib=2048, timeout="10m", retries=1)
def train(config: dict, split: Path, folds: int, seed: int) -> dict:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    _, x, y = _read(split / "train.csv")
    model = _model(config, seed)
    scores = cross_val_score(model, np.array(x), np.array(y),
                             cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed))
    model.fit(np.array(x), np.array(y))
    with (outputs() / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    return {"config": config, "cv_accuracy": float(scores.mean()), "cv_std": float(scores.std()),
            "folds": scores.tolist()}


@task(image=IMAGE, timeout="5m")
def select(results: list[dict], models: list[Path]) -> dict:
    # Best mean accuracy; among ties the lower spread, then the earlier (simpler) configuration.
    # results and models arrive in item order, one per configuration.
    ranked = sorted(range(len(results)), key=lambda i: (-results[i]["cv_accuracy"], results[i]["cv_std"], i))
    best = ranked[0]
    out = outputs()
    shutil.copyfile(models[best] / "model.pkl", out / "best_model.pkl")
    with (out / "leaderboard.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "item", "config", "cv_accuracy", "cv_std"])
        for rank, i in enumerate(ranked, 1):
            writer.writerow([rank, i, json.dumps(results[i]["config"]),
                             f"{results[i]['cv_accuracy']:.4f}", f"{results[i]['cv_std']:.4f}"])
    return {"item": best, **results[best]}


@task(image=IMAGE, timeout="5m")
def evaluate(best: dict, model_file: Path, split: Path, dataset: dict) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report, confusion_matrix

    with model_file.open("rb") as f:
        model = pickle.load(f)
    _, x, y = _read(split / "test.csv")
    predicted = model.predict(np.array(x))
    matrix = confusion_matrix(y, predicted, labels=dataset["classes"])
    metrics = {"accuracy": float(accuracy_score(y, predicted)), "confusion_matrix": matrix.tolist(),
               "model": best["config"], "selected_item": best["item"], "cv_accuracy": best["cv_accuracy"],
               "data_sha256": dataset["sha256"], "test_rows": len(y)}
    out = outputs()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(4.2, 3.8), constrained_layout=True)
    ConfusionMatrixDisplay(matrix, display_labels=[f"cultivar {c}" for c in dataset["classes"]]).plot(
        ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(f"{best['config']['model']}: test accuracy {metrics['accuracy']:.3f}", fontsize=9)
    fig.savefig(out / "confusion_matrix.png", dpi=110)
    plt.close(fig)
    report = classification_report(y, predicted, digits=3)
    (out / "report.md").write_text(
        f"# Wine cultivar classifier\n\n- model: `{json.dumps(best['config'])}` (train item {best['item']})\n"
        f"- cross-validated accuracy: {best['cv_accuracy']:.3f}\n- held-out accuracy: {metrics['accuracy']:.3f} "
        f"on {len(y)} rows\n- data: {dataset['source']} (sha256 {dataset['sha256'][:16]}…)\n\n"
        f"```\n{report}```\n\n![confusion matrix](confusion_matrix.png)\n")
    return metrics


@workflow(name="ml-sweep")
def model_sweep(data_file: str = "data/wine.csv", test_fraction: float = 0.3, folds: int = 5, seed: int = 7):
    """Hyperparameter sweep over three model families, best by cross-validation, held-out report."""
    dataset = ingest(data_file, test_fraction, seed)
    candidates = train.map(CONFIGS, dataset.dir, folds, seed)
    best = select(candidates, candidates.dir)
    evaluate(best, best.file("best_model.pkl"), dataset.dir, dataset)
