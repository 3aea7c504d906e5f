from tests.records.conftest import changed  # noqa: F401  (fixture shared with the record tests)
