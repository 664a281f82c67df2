"""The researchers' JSON/CSV API, ``/api/v1``, authenticated by personal bearer tokens."""
