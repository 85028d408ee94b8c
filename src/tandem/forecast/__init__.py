"""The forecast of period revenue, its backtest, and the early warnings drawn from pacing against the plan."""
