import numpy as np
import torch

from hddm.data.cluster_report import cluster_rows, markdown_table, overall_purity, sample_grid


def test_table_sizes_top_classes_and_purity():
    assignment = np.array([0, 0, 0, 1, 1, 0])
    labels = np.array([3, 3, 5, 7, 7, 3])
    rows = cluster_rows(assignment, k=3, labels=labels)
    assert rows[0] == {"cluster": 0, "size": 4, "share": 0.6667, "top_classes": [[3, 0.75], [5, 0.25]], "purity": 0.75}
    assert rows[1]["purity"] == 1.0 and rows[2] == {"cluster": 2, "size": 0, "share": 0.0}
    assert overall_purity(assignment, 3, labels) == round(5 / 6, 4)
    table = markdown_table(rows).splitlines()
    assert table[0] == "| cluster | size | share | top classes (share) | purity |"
    assert table[2] == "| 0 | 4 | 66.7% | 3: 75%, 5: 25% | 75.0% |" and table[4] == "| 2 | 0 | 0.0% | - | - |"
    assert markdown_table(cluster_rows(assignment, 2, None)).splitlines()[0] == "| cluster | size | share |"


def test_grid_has_a_row_per_cluster(tmp_path):
    images = [[torch.zeros(1, 8, 8, dtype=torch.uint8)] * 3, [torch.full((3, 8, 8), 255, dtype=torch.uint8)], []]
    rows = cluster_rows(np.array([0, 0, 0, 1]), 3, None)
    path = sample_grid(images, rows, tmp_path / "grid.png")
    assert path.stat().st_size > 0
