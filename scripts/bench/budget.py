"""Per-request budget from callgrind files (scripts/bench-count.sh): the
instructions of each step of a proxied request, from the inclusive cost of
the functions that do it, divided by the number of requests counted.

    python3 scripts/bench/budget.py REQUESTS NAME=callgrind.out [NAME=callgrind.out ...]

A step whose functions the compiler inlined into their caller is counted in
"the rest" (hyper's dispatch, socket reads and writes, tokio's wake-ups,
timers, moves of futures)."""
import collections
import re
import sys

# Each step lists the functions of hyper's path and of Portico's own
# HTTP/1.1 path (src/proxy/plain.rs, src/http1) that do it.
STEPS = [
    ("parse the request head", [r"^<hyper::proto::h1::role::Server as .*Http1Transaction>::parse$",
                                r"^portico::http1::request::parse$", r"^portico::http1::head_end$"]),
    ("route: path, host, matchers", [r"^portico::proxy::Gateway::route$", r"^portico::routing::path::normalize$",
                                    r"^portico::proxy::validate::check_host$", r"^portico::proxy::refused_escape$",
                                    r"^portico::proxy::plain::<impl portico::proxy::Gateway>::admit$"]),
    ("pick an instance", [r"^portico::snapshot::Upstream::choose$"]),
    ("request rewrite: request ID, hop-by-hop, X-Forwarded-*, head copy",
     [r"^portico::proxy::headers::RequestIds::(ensure|write_new)$", r"^portico::proxy::upstream_request::prepare$",
      r"^portico::proxy::upstream_request::upstream_request$", r"^portico::http1::write::request_head$"]),
    ("idle connection: take and put back", [r"^portico::upstream::pool::Connections::(take|put)(_wire)?$",
                                            r"^<hyper_util::client::legacy::pool::Checkout<T,K> as .*Future>::poll$",
                                            r"^hyper_util::client::legacy::pool::PoolInner<T,K>::put$"]),
    ("write the request head upstream (hyper)", [r"^<hyper::proto::h1::role::Client as .*Http1Transaction>::encode$"]),
    ("parse the response head", [r"^<hyper::proto::h1::role::Client as .*Http1Transaction>::parse$",
                                 r"^portico::http1::response::parse$"]),
    ("response rewrite: hop-by-hop, request ID", [r"^portico::proxy::forward::finish$",
                                                  r"^portico::http1::write::response_head$"]),
    ("write the response head (hyper)", [r"^<hyper::proto::h1::role::Server as .*Http1Transaction>::encode$"]),
    ("record: metrics (access log off)", [r"^<portico::proxy::exchange::Exchange as core::ops::drop::Drop>::drop$"]),
]


def parse(path):
    """Exclusive cost per function and inclusive cost of each call edge."""
    names, exclusive, calls = {}, collections.Counter(), collections.Counter()
    current = callee = None
    call_follows = False

    def name(token):
        m = re.match(r"\((\d+)\)(?:\s+(.*))?", token)
        if not m:
            return token
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            current = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            call_follows = True
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if len(parts) < 2:
                continue
            if call_follows:
                calls[(current, callee)] += int(parts[1])
                call_follows = False
            else:
                exclusive[current] += int(parts[1])
    inclusive = collections.Counter(exclusive)
    for (caller, called), cost in calls.items():
        if caller != called:
            inclusive[caller] += cost
    return sum(exclusive.values()), inclusive


def budget(path, requests):
    total, inclusive = parse(path)
    rows, counted = [], 0
    for step, patterns in STEPS:
        cost = sum(v for f, v in inclusive.items() if f and any(re.search(p, f) for p in patterns))
        rows.append(cost / requests if cost else None)
        counted += cost
    rows.append((total - counted) / requests)
    return total / requests, rows


def main():
    requests = int(sys.argv[1])
    targets = [arg.split("=", 1) for arg in sys.argv[2:]]
    results = [(name, budget(path, requests)) for name, path in targets]
    print("| step | " + " | ".join(name for name, _ in results) + " |")
    print("|---|" + "---|" * len(results))
    labels = [step for step, _ in STEPS] + ["the rest: dispatch, socket I/O, wake-ups, timers, moves"]
    for i, label in enumerate(labels):
        cells = ["-" if r[1][i] is None else f"{r[1][i]:,.0f}" for _, r in results]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join(f"**{r[0]:,.0f}**" for _, r in results) + " |")


if __name__ == "__main__":
    main()
