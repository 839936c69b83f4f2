"""The leaderboard: entries with provenance (`board`), building them from scores (`submit`),
ranking and rendering (`render`). `load()` gives every entry as a pandas DataFrame.
"""

from __future__ import annotations

from pathlib import Path

from groupbench.leaderboard.board import DEFAULT_BOARD, Board, open_board

COLUMNS = [
    "entry", "method", "variant", "kind", "source", "reference", "dataset", "dataset_id", "split", "digest",
    "official", "images", "protocol", "under_protocol", "differences", "metric", "mean", "std", "seeds", "values",
    "pixels", "include_background", "include_overlap", "average_method", "degenerate", "frames", "device",
    "wall_time_s", "steps", "budget", "paper_metric", "paper_mean", "date", "paper", "code",
]


def load(board: "str | Path | Board" = DEFAULT_BOARD):
    """All entries of a board as a DataFrame, one row per (entry, metric); columns: `COLUMNS`.

    ``dataset`` is the configuration label that tables group by (id plus non-default parameters);
    ``protocol`` its protocol, ``under_protocol`` whether the entry follows it and ``differences``
    how it departs from it otherwise.
    """
    import pandas as pd

    from groupbench import protocols
    from groupbench.leaderboard.render import Row

    rows = []
    board = board if isinstance(board, Board) else Board(board)
    for path, entry in board.entries(reported=board.reported):
        data, compute, paper = entry["dataset"], entry.get("compute") or {}, entry.get("paper_result") or {}
        protocol = protocols.find(data["id"], data.get("params"))
        differences = protocol.differences(entry) if protocol else ["no protocol for this configuration"]
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
                    "dataset": protocols.configuration_label(data["id"], data.get("params")),
                    "dataset_id": data["id"],
                    "split": data["split"],
                    "digest": data["digest"],
                    "official": data["official"],
                    "images": data["images"],
                    "protocol": protocol.name if protocol else None,
                    "under_protocol": not differences,
                    "differences": "; ".join(differences),
                    "metric": metric,
                    "mean": value["mean"],
                    "std": value["std"],
                    "seeds": value["seeds"],
                    "values": value["values"],
                    "pixels": conventions.get("pixels"),
                    "include_background": conventions["include_background"],
                    "include_overlap": conventions["include_overlap"],
                    "average_method": conventions.get("average_method"),
                    "degenerate": conventions.get("degenerate"),
                    "frames": conventions.get("frames"),
                    "device": compute.get("device"),
                    "wall_time_s": compute.get("wall_time_s"),
                    "steps": compute.get("steps"),
                    "budget": Row(entry, path.name).budget,
                    "paper_metric": paper.get("metric"),
                    "paper_mean": paper.get("mean"),
                    "date": entry["date"],
                    "paper": entry.get("paper"),
                    "code": entry.get("code"),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["Board", "DEFAULT_BOARD", "load", "open_board"]
