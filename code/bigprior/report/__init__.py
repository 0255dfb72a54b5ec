"""`bigprior report` / `python code/report.py`: the paper's tables and figures from experiment folders.

    python code/report.py                                      # every inter_data/<exp> with OURoutput/
    python code/report.py col_bedroom --published ../shared/bigprior-paper
    python code/report.py paper=ws1/inter_data/col_bedroom own=ws2/inter_data/col_bedroom --name compare

An experiment is named (`col_bedroom`, in the workspace `--root`) or given as a folder
(`<workspace>/inter_data/<experiment>`), optionally as `label=...` to tell two runs of one
experiment apart. Its test images are those of its fusion test (`OURoutput/OURargs.txt`:
train_count..N-1); every method with outputs there is scored against GT: the prior (`mGANoutput`),
BIGPrior (`OURoutput`) and each baseline (`<Method>output`, e.g. `DnCNNoutput`, `Teleaoutput`).

Conventions, as the paper's evaluation notebook: PSNR (mean over images of 10 log10(1 / MSE)) and
SSIM (scikit-image) on the saved 8-bit images; AuC for colorization; LPIPS (AlexNet, v0.0) when its
weights are on this machine; phi mean and std from the saved phi maps (8-bit, clamped to [0, 1]); the
calibration of phi against the prior's per-pixel advantage (`bigprior.metrics.calibration`).

`reports/<name>/` gets `results.csv` (one row per image), `summary.md` (one row per experiment,
means per task, published numbers side by side with the difference, phi correlations, calibration)
and PNG figures. The folder is built aside and swapped in whole, so a failed report leaves the last one.

The package, in the register / calc / report shape of NVlabs' metrics/metric_main.py:

    options.py   ReportOptions: everything a report is made from, one object
    entries.py   what is reported on: experiments, test images, methods, noise levels, fusion records
    scoring.py   the metrics, registered once, computed per image, gathered per experiment: Scores
    tables.py    results.csv rows and summary.md's tables, from Scores
    plots.py     the figures, from Scores (drawn by bigprior.figures)
    build.py     run_report: score, then write the folder aside and swap it in
    cli.py       the command line
"""

from .build import Report, run_report
from .cli import build_parser, main
from .options import ReportOptions

__all__ = ["Report", "ReportOptions", "build_parser", "main", "run_report"]
