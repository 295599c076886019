"""Tables of experiments 3, 4, 5 (single cluster) from the run folders of experiments/threshold_sweep/run.sh.

Reads runs/issue6/threshold_s<SEED>/{fm_first,ddpm_first,snr_matched}/*/results.json, copies them (small JSON) into
experiments/<exp>/results_s<SEED>/, writes experiments/<exp>/table_s<SEED>.md and a PNG of exp 3. No number is typed in.
Usage: .venv/bin/python experiments/threshold_sweep/make_tables.py [SEED]
"""
import json
import shutil
import sys
from pathlib import Path

seed = sys.argv[1] if len(sys.argv) > 1 else "0"
root = Path(f"runs/issue6/threshold_s{seed}")
FID, ADH = "domain_fid_mnist_cnn", "prompt_adherence_mnist_cnn"


def load(sweep):
    rows = []
    for f in sorted((root / sweep).glob("*/results.json")):
        r = json.loads(f.read_text())
        rows.append((f.parent.name, r))
    return rows


def metric(r, name):
    m = r["metrics"]
    key = next((k for k in m if k.startswith(name)), None)
    v = m.get(key) if key else None
    if isinstance(v, dict):
        return v.get("mean"), v.get("std")
    return v, None


def line(label, r):
    fid, _ = metric(r, "domain_fid")
    adh, _ = metric(r, "prompt_adherence")
    div, dstd = metric(r, "diversity")
    s = r["samples"]
    fmt = lambda v: "n/a" if v is None else f"{v:.4g}"
    return (f"| {label} | {r['routing']['order']} | {r['routing']['tau']} | {r['sampler']['conversion']['mode']} | {fmt(fid)} | "
            f"{fmt(adh)} | {fmt(div)} ± {fmt(dstd)} | {s['n']} | {s['diversity']} | {r['seeds']['sampling']} | {r['seconds']} |")


HEAD = ("| run | order | tau | conversion | domain FID (mnist-cnn) ↓ | prompt adherence ↑ | diversity dssim_standin ↑ (mean ± std over prompts) "
        "| n | diversity images | sampling seed | s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
out = {"threshold_sweep": [], "ordering": [], "conversion": []}
fm = load("fm_first"); dd = load("ddpm_first"); snr = load("snr_matched")
for name, r in fm:
    out["threshold_sweep"].append((name, r))
    if r["routing"]["tau"] in (0.3, 0.5, 0.7):
        out["ordering"].append((name, r))
    if r["routing"]["tau"] in (0.0, 0.5, 1.0):
        out["conversion"].append((name, r))
out["ordering"] += dd
out["conversion"] += snr
labels = {0.0: "FM expert alone (tau=0)", 1.0: "DDPM expert alone, converted to velocity (tau=1)", 0.5: "combined (threshold tau=0.5)"}
for exp, rows in out.items():
    d = Path("experiments") / exp
    (d / f"results_s{seed}").mkdir(parents=True, exist_ok=True)
    text = HEAD
    for name, r in sorted(rows, key=lambda x: (x[1]["routing"]["order"], x[1]["sampler"]["conversion"]["mode"], x[1]["routing"]["tau"])):
        sweep = "snr_matched" if r["sampler"]["conversion"]["mode"] == "snr_matched" else r["routing"]["order"]
        dst = d / f"results_s{seed}" / f"{sweep}__{name}"
        dst.mkdir(exist_ok=True)
        for fn in ("results.json", "results.md", "grid.png"):
            if (root / sweep / name / fn).is_file():
                shutil.copy(root / sweep / name / fn, dst / fn)
        label = labels.get(r["routing"]["tau"], "threshold") if exp == "conversion" else "threshold"
        text += line(label, r) + "\n"
    text += (f"\nExperts: {', '.join(e['path'] + ' (' + e['objective'] + ', ' + e['schedule'] + ')' for e in rows[0][1]['experts'])}; "
             f"steps {rows[0][1]['sampler']['steps']}, CFG {rows[0][1]['sampler']['cfg_scale']}, solver {rows[0][1]['sampler']['solver']}.\n" if rows else "no runs yet\n")
    (d / f"table_s{seed}.md").write_text(text)
    print(d / f"table_s{seed}.md")
# plot of exp 3
try:
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    rows = sorted(out["threshold_sweep"], key=lambda x: x[1]["routing"]["tau"])
    taus = [r["routing"]["tau"] for _, r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    for a, (nm, lab) in zip(ax, [("domain_fid", "domain FID (mnist-cnn)"), ("prompt_adherence", "prompt adherence"), ("diversity", "dssim_standin diversity")]):
        a.plot(taus, [metric(r, nm)[0] for _, r in rows], "o-"); a.set_xlabel("tau (FM for t > tau, DDPM below)"); a.set_title(lab)
    fig.suptitle(f"threshold sweep, cluster 2, training seed {seed}, n={rows[0][1]['samples']['n'] if rows else 0}")
    fig.tight_layout(); fig.savefig(f"experiments/threshold_sweep/tau_sweep_s{seed}.png", dpi=100)
except Exception as e:
    print("plot failed:", e)
# paste the generated tables into the READMEs (placeholder line TABLE_S<seed> or the previous paste between markers)
import re
for exp in out:
    readme = Path("experiments") / exp / "README.md"
    if readme.is_file():
        table = (Path("experiments") / exp / f"table_s{seed}.md").read_text()
        block = f"<!-- table s{seed} -->\n{table}<!-- /table s{seed} -->"
        text = readme.read_text()
        pattern = re.compile(rf"<!-- table s{seed} -->.*?<!-- /table s{seed} -->", re.S)
        text = pattern.sub(lambda m: block, text) if pattern.search(text) else text.replace(f"TABLE_S{seed}", block)
        readme.write_text(text)
