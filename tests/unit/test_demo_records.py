"""The demo reads the table as it is at any moment, never only as it usually is."""

from __future__ import annotations

from local.demo.cases import records_by_reference


def test_a_record_caught_half_made_counts_as_not_there_yet() -> None:
    whole = {
        "dispute_id": {"S": "d-1"},
        "reference": {"S": "T-1"},
        "provider": {"S": "iimmpact"},
        "status": {"S": "submitted"},
    }
    # What moto's UpdateItem leaves for a moment when it creates an item: the key alone.
    half_made = {"dispute_id": {"S": "d-2"}}

    assert records_by_reference([whole, half_made]) == {
        "T-1": {"dispute_id": "d-1", "reference": "T-1", "provider": "iimmpact", "status": "submitted"}
    }


def test_the_demo_hides_addresses_with_the_mask_the_api_and_logs_use() -> None:
    from dispute_gateway.redaction import REDACTED
    from local.demo.report import masked

    assert masked("contact support@iimmpact.com") == f"contact {REDACTED}"


def test_the_demo_program_reads_no_function_configuration_before_the_functions_start() -> None:
    """Logger and Metrics read the function's environment when first imported: a program that
    imported them before the local stack's cold starts would leave every function without its
    service name and metrics namespace (and every metric failing)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = "import sys, local.demo, local.serve; print(sorted(m for m in sys.modules if m.endswith('observability')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
