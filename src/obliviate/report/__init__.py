"""Reports over run directories: a leaderboard against the gold and original models, a forget/utility
trade-off plot, training curves, membership-inference ROC curves and the MarI certificate, written as
``report.md`` and a self-contained ``report.html``.

    obliviate report runs/ga runs/mari --gold runs/gold_eval --out runs/report
"""

from obliviate.report.build import write_report

__all__ = ["write_report"]
