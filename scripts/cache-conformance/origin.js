// The origin of scripts/cache-conformance.sh: each scenario's path behaves
// as its last segment says; every answer carries x-count (requests this
// exact path received) and x-conditional (whether the request had
// If-None-Match), so the driver sees what reached the origin.
const http = require('http');
const counts = {};
const failing = {};
const conditionals = {};
const handler = (req, res) => {
  const path = req.url.split('?')[0];
  if (path.startsWith('/__stats')) {
    const of = path.slice('/__stats'.length);
    res.writeHead(200, {'content-type': 'application/json', 'cache-control': 'no-store'});
    return res.end(JSON.stringify({gets: counts['GET ' + of] || 0, conditionals: conditionals[of] || 0}));
  }
  const kind = path.split('/').pop();
  counts[req.method + ' ' + path] = (counts[req.method + ' ' + path] || 0) + 1;
  counts[path] = (counts[path] || 0) + 1;
  if (req.headers['if-none-match']) conditionals[path] = (conditionals[path] || 0) + 1;
  const n = counts[path];
  const headers = {'x-count': String(n), 'x-conditional': req.headers['if-none-match'] ? 'yes' : 'no'};
  const send = (status, extra, body) => { res.writeHead(status, Object.assign(headers, extra)); res.end(body || ''); };
  const base = path.slice(0, path.lastIndexOf('/'));
  if (req.method === 'PUT' && kind === 'break') { failing[base] = true; return send(204); }
  if (req.method === 'PUT' || req.method === 'DELETE') return send(204);
  if (req.method === 'POST') return send(201, {'location': base + '/located'}, 'created');
  if (failing[base]) return send(503, {}, 'down');
  switch (kind) {
    case 'fresh': case 'fresh-nc': case 'put-target': case 'located': return send(200, {'cache-control': 'max-age=60'}, 'v' + n);
    case 'no-store': return send(200, {'cache-control': 'no-store'}, 'v' + n);
    case 'private': return send(200, {'cache-control': 'private, max-age=60'}, 'v' + n);
    case 's-maxage': return send(200, {'cache-control': 'max-age=0, s-maxage=60'}, 'v' + n);
    case 'expires': return send(200, {'date': new Date().toUTCString(), 'expires': new Date(Date.now() + 60000).toUTCString()}, 'v' + n);
    case 'age': return send(200, {'cache-control': 'max-age=60', 'age': '30'}, 'v' + n);
    case 'age-spent': return send(200, {'cache-control': 'max-age=60', 'age': '90'}, 'v' + n);
    case 'bad-age': return send(200, {'cache-control': 'max-age=60', 'age': 'old, 0'}, 'v' + n);
    case 'etag':
      if (req.headers['if-none-match'] === '"v1"') return send(304, {'cache-control': 'max-age=1', 'etag': '"v1"'});
      return send(200, {'cache-control': 'max-age=1', 'etag': '"v1"'}, 'v' + n);
    case 'fresh-tagged': return send(200, {'cache-control': 'max-age=60', 'etag': '"t1"'}, 'v' + n);
    case 'no-cache':
      if (req.headers['if-none-match'] === '"v1"') return send(304, {'cache-control': 'no-cache', 'etag': '"v1"'});
      return send(200, {'cache-control': 'no-cache', 'etag': '"v1"'}, 'v' + n);
    // max-age=2: Date has whole seconds, so a response may arrive up to 1 s old.
    case 'swr': return send(200, {'cache-control': 'max-age=2, stale-while-revalidate=60'}, 'v' + n);
    case 'sie': return send(200, {'cache-control': 'max-age=1, stale-if-error=60'}, 'v' + n);
    case 'must-revalidate': return send(200, {'cache-control': 'max-age=1, must-revalidate, stale-if-error=60'}, 'v' + n);
    case 'vary': return send(200, {'cache-control': 'max-age=60', 'vary': 'accept-language'}, (req.headers['accept-language'] || 'none') + n);
    case 'cdn': return send(200, {'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60'}, 'v' + n);
    case 'redirect-heuristic': return send(302, {'location': '/elsewhere'}, 'v' + n);
    case 'redirect-explicit': return send(302, {'location': '/elsewhere', 'cache-control': 'max-age=60'}, 'v' + n);
    case 'set-cookie': return send(200, {'cache-control': 'max-age=60', 'set-cookie': 'session=' + n}, 'v' + n);
    default: return send(404, {}, 'no such scenario');
  }
};
const server = http.createServer(handler);
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('origin ready'));
