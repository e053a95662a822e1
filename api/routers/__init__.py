"""One router module per resource group of the plan."""
