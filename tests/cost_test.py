#!/usr/bin/env python3
"""Keeps the cost model honest (run by tests/run.sh before the Rust tests; about a second):
the script runs on the committed inputs, every endpoint the profile names has its store calls
and CPU time, the README's cost and memory tables and template.yaml's MemorySize values are
what the script gives today, and the model's arithmetic does what README says.

    python3 tests/cost_test.py [-v]
"""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # noqa: E402

SCRIPT = Path(cost.__file__)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=30)


class CommittedInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.profile = cost.load("profile.json")
        cls.prices = cost.load("prices.json")
        cls.template = cost.read_template(cost.TEMPLATE.read_text())
        cls.model = cost.Model.from_files()
        # The endpoints and their cases, and the mailer's event from the profile.
        cls.store, cls.cpu = cls.model.store, cls.model.cpu

    def test_the_script_runs_on_them(self):
        done = run("--mau", "1000000", "--rtt-ms", "8")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("1,000,000 monthly active users", done.stdout)
        for args in [(), ("--markdown",), ("memory",), ("memory", "--markdown"), ("readme",),
                     ("--per-user", "heartbeats=0", "--set", "log_bytes_per_request=400")]:
            with self.subTest(args=args):
                out = io.StringIO()
                with redirect_stdout(out):
                    self.assertEqual(cost.main(list(args)), 0)
                self.assertTrue(out.getvalue().strip())

    def test_every_endpoint_of_the_profile_has_store_calls_and_cpu_time(self):
        endpoints = [a["endpoint"] for a in self.profile["activities"].values()]
        endpoints.append(self.profile["mail"]["endpoint"])
        for endpoint in endpoints:
            with self.subTest(endpoint=endpoint):
                self.assertIn(endpoint, self.store, "missing in tests/cost/store-calls.json")
                measured = endpoint if endpoint in self.cpu else endpoint.split(" (")[0]
                self.assertIn(measured, self.cpu, "missing in tests/cost/cpu.json")
                self.assertEqual(self.store[endpoint]["function"], self.cpu[measured]["function"])

    def test_every_endpoint_belongs_to_a_function_of_the_template(self):
        for name, entries in (("store-calls.json", self.store), ("cpu.json", self.cpu)):
            for endpoint, entry in entries.items():
                with self.subTest(file=name, endpoint=endpoint):
                    self.assertIn(entry["function"], self.template["functions"])

    def test_store_calls_are_consistent(self):
        fields = {"function", "rounds", "get", "query", "writes", "items_written", "read_units", "write_units"}
        for endpoint, e in self.store.items():
            with self.subTest(endpoint=endpoint):
                self.assertEqual(set(e), fields)
                calls = e["get"] + e["query"] + e["writes"]
                self.assertLessEqual(e["rounds"], calls, "a round is at least one call")
                self.assertEqual(e["rounds"] == 0, calls == 0)
                self.assertGreaterEqual(e["items_written"], e["writes"])
                # Every item written costs a unit at least; every (strongly consistent) GetItem too.
                self.assertGreaterEqual(e["write_units"], e["items_written"])
                self.assertGreaterEqual(e["read_units"], e["get"])
        for endpoint, e in self.cpu.items():
            with self.subTest(endpoint=endpoint):
                self.assertEqual(set(e), {"function", "cpu_ms"})
                self.assertGreater(e["cpu_ms"], 0)

    def test_every_price_has_a_source_and_dates(self):
        self.assertEqual(self.prices["region"], "us-east-1")
        self.assertRegex(self.prices["recorded"], r"^\d{4}-\d{2}-\d{2}$")
        for name, price in self.prices["prices"].items():
            with self.subTest(price=name):
                self.assertTrue(price["source"].startswith("https://aws.amazon.com/"))
                self.assertIn("published", price)
                self.assertIsNone(price["tiers"][-1]["up_to"], "the last tier has no bound")
        for name, free in self.prices["free_tier"].items():
            with self.subTest(free_tier=name):
                self.assertTrue(free["source"].startswith("https://aws.amazon.com/"))

    def test_the_readme_tables_are_what_the_script_prints(self):
        readme = cost.README.read_text()
        self.assertEqual(cost.readme_with_blocks(readme, self.model), readme,
                         "README.md is stale: run python3 tests/cost.py readme --write")

    def test_the_template_memory_sizes_are_the_models(self):
        for row in self.model.memory():
            with self.subTest(function=row["function"]):
                fn = self.template["functions"][row["function"]]
                self.assertIsNotNone(fn["memory_line"], "each function sets its own MemorySize")
                self.assertEqual(fn["memory"], row["recommended"],
                                 "template.yaml is stale: run python3 tests/cost.py readme --write")
        template = cost.TEMPLATE.read_text()
        self.assertEqual(cost.template_with_memory(template, self.model), template)

    def test_every_function_of_the_template_is_modelled(self):
        self.assertEqual(set(self.template["functions"]), {r["function"] for r in self.model.memory()})


