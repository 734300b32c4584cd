"""The search master's progress bar: candidates final out of the budget, with the generation, tasks in
flight, failures and the best AP so far."""

import sys


class SearchProgressBar:
    """A tqdm bar, or nothing: mode "off", or "auto" when stderr is not a terminal (logs, CI)."""

    def __init__(self, mode, total, initial, desc):
        self._bar = None
        if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=initial, desc=desc, unit="arch", dynamic_ncols=True)

    @property
    def enabled(self):
        return self._bar is not None

    def update(self, done, generation, in_flight, failed, best_ap):
        if not self.enabled:
            return
        self._bar.n = done
        self._bar.set_postfix(
            gen=generation,
            in_flight=in_flight,
            failed=failed,
            best="-" if best_ap is None else f"{best_ap:.4f}",
            refresh=False,
        )
        self._bar.refresh()

    def close(self):
        if self._bar is not None:
            self._bar.close()
