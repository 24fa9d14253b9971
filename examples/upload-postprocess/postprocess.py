"""Post-processing of an uploaded test-rig recording (time, pressure, temperature CSV).

On AWS an upload to s3://<inputs>/inputs/upload-postprocess/... starts this workflow with the
object's bucket and key as the parameters `input_bucket` and `input_key`. Locally the same
S3 event drives it:

    dagtrail run examples/upload-postprocess/postprocess.py:postprocess --docker never \\
        --event events/StartFromUploadFunction/s3-input-created-upload-postprocess.json

`fetch` reads the object — from bucket/ next to this file when the key is there (the local
stand-in for the inputs bucket), otherwise from S3 — and keeps a copy as its output, so the
lineage of every plot ends at the uploaded bytes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from dagtrail.flow import outputs, task, workflow

LOCAL_BUCKET = Path(__file__).resolve().parent / "bucket"
IMAGE = "ghcr.io/example/rig-postprocess:2.3"
CHANNELS = ("pressure_kpa", "temperature_c")


def _load(raw: Path):
    import numpy as np

    data = np.genfromtxt(raw, delimiter=",", names=True)
    return data["time_s"], {c: data[c] for c in CHANNELS}


@task(image=IMAGE, timeout="5m", retries=2)
def fetch(input_bucket: str, input_key: str) -> dict:
    local = LOCAL_BUCKET / input_key
    target = outputs() / "raw.csv"
    if local.is_file():
        body = local.read_bytes()
    else:  # on AWS: the uploaded object itself
        from dagtrail import aws

        body = aws.client("s3").get_object(Bucket=input_bucket, Key=input_key)["Body"].read()
    target.write_bytes(body)
    with target.open(newline="") as f:
        header = next(csv.reader(f))
        rows = sum(1 for _ in f)
    missing = [c for c in ("time_s", *CHANNELS) if c not in header]
    if missing:
        raise ValueError(f"s3://{input_bucket}/{input_key}: missing columns {missing}")
    return {"bucket": input_bucket, "key": input_key, "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body), "rows": rows}


@task(image=IMAGE, timeout="5m")
def statistics(raw: Path) -> dict:
    import numpy as np

    t, channels = _load(raw)
    stats = {"duration_s": float(t[-1] - t[0]), "sample_rate_hz": float(1 / np.median(np.diff(t)))}
    for name, x in channels.items():
        stats[name] = {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()),
                       "max": float(x.max()), "p99": float(np.percentile(x, 99)),
                       "trend_per_s": float(np.polyfit(t, x, 1)[0])}
    (outputs() / "statistics.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


@task(image=IMAGE, timeout="5m")
def spectrum(raw: Path, segment: int) -> dict:
    """Welch's method by hand: Hann-windowed, half-overlapping segments, averaged periodograms."""
    import numpy as np

    t, channels = _load(raw)
    fs = 1 / np.median(np.diff(t))
    x = channels["pressure_kpa"] - channels["pressure_kpa"].mean()
    window = np.hanning(segment)
    starts = range(0, len(x) - segment + 1, segment // 2)
    psd = np.mean([np.abs(np.fft.rfft(window * x[s:s + segment])) ** 2 for s in starts], axis=0)
    psd *= 2 / (fs * (window**2).sum())
    freqs = np.fft.rfftfreq(segment, 1 / fs)
    interior = np.flatnonzero((psd[1:-1] > psd[:-2]) & (psd[1:-1] > psd[2:])) + 1
    peaks = sorted(interior, key=lambda i: -psd[i])[:3]
    np.savetxt(outputs() / "pressure_psd.csv", np.column_stack([freqs, psd]), delimiter=",",
               header="frequency_hz,psd_kpa2_per_hz", comments="")
    return {"segment": segment, "resolution_hz": float(fs / segment),
            "peaks_hz": [round(float(freqs[i]), 3) for i in peaks],
            "peak_psd": [float(psd[i]) for i in peaks]}


@task(image=IMAGE, timeout="5m")
def report(meta: dict, stats: dict, spec: dict, raw: Path, psd: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t, channels = _load(raw)
    freqs, power = np.loadtxt(psd, delimiter=",", skiprows=1, unpack=True)
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(7, 7.5), constrained_layout=True)
    a1.plot(t, channels["pressure_kpa"], lw=0.5)
    a1.set_ylabel("pressure [kPa]")
    a1.set_title(f"s3://{meta['bucket']}/{meta['key']}", fontsize=8)
    a2.plot(t, channels["temperature_c"], lw=0.7, color="tab:red")
    a2.set_ylabel("temperature [°C]")
    a2.set_xlabel("time [s]")
    a3.semilogy(freqs, power, lw=0.8)
    for f in spec["peaks_hz"]:
        a3.axvline(f, color="k", ls=":", lw=0.8)
        a3.annotate(f"{f:g} Hz", (f, power.max()), fontsize=8, rotation=90, va="top", ha="right")
    a3.set_xlabel("frequency [Hz]")
    a3.set_ylabel("pressure PSD [kPa²/Hz]")
    out = outputs()
    fig.savefig(out / "report.png", dpi=100)
    plt.close(fig)
    summary = {"source": f"s3://{meta['bucket']}/{meta['key']}", "source_sha256": meta["sha256"],
               "dominant_hz": spec["peaks_hz"][0], "pressure_mean_kpa": stats["pressure_kpa"]["mean"],
               "temperature_trend_c_per_s": stats["temperature_c"]["trend_per_s"]}
    (out / "report.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


@workflow(name="upload-postprocess")
def postprocess(input_bucket: str = "dagtrail-dev-inputs-123456789012-us-east-1",
                input_key: str = "inputs/upload-postprocess/probe-042.csv", segment: int = 256):
    """Statistics, spectrum and a report plot for one uploaded recording."""
    meta = fetch(input_bucket, input_key)
    raw = meta.file("raw.csv")
    stats = statistics(raw)
    spec = spectrum(raw, segment)
    report(meta, stats, spec, raw, spec.file("pressure_psd.csv"))
