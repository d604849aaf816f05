"""The demo reads the table as it is at any moment, never only as it usually is."""

from __future__ import annotations

import json

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


def test_every_provider_declares_the_demo_its_sandbox_plays_through_every_route_it_has() -> None:
    """The demo's cases are the sandboxes' (SANDBOX.demo_cases): a provider added with its sandbox is
    in `make demo`, by upload too when it takes evidence."""
    from dispute_gateway.providers import registry
    from local.demo.__main__ import demo_cases
    from local.demo.cases import declared_cases
    from local.providers import sandbox_plugs

    declared = declared_cases()
    for name, spec in registry().items():
        if name not in sandbox_plugs():
            continue
        routes = {case.route for provider, case in declared if provider == name}
        assert {"api", "sqs"} <= routes, name
        if spec.evidence is not None:
            assert "s3" in routes, f"{name} takes evidence: its sandbox declares no demo case by upload"
        else:
            assert not [case for provider, case in declared if provider == name and case.evidence], name
    assert all(case.route in ("api", "sqs", "s3") for _, case in declared)
    references = [case.reference for _, case in declared]
    assert len(set(references)) == len(references)  # one live dispute per transaction
    assert len(demo_cases()) == len(declared)


def test_serve_writes_each_evidence_providers_sample_manifest_to_a_file_of_its_own(tmp_path) -> None:
    from dispute_gateway.providers import evidence_providers
    from local.serve.__main__ import _write_samples
    from local.serve.banner import RECEIPT, manifest_sample

    _write_samples(tmp_path)
    manifests = {manifest_sample(spec) for spec in evidence_providers().values()}
    assert {path.name for path in tmp_path.iterdir()} == {RECEIPT, *manifests}
    assert len(manifests) == len(evidence_providers())
    for name in manifests:
        assert isinstance(json.loads((tmp_path / name).read_text()), dict)
