"""When an exploration stops: a validation MAPE target met, no better validation MAPE for
``patience`` rounds, or the simulation budget spent."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoppingRule:
    target_mape: float | None  # percent; None: no target
    patience: int              # rounds without a better validation MAPE
    max: int                   # simulations

    def reason(self, rounds: list[dict], simulations: int) -> str | None:
        """Why to stop after ``rounds`` (each with ``validation_mape_pct``) and
        ``simulations`` spent, or None to go on."""
        if not rounds:
            return None
        target = self.target_mape
        last = rounds[-1]["validation_mape_pct"]
        if target is not None and last <= target:
            return f"validation MAPE {last:.2f}% <= target {target:g}%"
        best_round = min(range(len(rounds)), key=lambda i: rounds[i]["validation_mape_pct"])
        if len(rounds) - 1 - best_round >= self.patience:
            return (f"validation MAPE has not improved for {self.patience} round(s) "
                    f"(best {rounds[best_round]['validation_mape_pct']:.2f}% in round "
                    f"{best_round})")
        if simulations >= self.max:
            missed = f"; target {target:g}% not met" if target is not None else ""
            return f"--max {self.max} simulations spent{missed}"
        return None  # (a space with no unsimulated point left stops in the loop)
