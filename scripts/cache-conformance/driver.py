"""The RFC 9111 scenarios of scripts/cache-conformance.sh, run against one
cache (a base URL and a path prefix of its own). The origin's /__stats tells
what really reached it. Prints one JSON object: scenario -> true/false."""

import http.client
import json
import sys
import time
from urllib.parse import urlsplit

BASE, PREFIX, ORIGIN = sys.argv[1], sys.argv[2], sys.argv[3]


def call(base, method, path, headers=None):
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request(method, path, body=b"x" if method in ("PUT", "POST") else None, headers=headers or {})
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def get(name, headers=None):
    return call(BASE, "GET", f"{PREFIX}/{name}", headers)


def stats(name):
    return json.loads(call(ORIGIN, "GET", f"/__stats{PREFIX}/{name}")[2])


def gets(name):
    return stats(name)["gets"]


def twice(name):
    get(name)
    return get(name)


# Stale after max-age=1: waiting over 2 s lets a cache that counts whole
# seconds (nginx) see it stale too.
STALE_AFTER = 2.2


def stale_later(name):
    get(name)
    time.sleep(STALE_AFTER)


def scenario_fresh():
    twice("fresh")
    return gets("fresh") == 1


def scenario_no_store():
    twice("no-store")
    return gets("no-store") == 2


def scenario_private():
    twice("private")
    return gets("private") == 2


def scenario_s_maxage():
    twice("s-maxage")
    return gets("s-maxage") == 1


def scenario_expires():
    twice("expires")
    return gets("expires") == 1


def scenario_age_sent():
    _, headers, _ = twice("age")
    return int(headers.get("age", "0")) >= 30


def scenario_age_spent():
    twice("age-spent")
    return gets("age-spent") == 2


def scenario_malformed_age():
    twice("bad-age")
    return gets("bad-age") == 2


def scenario_revalidate():
    stale_later("etag")
    status, _, body = get("etag")
    return status == 200 and body == "v1" and stats("etag")["conditionals"] >= 1


def scenario_client_precondition():
    get("etag-client/fresh-tagged")
    status, _, _ = get("etag-client/fresh-tagged", {"If-None-Match": '"t1"'})
    return status == 304 and gets("etag-client/fresh-tagged") == 1


def scenario_no_cache_revalidated():
    status, _, body = twice("no-cache")
    return status == 200 and body == "v1" and stats("no-cache")["conditionals"] >= 1


def scenario_stale_while_revalidate():
    get("swr")
    time.sleep(STALE_AFTER + 1)
    _, _, first = get("swr")
    time.sleep(0.5)
    _, _, second = get("swr")
    return first == "v1" and second == "v2" and gets("swr") == 2


def scenario_stale_if_error():
    get("sie-case/sie")
    call(BASE, "PUT", f"{PREFIX}/sie-case/break")
    time.sleep(STALE_AFTER)
    status, _, body = get("sie-case/sie")
    return status == 200 and body == "v1"


def scenario_must_revalidate():
    get("strict-case/must-revalidate")
    call(BASE, "PUT", f"{PREFIX}/strict-case/break")
    time.sleep(STALE_AFTER)
    status, _, _ = get("strict-case/must-revalidate")
    return status != 200


def scenario_invalidate_put():
    twice("put-target")
    call(BASE, "PUT", f"{PREFIX}/put-target")
    get("put-target")
    return gets("put-target") == 2


def scenario_invalidate_location():
    twice("located")
    call(BASE, "POST", f"{PREFIX}/create")
    get("located")
    return gets("located") == 2


def scenario_vary():
    get("vary", {"Accept-Language": "en"})
    _, _, french = get("vary", {"Accept-Language": "fr"})
    _, _, english = get("vary", {"Accept-Language": "en"})
    return french.startswith("fr") and english.startswith("en") and gets("vary") == 2


def scenario_cdn_cache_control():
    twice("cdn")
    return gets("cdn") == 1


def scenario_heuristic_302():
    twice("redirect-heuristic")
    return gets("redirect-heuristic") == 2


def scenario_explicit_302():
    twice("redirect-explicit")
    return gets("redirect-explicit") == 1


def scenario_request_no_cache():
    get("fresh-nc")
    get("fresh-nc", {"Cache-Control": "no-cache"})
    return gets("fresh-nc") == 2


results = {}
for name, check in list(globals().items()):
    if name.startswith("scenario_"):
        try:
            results[name[len("scenario_"):].replace("_", "-")] = bool(check())
        except Exception as error:  # a scenario that breaks the cache fails
            print(f"{name}: {error}", file=sys.stderr)
            results[name[len("scenario_"):].replace("_", "-")] = False
print(json.dumps(results))
