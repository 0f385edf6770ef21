"""What the routers call: validation and limits, the compute door, and the plans for runs, sweeps and tuning."""
