// Serves the example app: this folder, the built client
// (../../clients/typescript/dist) under /client/, and /config.js from the
// options. Used by the end-to-end test, and by hand:
//
//   (cd ../../clients/typescript && npm ci && npm run build)
//   node serve.mjs --api http://127.0.0.1:8080 --port 5173 [--storage memory]
//
// Portcullis must list the app's origin in PORTCULLIS_CORS_ALLOWED_ORIGINS and
// `http://127.0.0.1:5173/` in PORTCULLIS_OAUTH__REDIRECT_ALLOWLIST.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = resolve(fileURLToPath(new URL('.', import.meta.url)));
const CLIENT = resolve(HERE, '../../clients/typescript/dist');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Starts the app's server. `config` ({ apiUrl, storage }) may be changed
 *  while it runs: /config.js is built on every request. */
export async function serveExample({ apiUrl, storage = 'memory', port = 0, host = '127.0.0.1' }) {
  const config = { apiUrl, storage };
  const server = createServer(async (req, res) => {
    const headers = {
      'cache-control': 'no-store',
      // Tokens live in this page's memory: allow no script but our own, let
      // it talk to Portcullis only, and let no other site frame it.
      'content-security-policy': `default-src 'self'; connect-src 'self' ${config.apiUrl}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
      'referrer-policy': 'no-referrer',
    };
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      // A malformed escape: an answer, not an uncaught error that stops the server.
      res.writeHead(400, headers);
      return res.end('bad request');
    }
    if (path === '/config.js') {
      res.writeHead(200, { ...headers, 'content-type': TYPES['.js'] });
      return res.end(`export default ${JSON.stringify(config)};\n`);
    }
    const [root, rest] = path.startsWith('/client/') ? [CLIENT, path.slice(8)] : [HERE, path === '/' ? 'index.html' : path.slice(1)];
    const file = normalize(join(root, rest));
    if (!file.startsWith(root + sep) || rest.split('/').some((p) => p.startsWith('.') || p === 'node_modules' || p === 'tests')) {
      res.writeHead(404, headers);
      return res.end('not found');
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found');
    }
  });
  await new Promise((ok) => server.listen(port, host, ok));
  return { server, config, origin: `http://${host}:${server.address().port}` };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const { origin } = await serveExample({
    apiUrl: arg('api', 'http://127.0.0.1:8080'),
    storage: arg('storage', 'memory'),
    port: Number(arg('port', 5173)),
  });
  console.log(`example app on ${origin}/`);
}
