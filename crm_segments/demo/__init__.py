"""Demo data at scale: a deterministic generator of realistic CRM data and a bulk loader."""
