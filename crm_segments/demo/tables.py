"""The tables the demo loader writes and the column order of the row tuples the generator yields."""

from __future__ import annotations

# In foreign-key order: a table only refers to tables listed before it.
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "crm_profiles": (
        "id", "external_id", "owner_id", "first_name", "last_name", "email", "phone",
        "company", "job_title", "industry", "company_size", "annual_revenue",
        "birth_date", "gender", "income_band", "education", "occupation", "family_status", "interests",
        "city", "region", "country", "postal_code", "time_zone",
        "acquisition_source", "acquisition_channel", "acquisition_campaign", "lifecycle_status",
        "email_consent", "email_consent_at", "email_consent_source",
        "sms_consent", "sms_consent_at", "sms_consent_source",
        "custom_attributes", "created_at", "updated_at",
    ),
    "crm_quotes": (
        "id", "external_id", "profile_id", "number", "status", "total", "currency",
        "sent_at", "decided_at", "expires_at", "created_at", "updated_at",
    ),
    "crm_quote_lines": ("id", "quote_id", "product_id", "description", "quantity", "unit_price", "amount"),
    "crm_jobs": (
        "id", "external_id", "profile_id", "quote_id", "title", "status", "amount", "currency",
        "scheduled_at", "started_at", "finished_at", "created_at", "updated_at",
    ),
    "crm_job_lines": ("id", "job_id", "product_id", "description", "quantity", "unit_price", "amount"),
    "crm_opportunities": (
        "id", "external_id", "profile_id", "name", "stage", "value", "currency", "source",
        "expected_close", "closed_at", "created_at", "updated_at",
    ),
    "crm_support_tickets": (
        "id", "external_id", "profile_id", "subject", "body", "status", "priority",
        "opened_at", "closed_at", "created_at", "updated_at",
    ),
}

RECORD_TABLES = tuple(RECORD_COLUMNS)

# Columns holding JSON documents; COPY needs them serialised.
JSON_COLUMNS = {"crm_profiles": ("interests", "custom_attributes")}