class Staleness(unittest.TestCase):
    """The checks above fail when a number changes."""

    def setUp(self):
        self.model = cost.Model.from_files()

    def test_a_changed_figure_in_the_readme_is_rewritten(self):
        readme = cost.README.read_text()
        start = readme.index(cost.marker("bill")[0])
        tampered = readme[:start] + readme[start:].replace("| **total** | **$", "| **total** | **$1", 1)
        self.assertNotEqual(tampered, readme)
        self.assertEqual(cost.readme_with_blocks(tampered, self.model), readme)

    def test_a_changed_input_changes_the_tables(self):
        profile = copy.deepcopy(self.model.profile)
        profile["activities"]["heartbeats"]["per_user"] *= 2
        other = cost.Model.from_files(profile)
        readme = cost.README.read_text()
        self.assertNotEqual(cost.readme_with_blocks(readme, other), readme)

    def test_a_changed_memory_size_is_rewritten(self):
        template = cost.TEMPLATE.read_text()
        auth = self.model.template["functions"]["auth"]["memory_line"]
        lines = template.splitlines(keepends=True)
        lines[auth] = lines[auth].replace("MemorySize: ", "MemorySize: 9")
        self.assertEqual(cost.template_with_memory("".join(lines), self.model), template)

    def test_check_mode_fails_on_a_stale_readme(self):
        original = cost.README.read_text

        def tampered(*args, **kwargs):
            return original(*args, **kwargs).replace("| per MAU | $", "| per MAU | $9", 1)

        saved = cost.README
        try:
            cost.README = _FakePath(tampered(), saved)
            with redirect_stderr(io.StringIO()) as err:
                self.assertEqual(cost.readme_command(self.model, write=False, check=True), 1)
            self.assertIn("README.md", err.getvalue())
        finally:
            cost.README = saved


class _FakePath:
    def __init__(self, text, real):
        self.text, self.real = text, real

    def read_text(self):
        return self.text

    def write_text(self, _):
        raise AssertionError("check mode must not write")


