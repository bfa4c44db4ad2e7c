// Serves a static folder (default target/web) on localhost: `node tools/web/serve.mjs [DIR] [PORT]`.
// Any static server does; this one needs nothing but Node and sends .wasm as application/wasm,
// which browsers need to compile it while it downloads. Port 0 picks a free one; the address is
// printed on the first line.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Starts serving `dir` on `port` (0: any free one); resolves to the server and its address. */
export function serve(dir, port = 0) {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (url.pathname.endsWith('/')) file = path.join(file, 'index.html');
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const type = TYPES[path.extname(file)] || 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(data);
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${server.address().port}/` });
    });
  });
}

/** A stand-in for the Hugging Face Hub (the page's tests): `repos` maps a model id to a folder,
 *  served as `/{id}/resolve/main/{file}` with the Hub's answers: a missing repository 401, a
 *  missing file 404, weights a 302 to a CDN path (the browser follows it, as it does the Hub's
 *  redirect to its CDN), every answer open to any origin (the page is on another port). */
export function fakeHub(repos, port = 0) {
  const server = http.createServer((req, res) => {
    const cors = { 'access-control-allow-origin': '*' };
    const url = new URL(req.url, 'http://localhost');
    const m = /^\/(?:cdn\/)?(.+)\/resolve\/main\/([^/]+)$/.exec(decodeURIComponent(url.pathname));
    const dir = m && repos[m[1]];
    if (!dir) {
      res.writeHead(401, { ...cors, 'content-type': 'text/plain' }).end('Repository not found');
      return;
    }
    const file = path.join(dir, m[2]);
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { ...cors, 'content-type': 'text/plain' }).end('Entry not found');
      return;
    }
    const weights = /\.(safetensors|bin)$/.test(m[2]);
    if (weights && !url.pathname.startsWith('/cdn/')) {
      res.writeHead(302, { ...cors, location: `/cdn${url.pathname}` }).end();
      return;
    }
    const data = fs.readFileSync(file);
    res.writeHead(200, { ...cors, 'content-type': 'application/octet-stream', 'content-length': data.length }).end(data);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] || 'target/web';
  const { url } = await serve(dir, Number(process.argv[3] || 8080));
  console.log(`serving ${dir} at ${url}`);
}
