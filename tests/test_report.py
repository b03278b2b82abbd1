"""`dcgan report`: the HTML page renders and every image it references exists."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_training import tiny_config

from dcgan import DcganError
from dcgan.cli import main
from dcgan.report import write_report
from dcgan.training import train


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_of_a_run_with_eval(tmp_path: Path, capsys) -> None:
    config = tiny_config(tmp_path, steps=4, sample_every=1, eval_every=2, eval_n=16)
    config.eval_extractor = "mnist"
    run = train(config).run_dir
    assert main(["report", str(run), "--n", "16"]) == 0
    assert str(run / "report.html") in capsys.readouterr().out
    page = Images()
    page.feed((run / "report.html").read_text())
    names = {Path(s).name for s in page.srcs}
    assert {"metrics.png", "losses.png", "final.png", "best.png", "walk.png"} <= names
    assert sum(s.startswith("samples/step-") for s in page.srcs) == 4  # the strip
    for src in page.srcs:
        assert not Path(src).is_absolute() and (run / src).is_file(), src
    text = " ".join(page.text)
    assert "fid: best" in text and "eval_every" in text


def test_report_needs_a_run(tmp_path: Path) -> None:
    with pytest.raises(DcganError, match="not a run directory"):
        write_report(tmp_path)
