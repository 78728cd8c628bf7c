"""The service runtime: what every service process runs besides its own code.

Start-up gate and background work (`startup`), the loop threads (`threads`), JSON logs
(`logs`), tracing set-up (`telemetry`), metrics (`metrics`, `http_metrics`) and facts counted
after commit (`after_commit`). Depends on the contracts and the Kafka binding, never the
other way round.
"""
