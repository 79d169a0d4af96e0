"""Terminal progress: one tqdm bar per training stage, with the running losses."""

from tqdm import tqdm

from zsl_app.core.training import Progress


class TqdmProgress:
    """A ProgressCallback that draws a tqdm bar for each stage it hears about."""

    def __init__(self, **tqdm_options):
        self.options = tqdm_options
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, p: Progress) -> None:
        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            self.bar = tqdm(total=p.total, desc=p.stage, dynamic_ncols=True, **self.options)
        self.bar.update(p.step - self.bar.n)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in p.losses.items()}, refresh=False)
        if p.step >= p.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = None
