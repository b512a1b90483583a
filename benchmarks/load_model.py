"""The shape of real-world load, shared by the benchmark driver and the sandbox process.

Two distributions, each drawn from a seeded `random.Random` so two runs see the same load:

- `ProviderProfile`: how late the provider answers (log-normal: a median and a 99th percentile,
  so most answers are quick and a few are very slow) and how often it fails (a 502 page or a
  429 with Retry-After, half each);
- `CodeDelays`: when, after the purchase, a number's SMS arrives: most within the fast window
  (log-normal around `fast_median`), a share later in the number's life, some never.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

LIFETIME = 1200.0  # seconds a number lives at the provider (the sandbox's default)
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def code_for(activation_id: str) -> str:
    """The code the sandbox sends to an activation: unique per activation within a run (seven
    digits, so no phone number or price in a message can be mistaken for it), found again in
    the text the bot sends to Telegram."""
    return str(1_000_000 + int(activation_id) % 9_000_000)


def sms_text(code: str) -> str:
    """The text of the SMS carrying `code`."""
    return f"Your code {code}"


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    median: float = 0.08
    p99: float = 0.4
    fault_rate: float = 0.01

    def delay(self, rng: random.Random) -> float:
        if self.median <= 0:
            return 0.0
        sigma = math.log(max(self.p99, self.median) / self.median) / Z99
        return rng.lognormvariate(math.log(self.median), sigma)


@dataclass(frozen=True, slots=True)
class CodeDelays:
    code_share: float = 0.9  # numbers that ever get an SMS
    fast_share: float = 0.85  # of those, the share arriving within the fast window
    fast_median: float = 25.0  # seconds after purchase, median of the fast ones
    fast_window: float = 120.0
    lifetime: float = LIFETIME

    def draw(self, rng: random.Random) -> float | None:
        """Seconds after the purchase when the SMS arrives, or None: no SMS ever."""
        if rng.random() >= self.code_share:
            return None
        if rng.random() < self.fast_share:
            # A log-normal whose 99th percentile sits at the window's end, cut to the window.
            sigma = math.log(self.fast_window / self.fast_median) / Z99
            return min(
                self.fast_window - 1.0, rng.lognormvariate(math.log(self.fast_median), sigma)
            )
        return rng.uniform(self.fast_window, self.lifetime - 5.0)