class Arithmetic(unittest.TestCase):
    def setUp(self):
        self.prices = cost.load("prices.json")["prices"]

    def test_cpu_scales_with_memory_up_to_one_vcpu(self):
        self.assertAlmostEqual(cost.duration_ms(10, 1769, 0), 10)
        self.assertAlmostEqual(cost.duration_ms(10, 1769 / 2, 0), 20)
        self.assertAlmostEqual(cost.duration_ms(10, 3008, 0), 10, msg="no faster above one vCPU")
        self.assertAlmostEqual(cost.duration_ms(10, 128, 5), 10 * 1769 / 128 + 5)

    def test_tiered_prices(self):
        lite, essentials = self.prices["cognito_lite_mau"], self.prices["cognito_essentials_mau"]
        self.assertEqual(cost.tiered(lite, 10_000), 0)
        self.assertAlmostEqual(cost.tiered(lite, 100_000), 90_000 * 0.0055)
        self.assertAlmostEqual(cost.tiered(lite, 1_000_000), 90_000 * 0.0055 + 900_000 * 0.0046)
        self.assertAlmostEqual(cost.tiered(essentials, 100_000), 90_000 * 0.015)
        api = self.prices["api_gateway_http_request"]
        self.assertAlmostEqual(cost.tiered(api, 400e6), 300 * 1.00 + 100 * 0.90)

    def test_duration_is_billed_per_started_millisecond(self):
        model = cost.Model.from_files()
        endpoint = "GET /api/auth/me"
        latency = model.latency_ms(endpoint, 1024)
        self.assertNotEqual(latency, int(latency))
        self.assertAlmostEqual(model.gb_seconds(endpoint, 1024), 1.0 * -(-latency // 1) / 1000)

    def test_the_bill_adds_up_and_scales(self):
        model = cost.Model.from_files()
        small, large = model.bill(10_000), model.bill(100_000)
        self.assertAlmostEqual(small["total"], sum(usd for _, _, usd in small["lines"]))
        self.assertGreater(large["total"], 9 * small["total"])
        self.assertLess(model.bill(100_000, identity_only=True)["total"], large["total"])

    def test_transactional_write_units_reach_the_bill(self):
        profile = cost.load("profile.json")
        for activity in profile["activities"].values():
            activity["per_user"] = 0
        profile["activities"]["logins"]["per_user"] = 1
        profile.pop("renewals")
        profile.pop("streams")
        profile.pop("webhooks")
        model = cost.Model.from_files(profile)
        writes = dict((label, usd) for label, _, usd in model.bill(1_000_000)["lines"])["DynamoDB writes"]
        units = model.store["POST /api/auth/login"]["write_units"]
        self.assertAlmostEqual(writes, 1_000_000 * units * 0.625 / 1e6)

    def test_renewals_are_the_billing_functions_work_and_each_mails(self):
        profile = cost.load("profile.json")
        for activity in profile["activities"].values():
            activity["per_user"] = 0
        model = cost.Model.from_files(profile)
        counts = model.requests(1_000_000)
        renewals = profile["renewals"]
        self.assertAlmostEqual(counts[renewals["endpoint"]], 1_000_000 * renewals["per_user"])
        self.assertAlmostEqual(counts[profile["mail"]["endpoint"]], 1_000_000 * renewals["per_user"])
        self.assertEqual(model.bill(1_000_000)["api_requests"], 0)
        self.assertIn("billing", model.bill(1_000_000)["per_function"])
        self.assertNotIn(renewals["endpoint"], model.requests(1_000_000, identity_only=True))

    def test_a_stream_is_billed_for_as_long_as_it_lasts(self):
        model = cost.Model.from_files()
        streams = cost.load("profile.json")["streams"]
        for memory in (128, 1024):
            self.assertEqual(model.latency_ms(streams["endpoint"], memory), streams["wall_ms"])
        self.assertAlmostEqual(model.gb_seconds(streams["endpoint"], 128), 128 / 1024 * 600)

    def test_command_line_overrides(self):
        out = io.StringIO()
        with redirect_stdout(out):
            cost.main(["--mau", "20000"])
        self.assertIn("20,000 monthly active users", out.getvalue())
        with redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            cost.main(["--per-user", "no such activity=3"])
        with redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            cost.main(["--set", "no_such_parameter=3"])

    def test_the_rule_gives_cpu_bound_functions_a_full_vcpu_and_waiting_ones_little(self):
        store = {"endpoints": {
            "POST /hash": {"function": "auth", "rounds": 2, "get": 1, "query": 0, "writes": 1,
                           "items_written": 1, "read_units": 1, "write_units": 1},
            "GET /wait": {"function": "user", "rounds": 3, "get": 3, "query": 0, "writes": 0,
                          "items_written": 0, "read_units": 3, "write_units": 0},
        }}
        cpu = {"endpoints": {"POST /hash": {"function": "auth", "cpu_ms": 12},
                             "GET /wait": {"function": "user", "cpu_ms": 0.05}}}
        profile = cost.load("profile.json")
        # The mailer's figures are the profile's.
        profile["mail"]["store_calls"] = {"rounds": 2, "get": 0, "query": 0, "writes": 2,
                                          "items_written": 2, "read_units": 0, "write_units": 2}
        profile["mail"]["cpu_ms"] = 0.05
        profile.pop("renewals")
        profile.pop("streams")
        profile.pop("webhooks")
        profile["activities"] = {"a": {"endpoint": "POST /hash", "per_user": 1, "identity": True},
                                 "b": {"endpoint": "GET /wait", "per_user": 1, "identity": True}}
        template = {"functions": {f: {"memory": 256, "memory_line": 0, "reads_secret": False}
                                  for f in ("auth", "user", "mailer")}, "alarms": 0, "secrets": 0}
        model = cost.Model(profile, store, cpu, cost.load("prices.json"), template)
        chosen = {r["function"]: r["recommended"] for r in model.memory()}
        self.assertEqual(chosen, {"auth": 1769, "user": 128, "mailer": 128})


if __name__ == "__main__":
    unittest.main()
