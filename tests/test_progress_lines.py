"""Progress lines: an estimate of the time left from the pace so far, throttled, and always the last line."""

from hddm.progress_lines import ProgressLines, duration


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_short():
    assert [duration(s) for s in (0, 45.4, 62, 3599, 7500)] == ["0s", "45s", "1m02s", "59m59s", "2h05m"]


def test_the_estimate_follows_the_pace_and_lines_are_throttled(capsys):
    clock = FakeClock()
    lines = ProgressLines("train", total=600, every_s=60, every_fraction=0.25, clock=clock)
    printed = []
    for step in range(1, 601):
        clock.now = step * 0.2  # 5 steps a second: 2 minutes in all
        printed.append(lines.update(step, f"step {step}/600", "loss 0.5", last=step == 600))
    out = capsys.readouterr().out.splitlines()
    assert [i + 1 for i, was in enumerate(printed) if was] == [1, 150, 300, 450, 600]  # first, each quarter, last
    assert out[0] == "hddm: train: step 1/600, 0s elapsed, about 2m00s left, loss 0.5"
    assert out[2] == "hddm: train: step 300/600, 1m00s elapsed, about 1m00s left, loss 0.5"
    assert out[-1] == "hddm: train: step 600/600, 2m00s elapsed, done, loss 0.5"


def test_a_slow_job_prints_every_interval_and_a_resumed_one_counts_its_own_pace(capsys):
    clock = FakeClock()
    lines = ProgressLines("evaluate", total=1000, every_s=60, every_fraction=0.5, clock=clock)
    lines.start(done=400)  # resumed at 400: the estimate must not credit this session with those
    for done, now in ((410, 30), (420, 60), (430, 90), (440, 130)):
        clock.now = now
        lines.update(done, f"{done}/1000")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "hddm: evaluate: 410/1000, 30s elapsed, about 29m30s left",  # the first line: it is running
        "hddm: evaluate: 430/1000, 1m30s elapsed, about 28m30s left",  # 60 s after the last line; 440 only 40 s
    ]


def test_an_unknown_total_prints_counts_without_an_estimate(capsys):
    clock = FakeClock()
    lines = ProgressLines("fid reference statistics", total=None, clock=clock)
    lines.update(50, "50 images")
    clock.now = 75
    lines.update(100, "100 images")
    assert not lines.update(100, "100 images")  # nothing new: no second line
    lines.update(100, "100 images", last=True)
    assert lines.update(100, "100 images", last=True) is False  # the last line once
    assert capsys.readouterr().out.splitlines() == [
        "hddm: fid reference statistics: 50 images, 0s elapsed",
        "hddm: fid reference statistics: 100 images, 1m15s elapsed",
        "hddm: fid reference statistics: 100 images, 1m15s elapsed, done",
    ]
