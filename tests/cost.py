#!/usr/bin/env python3
"""What Buddo costs on AWS a month, and which Lambda memory size each function should have.

Inputs (tests/cost/): store-calls.json (DynamoDB calls per endpoint, counted by the test
suite), cpu.json (CPU time per request at one full vCPU), prices.json (every price, with its
source), profile.json (the default usage profile); and template.yaml (each function's
MemorySize, the secrets and alarms it declares).

    python3 tests/cost.py                      the monthly bill of the profile, line by line
    python3 tests/cost.py --mau 1000000        the same for another number of monthly users
    python3 tests/cost.py --per-user heartbeats=400 --rtt-ms 8
    python3 tests/cost.py --markdown           the README's bill table (10k, 100k, 1M MAU)
    python3 tests/cost.py memory [--markdown]  the memory-size model and its recommendations
    python3 tests/cost.py readme --write       rewrites the README's tables (between their
                                               marker comments) and template.yaml's MemorySize
                                               values from the inputs; --check: fails if stale

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "tests" / "cost"
README = ROOT / "README.md"
TEMPLATE = ROOT / "template.yaml"

# Lambda gives CPU in proportion to memory: one full vCPU at 1,769 MB. A request runs on one
# thread, so above that it gets no faster.
FULL_VCPU_MB = 1769
SIZES = [128, 256, 512, 1024, 1769, 2048, 3008]
# The rule that picks a MemorySize: the cheapest size at which every endpoint of the function
# is modelled within RULE_MS milliseconds or RULE_SHARE of its best latency, whichever is more.
RULE_MS = 2.0
RULE_SHARE = 0.10
README_MAUS = [10_000, 100_000, 1_000_000]
GIB = 1024**3


def load(name: str) -> dict:
    return json.loads((INPUTS / name).read_text())


# ------------------------------------------------------------------ template.yaml --


def read_template(text: str) -> dict:
    """Functions (by binary name without `buddo-`) with their MemorySize and whether they read
    a secret at start; the number of secrets and alarms. A line reader for this template's
    layout (two-space indents), not a YAML parser."""
    section, resources, params, global_memory = None, [], [], None
    for number, line in enumerate(text.splitlines()):
        if re.match(r"^\S", line):
            section = line.split(":")[0]
            continue
        if section == "Globals" and (m := re.match(r"^    MemorySize:\s*(\d+)", line)):
            global_memory = int(m[1])
        if section == "Parameters" and (m := re.match(r"^  (\w+):\s*$", line)):
            params.append(m[1])
        if section == "Resources":
            if m := re.match(r"^  (\w+):\s*$", line):
                resources.append({"name": m[1], "lines": []})
            elif resources:
                resources[-1]["lines"].append((number, line))
    functions, alarms, secrets = {}, 0, sum(p.endswith("SecretArn") for p in params)
    for res in resources:
        body = "\n".join(line for _, line in res["lines"])
        kind = re.search(r"^    Type:\s*(\S+)", body, re.M)
        kind = kind[1] if kind else ""
        if kind == "AWS::CloudWatch::Alarm":
            alarms += 1
        if kind == "AWS::SecretsManager::Secret":
            secrets += 1
        if kind != "AWS::Serverless::Function":
            continue
        binary = re.search(r"^        Binary:\s*buddo-(\S+)", body, re.M)
        memory = [(n, int(m[1])) for n, line in res["lines"]
                  if (m := re.match(r"^      MemorySize:\s*(\d+)", line))]
        functions[binary[1]] = {
            "resource": res["name"],
            "memory": memory[0][1] if memory else global_memory,
            "memory_line": memory[0][0] if memory else None,
            "reads_secret": bool(re.search(r"^          \w+_SECRET_ARN:", body, re.M)),
        }
    return {"functions": functions, "alarms": alarms, "secrets": secrets}


# ---------------------------------------------------------------------- the model --


def tiered(price: dict, quantity: float) -> float:
    """The price of `quantity` units of a (tiered) price of prices.json."""
    total, below = 0.0, 0.0
    for tier in price["tiers"]:
        top = math.inf if tier["up_to"] is None else tier["up_to"]
        total += max(0.0, min(quantity, top) - below) * tier["usd"] / price["per"]
        if quantity <= top:
            break
        below = top
    return total


def duration_ms(cpu_ms: float, memory_mb: int, wait_ms: float) -> float:
    """A request's modelled duration: its CPU time at the memory's share of a vCPU (never more
    than one), and the time it waits on DynamoDB (and SES)."""
    return cpu_ms * FULL_VCPU_MB / min(memory_mb, FULL_VCPU_MB) + wait_ms


class Model:
    def __init__(self, profile: dict, store: dict, cpu: dict, prices: dict, template: dict):
        self.profile, self.prices, self.template = profile, prices["prices"], template
        self.free = prices["free_tier"]
        # An endpoint's cases ("POST /api/oauth/token (refresh_token)") are endpoints of their own.
        self.store = {**store["endpoints"], **store.get("cases", {})}
        self.cpu = dict(cpu["endpoints"])
        # The mailer is no API endpoint: its store calls and CPU time are the profile's, read
        # from its code (shared/src/mail/mod.rs, deliver), not counted by tests/api/costs.rs.
        mail = profile["mail"]
        self.store[mail["endpoint"]] = {"function": mail["function"], **mail["store_calls"]}
        self.cpu[mail["endpoint"]] = {"function": mail["function"], "cpu_ms": mail["cpu_ms"]}
        # Nor are the scheduled renewals: each is modelled as one piece of the billing
        # function's work, from its code (shared/src/domain/billing/renewals.rs).
        # And the live streams, whose duration is wall time (a stream holds its function while
        # it lasts), from their code (functions/stream/src/lib.rs). And the webhook events, each
        # fanned out by one invocation of the webhooks function (shared/src/domain/webhooks).
        self.wall_ms: dict[str, float] = {}
        # Neither goes through API Gateway (a schedule; a Function URL).
        self.off_api = {mail["endpoint"]}
        for name in ("renewals", "streams", "webhooks"):
            extra = profile.get(name)
            if extra:
                self.off_api.add(extra["endpoint"])
                self.store[extra["endpoint"]] = {"function": extra["function"], **extra["store_calls"]}
                self.cpu[extra["endpoint"]] = {"function": extra["function"], "cpu_ms": extra["cpu_ms"]}
                if "wall_ms" in extra:
                    self.wall_ms[extra["endpoint"]] = extra["wall_ms"]
        self.sources = {"Store calls": store.get("counted", "not stated"), "CPU times": cpu.get("measured", "not stated")}
        self.params = profile["model"]

    @classmethod
    def from_files(cls, profile: dict | None = None) -> "Model":
        return cls(profile or load("profile.json"), load("store-calls.json"), load("cpu.json"),
                   load("prices.json"), read_template(TEMPLATE.read_text()))

    def wait_ms(self, endpoint: str) -> float:
        wait = self.store[endpoint]["rounds"] * self.params["dynamodb_round_trip_ms"]
        if endpoint == self.profile["mail"]["endpoint"]:
            wait += self.profile["mail"]["ses_send_ms"]
        return wait

    def latency_ms(self, endpoint: str, memory_mb: int) -> float:
        if endpoint in self.wall_ms:
            return self.wall_ms[endpoint]
        return duration_ms(self.cpu_ms(endpoint), memory_mb, self.wait_ms(endpoint))

    def cpu_ms(self, endpoint: str) -> float:
        """The endpoint's CPU time; a case without a figure of its own ("… (paid click)") takes
        its endpoint's, which the benchmark measured in that case's state."""
        entry = self.cpu.get(endpoint) or self.cpu[endpoint.split(" (")[0]]
        return entry["cpu_ms"]

    def gb_seconds(self, endpoint: str, memory_mb: int) -> float:
        """GB-seconds of one request: duration billed per started millisecond."""
        return memory_mb / 1024 * math.ceil(self.latency_ms(endpoint, memory_mb)) / 1000

    def init_gb_seconds(self, function: str, memory_mb: int) -> float:
        """GB-seconds of one cold start's init phase (billed)."""
        wait = self.params["secret_read_ms"] if self.template["functions"][function]["reads_secret"] else 0
        return memory_mb / 1024 * math.ceil(duration_ms(self.params["init_cpu_ms"], memory_mb, wait)) / 1000

    # ------------------------------------------------------------------ the bill --

    def requests(self, mau: float, identity_only: bool = False) -> dict[str, float]:
        """Requests a month per endpoint (the mailer's invocations under its event)."""
        counts: dict[str, float] = {}
        mails = 0.0
        for activity in self.profile["activities"].values():
            if identity_only and not activity["identity"]:
                continue
            n = mau * activity["per_user"]
            counts[activity["endpoint"]] = counts.get(activity["endpoint"], 0.0) + n
            mails += n * activity.get("mails", 0)
        for name in ("renewals", "streams", "webhooks"):
            extra = self.profile.get(name)
            if extra and not identity_only:
                n = mau * extra["per_user"]
                counts[extra["endpoint"]] = n
                mails += n * extra.get("mails", 0)
        counts[self.profile["mail"]["endpoint"]] = mails
        return counts

    def bill(self, mau: float, identity_only: bool = False) -> dict:
        p, prm, tpl = self.prices, self.params, self.template
        counts = self.requests(mau, identity_only)
        mail_endpoint = self.profile["mail"]["endpoint"]
        api = sum(n for e, n in counts.items() if e not in self.off_api)
        invocations = sum(counts.values())
        per_function: dict[str, dict] = {}
        rru = wru = secret_calls = 0.0
        for endpoint, n in counts.items():
            function = self.store[endpoint]["function"]
            memory = tpl["functions"][function]["memory"]
            f = per_function.setdefault(function, {"invocations": 0.0, "gb_s": 0.0, "memory": memory})
            f["invocations"] += n
            f["gb_s"] += n * self.gb_seconds(endpoint, memory)
            rru += n * self.store[endpoint]["read_units"]
            wru += n * self.store[endpoint]["write_units"]
        for function, f in per_function.items():
            cold = f["invocations"] * prm["cold_start_share"]
            f["gb_s"] += cold * self.init_gb_seconds(function, f["memory"])
            if tpl["functions"][function]["reads_secret"]:
                secret_calls += cold
        gb_s = sum(f["gb_s"] for f in per_function.values())
        storage_gb = mau * prm["stored_kb_per_user"] * 1024 / GIB
        logs_gb = invocations * prm["log_bytes_per_request"] / GIB
        logs_kept_gb = logs_gb * prm["log_compression"] * prm["log_months_kept"]
        mails = counts[mail_endpoint]
        lines = [
            ("API Gateway HTTP API requests", f"{api / 1e6:,.2f} M requests",
             tiered(p["api_gateway_http_request"], api)),
            ("Lambda requests", f"{invocations / 1e6:,.2f} M invocations",
             tiered(p["lambda_request"], invocations)),
            ("Lambda compute (arm64)", f"{gb_s:,.0f} GB-s", tiered(p["lambda_gb_second_arm64"], gb_s)),
            ("DynamoDB reads", f"{rru / 1e6:,.2f} M read units", tiered(p["dynamodb_read_request_unit"], rru)),
            ("DynamoDB writes", f"{wru / 1e6:,.2f} M write units", tiered(p["dynamodb_write_request_unit"], wru)),
            ("DynamoDB storage", f"{storage_gb:,.2f} GB", tiered(p["dynamodb_storage"], storage_gb)),
            ("DynamoDB point-in-time recovery", f"{storage_gb:,.2f} GB", tiered(p["dynamodb_pitr"], storage_gb)),
            ("DynamoDB Streams (read by the mailer's trigger: free)", f"{mails:,.0f} records", 0.0),
            ("SES mail", f"{mails:,.0f} mails", tiered(p["ses_outbound_mail"], mails)),
            ("CloudWatch Logs ingestion", f"{logs_gb:,.2f} GB", tiered(p["cloudwatch_logs_ingestion"], logs_gb)),
            ("CloudWatch Logs storage", f"{logs_kept_gb:,.2f} GB", tiered(p["cloudwatch_logs_storage"], logs_kept_gb)),
            ("CloudWatch alarms", f"{tpl['alarms']} alarms", tiered(p["cloudwatch_alarm"], tpl["alarms"])),
            ("Secrets Manager", f"{tpl['secrets']} secrets, {secret_calls:,.0f} reads",
             tiered(p["secrets_manager_secret"], tpl["secrets"])
             + tiered(p["secrets_manager_api_call"], secret_calls)),
        ]
        total = sum(usd for _, _, usd in lines)
        lambda_request_price = tiered(p["lambda_request"], 1)
        free = (min(invocations, self.free["lambda_requests"]["amount"]) * lambda_request_price
                + tiered(p["lambda_gb_second_arm64"], min(gb_s, self.free["lambda_gb_seconds"]["amount"]))
                + tiered(p["dynamodb_storage"], min(storage_gb, self.free["dynamodb_storage_gb"]["amount"]))
                + tiered(p["cloudwatch_logs_ingestion"], min(logs_gb, self.free["cloudwatch_logs_gb"]["amount"]))
                + tiered(p["cloudwatch_alarm"], min(tpl["alarms"], self.free["cloudwatch_alarms"]["amount"])))
        return {
            "mau": mau, "api_requests": api, "lines": lines, "total": total,
            "per_function": per_function, "always_free": free,
            "cognito_lite": tiered(p["cognito_lite_mau"], mau),
            "cognito_essentials": tiered(p["cognito_essentials_mau"], mau),
        }

    # ------------------------------------------------------------ memory sizes --

    def function_endpoints(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for endpoint, entry in self.cpu.items():
            out.setdefault(entry["function"], []).append(endpoint)
        return out

    def mix(self, function: str, endpoints: list[str]) -> dict[str, float]:
        """The profile's shares of the function's requests (equal shares when the profile
        sends it none)."""
        counts = self.requests(1)
        weights = {e: counts.get(e, 0.0) for e in endpoints}
        total = sum(weights.values())
        if total == 0:
            return {e: 1 / len(endpoints) for e in endpoints}
        return {e: w / total for e, w in weights.items()}

    def cost_per_million(self, function: str, endpoints: list[str], memory_mb: int) -> float:
        """Lambda's price of a million requests of the function's mix at this size."""
        request = tiered(self.prices["lambda_request"], 1e6)
        gb_s = sum(share * self.gb_seconds(e, memory_mb) for e, share in self.mix(function, endpoints).items())
        return request + tiered(self.prices["lambda_gb_second_arm64"], gb_s * 1e6)

    def memory(self) -> list[dict]:
        rows = []
        for function in sorted(self.function_endpoints()):
            endpoints = sorted(self.function_endpoints()[function])
            best = {e: min(self.latency_ms(e, s) for s in SIZES) for e in endpoints}
            sizes = []
            for size in SIZES:
                within = all(self.latency_ms(e, size) <= best[e] + max(RULE_MS, RULE_SHARE * best[e])
                             for e in endpoints)
                sizes.append({"memory": size, "within": within,
                              "cost": self.cost_per_million(function, endpoints, size)})
            chosen = min((s for s in sizes if s["within"]), key=lambda s: (round(s["cost"], 6), s["memory"]))
            decider = max(endpoints, key=lambda e: (self.cpu[e]["cpu_ms"], e))
            for s in sizes:
                s["latency"] = self.latency_ms(decider, s["memory"])
            rows.append({"function": function, "endpoints": endpoints, "decider": decider,
                         "sizes": sizes, "recommended": chosen["memory"],
                         "template": self.template["functions"].get(function, {}).get("memory")})
        return rows


# ------------------------------------------------------------------------ output --


def usd(x: float) -> str:
    return f"${x:,.2f}"


def text_bill(model: Model, mau: float) -> str:
    b = model.bill(mau)
    ident = model.bill(mau, identity_only=True)
    out = [f"Buddo on AWS (us-east-1), one month, {mau:,.0f} monthly active users, "
           f"{b['api_requests'] / 1e6:,.2f} M API requests", ""]
    width = max(len(label) for label, _, _ in b["lines"]) + 2
    for label, qty, cost in b["lines"]:
        out.append(f"  {label:<{width}}{qty:>28}  {usd(cost):>12}")
        if label.startswith("Lambda compute"):
            for function, f in sorted(b["per_function"].items()):
                name = f"{function} ({f['memory']} MB)"
                out.append(f"    {name:<{width - 2}}{f['gb_s']:>26,.0f} GB-s  "
                           f"{usd(tiered(model.prices['lambda_gb_second_arm64'], f['gb_s'])):>12}")
    out += [
        "",
        f"  {'total':<{width}}{'':>28}  {usd(b['total']):>12}",
        f"  {'per monthly active user':<{width}}{'':>28}  {'$' + format(b['total'] / mau, '.5f'):>12}",
        f"  {'of which identity (what Cognito would do)':<{width}}{'':>28}  {usd(ident['total']):>12}",
        f"  {'always-free tiers, not applied':<{width}}{'':>28}  {'-' + usd(b['always_free']):>12}",
        "",
        f"  {'Cognito Lite, same MAU':<{width}}{'':>28}  {usd(b['cognito_lite']):>12}",
        f"  {'Cognito Essentials, same MAU':<{width}}{'':>28}  {usd(b['cognito_essentials']):>12}",
    ]
    return "\n".join(out) + "\n"


def markdown_profile(model: Model) -> str:
    out = ["| activity | endpoint | per user a month | identity | function |", "|---|---|---|---|---|"]
    for name, a in model.profile["activities"].items():
        fn = model.store[a["endpoint"]]["function"]
        out.append(f"| {name} | `{a['endpoint']}` | {a['per_user']:g} | {'yes' if a['identity'] else 'no'} | {fn} |")
    mails = model.requests(1)[model.profile["mail"]["endpoint"]]
    out.append(f"| mail sent | `{model.profile['mail']['endpoint']}` (SES) | {mails:g} | yes | mailer |")
    prm = model.params
    out += ["",
            f"Model: a DynamoDB round trip takes {prm['dynamodb_round_trip_ms']:g} ms; "
            f"{prm['cold_start_share'] * 100:g} % of invocations start an instance "
            f"({prm['init_cpu_ms']:g} ms of CPU, and a {prm['secret_read_ms']:g} ms secret read in the functions that read one); "
            f"{prm['log_bytes_per_request']:g} log bytes a request, kept {prm['log_months_kept']:g} month "
            f"at {prm['log_compression'] * 100:g} % compressed; {prm['stored_kb_per_user']:g} KB stored per monthly user; "
            f"SES answers in {model.profile['mail']['ses_send_ms']:g} ms."]
    out += [""] + [f"{name}: {source}." for name, source in model.sources.items()]
    return "\n".join(out) + "\n"


def markdown_bill(model: Model) -> str:
    bills = [model.bill(m) for m in README_MAUS]
    idents = [model.bill(m, identity_only=True) for m in README_MAUS]
    head = "| a month | " + " | ".join(f"{m:,} MAU" for m in README_MAUS) + " |"
    out = [head, "|---|" + "---:|" * len(README_MAUS)]
    out.append("| API requests | " + " | ".join(f"{b['api_requests'] / 1e6:,.1f} M" for b in bills) + " |")
    for i, (label, _, _) in enumerate(bills[0]["lines"]):
        out.append(f"| {label} | " + " | ".join(usd(b["lines"][i][2]) for b in bills) + " |")
    out.append("| **total** | " + " | ".join(f"**{usd(b['total'])}**" for b in bills) + " |")
    out.append("| per MAU | " + " | ".join(f"${b['total'] / b['mau']:.5f}" for b in bills) + " |")
    out.append("| of which identity (what Cognito would do) | " + " | ".join(usd(b["total"]) for b in idents) + " |")
    out.append("| always-free tiers (not applied above) | " + " | ".join("−" + usd(b["always_free"]) for b in bills) + " |")
    out.append("| **Cognito Lite** (sign-in only) | " + " | ".join(f"**{usd(b['cognito_lite'])}**" for b in bills) + " |")
    out.append("| **Cognito Essentials** (sign-in only) | " + " | ".join(f"**{usd(b['cognito_essentials'])}**" for b in bills) + " |")
    b, i = bills[1], idents[1]
    out += ["",
            f"At {b['mau']:,.0f} monthly active users the profile costs {usd(b['total'])} a month "
            f"(${b['total'] / b['mau']:.4f} a user), points, sessions and ads included; its identity part "
            f"costs {usd(i['total'])}, which is {i['total'] / b['cognito_lite'] * 100:.0f} % of what Cognito Lite "
            f"charges for the same users ({usd(b['cognito_lite'])}) and {i['total'] / b['cognito_essentials'] * 100:.0f} % "
            f"of Essentials ({usd(b['cognito_essentials'])})."]
    return "\n".join(out) + "\n"


def markdown_memory(model: Model) -> str:
    rows = model.memory()
    out = ["| function | endpoint that decides | " + " | ".join(f"{s} MB" for s in SIZES) + " | MemorySize |",
           "|---|---|" + "---:|" * len(SIZES) + "---:|"]
    for r in rows:
        cells = []
        for s in r["sizes"]:
            cell = f"{s['latency']:.1f} ms · ${s['cost']:.2f}"
            cells.append(f"**{cell}**" if s["memory"] == r["recommended"] else cell)
        out.append(f"| {r['function']} | `{r['decider']}` | " + " | ".join(cells) + f" | {r['recommended']} |")
    out += ["",
            f"Each cell: the modelled latency of the function's dearest endpoint in CPU, and Lambda's price of a "
            f"million requests of the function's mix in the default profile (requests and GB-seconds; equal shares "
            f"of its endpoints when the profile sends it none). Rule: the cheapest size at which every endpoint of "
            f"the function is modelled within {RULE_MS:g} ms or {RULE_SHARE * 100:g} % (whichever is more) of its "
            f"best latency (in bold)."]
    return "\n".join(out) + "\n"


def text_memory(model: Model) -> str:
    out = []
    for r in model.memory():
        out.append(f"{r['function']}: recommended {r['recommended']} MB (template.yaml: {r['template']} MB); "
                   f"latency of {r['decider']} / $ per million requests")
        for s in r["sizes"]:
            mark = "ok" if s["within"] else "  "
            out.append(f"  {s['memory']:>5} MB  {s['latency']:8.1f} ms  ${s['cost']:8.2f}  {mark}")
        for e in r["endpoints"]:
            out.append(f"    {e}: " + ", ".join(f"{model.latency_ms(e, s):.1f}" for s in SIZES) + " ms")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------- README blocks --

BLOCKS = {"profile": markdown_profile, "bill": markdown_bill, "memory": markdown_memory}


def marker(name: str) -> tuple[str, str]:
    return f"<!-- cost.py {name} -->\n", f"<!-- /cost.py {name} -->"


def readme_with_blocks(readme: str, model: Model) -> str:
    for name, render in BLOCKS.items():
        start, end = marker(name)
        i, j = readme.find(start), readme.find(end)
        if i < 0 or j < i:
            raise SystemExit(f"README.md has no block {start.strip()} … {end}")
        readme = readme[: i + len(start)] + render(model) + readme[j:]
    return readme


def template_with_memory(template: str, model: Model) -> str:
    lines = template.splitlines(keepends=True)
    for r in model.memory():
        fn = model.template["functions"].get(r["function"])
        if fn is None or fn["memory_line"] is None:
            raise SystemExit(f"template.yaml: function {r['function']} has no MemorySize line of its own")
        lines[fn["memory_line"]] = re.sub(r"\d+", str(r["recommended"]), lines[fn["memory_line"]], count=1)
    return "".join(lines)


def readme_command(model: Model, write: bool, check: bool) -> int:
    readme, template = README.read_text(), TEMPLATE.read_text()
    new_template = template_with_memory(template, model)
    # The bill prices each function at the template's MemorySize: the template as written.
    model.template = read_template(new_template)
    new_readme = readme_with_blocks(readme, model)
    if write:
        README.write_text(new_readme)
        TEMPLATE.write_text(new_template)
        print("README.md " + ("rewritten" if new_readme != readme else "unchanged")
              + "; template.yaml " + ("rewritten" if new_template != template else "unchanged"))
        return 0
    if check:
        stale = [name for name, old, new in (("README.md", readme, new_readme), ("template.yaml", template, new_template))
                 if old != new]
        if stale:
            print(f"stale: {', '.join(stale)}; run python3 tests/cost.py readme --write", file=sys.stderr)
            return 1
        return 0
    for name, render in BLOCKS.items():
        print(f"{marker(name)[0]}{render(model)}{marker(name)[1]}\n")
    return 0


# --------------------------------------------------------------------------- CLI --


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="bill", choices=["bill", "memory", "readme"])
    parser.add_argument("--profile", type=Path, default=INPUTS / "profile.json")
    parser.add_argument("--mau", type=float, help="monthly active users (default: the profile's)")
    parser.add_argument("--rtt-ms", type=float, help="DynamoDB round trip in ms (default: the profile's)")
    parser.add_argument("--per-user", action="append", default=[], metavar="ACTIVITY=N",
                        help="requests per user a month of one activity of the profile")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=X",
                        help="a model parameter of the profile, e.g. log_bytes_per_request=400")
    parser.add_argument("--markdown", action="store_true", help="the README's table(s)")
    parser.add_argument("--write", action="store_true", help="readme: rewrite README.md and template.yaml")
    parser.add_argument("--check", action="store_true", help="readme: fail when they are stale")
    args = parser.parse_args(argv)
    profile = json.loads(args.profile.read_text())
    if args.rtt_ms is not None:
        profile["model"]["dynamodb_round_trip_ms"] = args.rtt_ms
    for item in args.per_user:
        name, _, value = item.rpartition("=")
        if name not in profile["activities"]:
            parser.error(f"no activity {name!r}; the profile has: {', '.join(profile['activities'])}")
        profile["activities"][name]["per_user"] = float(value)
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in profile["model"] or name == "why":
            parser.error(f"no model parameter {name!r}")
        profile["model"][name] = float(value)
    model = Model.from_files(copy.deepcopy(profile))
    if args.mode == "readme":
        return readme_command(model, args.write, args.check)
    if args.mode == "memory":
        print(markdown_memory(model) if args.markdown else text_memory(model), end="")
        return 0
    if args.markdown:
        print(markdown_bill(model), end="")
    else:
        print(text_bill(model, args.mau if args.mau is not None else profile["mau"]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
