"""The leaderboard: entries with provenance (`board`), building them from scores (`submit`),
ranking and rendering (`render`). `load()` gives every entry as a pandas DataFrame.
"""

from __future__ import annotations

from pathlib import Path

from groupbench.leaderboard.board import DEFAULT_BOARD, Board
from groupbench.leaderboard.submit import dataset_label

COLUMNS = [
    "entry", "method", "variant", "kind", "source", "reference", "dataset", "dataset_id", "split", "digest",
    "official", "images", "metric", "mean", "std", "seeds", "values", "include_background", "include_overlap",
    "average_method", "device", "wall_time_s", "steps", "date", "paper", "code",
]


def load(board: str | Path = DEFAULT_BOARD):
    """All entries of a board as a DataFrame, one row per (entry, metric); columns: `COLUMNS`.

    ``dataset`` is the label that tables group by (id plus non-default parameters).
    """
    import pandas as pd

    rows = []
    for path, entry in Board(board).entries():
        data, compute = entry["dataset"], entry.get("compute") or {}
        for metric, value in entry["metrics"].items():
            conventions = value["conventions"]
            rows.append(
                {
                    "entry": path.name,
                    "method": entry["method"],
                    "variant": entry["variant"],
                    "kind": entry["kind"],
                    "source": entry["source"]["type"],
                    "reference": entry["source"].get("reference"),
                    "dataset": dataset_label(data["id"], data.get("params")),
                    "dataset_id": data["id"],
                    "split": data["split"],
                    "digest": data["digest"],
                    "official": data["official"],
                    "images": data["images"],
                    "metric": metric,
                    "mean": value["mean"],
                    "std": value["std"],
                    "seeds": value["seeds"],
                    "values": value["values"],
                    "include_background": conventions["include_background"],
                    "include_overlap": conventions["include_overlap"],
                    "average_method": conventions.get("average_method"),
                    "device": compute.get("device"),
                    "wall_time_s": compute.get("wall_time_s"),
                    "steps": compute.get("steps"),
                    "date": entry["date"],
                    "paper": entry.get("paper"),
                    "code": entry.get("code"),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["Board", "DEFAULT_BOARD", "load"]
