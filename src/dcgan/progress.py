"""What a training run tells the user while it runs: the progress bar with its ETA (under a
time limit too), and one line at the start when the run will take over an hour."""

from __future__ import annotations

import sys
import time

UNBOUNDED = 2**62  # "no step limit": the run stops on its time limit or a signal
LONG_RUN_S = 3600  # a run expected to last longer is announced, with how to shorten it
ESTIMATE_AFTER_S = 20  # seconds of steps the announcement's rate is measured over


def duration(seconds: float) -> str:
    """3h 05m, 12m 30s, 40s."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """A tqdm bar over steps. With a time limit its total is the step the limit will be
    reached at, re-estimated from the measured rate, so the bar shows a real ETA."""

    def __init__(
        self,
        step: int,
        total: int,
        time_limit_s: float | None,
        elapsed_s: float,
        enabled: bool,
        announce: bool,
    ) -> None:
        from tqdm import tqdm

        self.total, self.time_limit_s = total, time_limit_s
        self.start_step, self.start_time, self.elapsed0 = step, time.monotonic(), elapsed_s
        self.announce = announce
        self.bar = tqdm(
            total=None if total >= UNBOUNDED else total,
            initial=step,
            disable=not enabled,
            unit="step",
            dynamic_ncols=True,
        )
        self._next_estimate = self.start_time + 1.0

    def elapsed(self) -> float:
        """Seconds of training in the whole run, earlier sessions included."""
        return self.elapsed0 + time.monotonic() - self.start_time

    def out_of_time(self) -> bool:
        return bool(self.time_limit_s) and self.elapsed() > self.time_limit_s

    def update(self, step: int) -> None:
        self.bar.update()
        now = time.monotonic()
        if now < self._next_estimate or step <= self.start_step:
            return
        self._next_estimate = now + 1.0
        per_step = (now - self.start_time) / (step - self.start_step)
        if self.time_limit_s:
            # tqdm's ETA divides by its smoothed rate: the total must come from the same rate
            # or the ETA overshoots the limit when the machine slows down.
            rate = None if self.bar.disable else self.bar.format_dict.get("rate")
            end = self.expected_end(step, 1 / rate if rate else per_step)
            if end != self.bar.total:
                self.bar.total = end
                self.bar.refresh()
        if self.announce and now - self.start_time >= ESTIMATE_AFTER_S:
            self.announce = False
            end = self.expected_end(step, per_step)
            left = (end - step) * per_step
            if self.elapsed() + left > LONG_RUN_S:
                self.note(
                    f"dcgan: at {per_step:.2g} s/step this run takes about "
                    f"{duration(self.elapsed() + left)} in all ({end - step:,} steps left); "
                    "--time-limit MINUTES or --steps N stop it sooner"
                )

    def rewind(self, step: int) -> None:
        """Back to `step` (a rollback): the bar and the rate restart there."""
        self.bar.n = self.bar.last_print_n = step
        self.elapsed0 = self.elapsed()
        self.start_step, self.start_time = step, time.monotonic()
        self.bar.refresh()

    def expected_end(self, step: int, per_step: float) -> int:
        """The step the run will stop at: its step limit, or where its time limit falls."""
        if not self.time_limit_s:
            return self.total
        left = max(self.time_limit_s - self.elapsed(), 0.0)
        return min(self.total, step + int(left / max(per_step, 1e-9)) + 1)

    def postfix(self, **values: str) -> None:
        self.bar.set_postfix(**values)

    def note(self, line: str) -> None:
        """One line on stderr that does not break the bar."""
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.out_of_time() and self.bar.total is not None:
            self.bar.total = self.bar.n  # stopped by the limit: here is the end
        self.bar.close()
