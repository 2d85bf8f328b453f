"""Vendor status pages (`statuspage`) and cloud health feeds (`cloud_status`)."""
