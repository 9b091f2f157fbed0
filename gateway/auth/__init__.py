"""Access tokens and the principals they stand for (admin, analyst, retailer bound to a seller TIN)."""
