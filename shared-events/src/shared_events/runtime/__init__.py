"""What every service process runs besides its own code (HTTP plumbing shared by the three)."""
