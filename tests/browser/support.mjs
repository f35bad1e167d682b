// Shared by the browser tests: the binary under test, a static frontend
// origin, and Chromium's path.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';

export const BINARY = resolve(process.env.PORTCULLIS_BIN ?? '../../target/debug/portcullis');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const STARTUP_LIMIT_MS = 30_000;

/** A frontend origin: one blank page, on its own port. */
export async function frontend(page = '<!doctype html><title>frontend</title><p>frontend</p>') {
  const server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Starts the binary; resolves with its base URL once it is listening. */
export async function portcullis(dir, allowedOrigin, extraEnv = {}, onOutput = () => {}) {
  assert.ok(existsSync(BINARY), `no binary at ${BINARY} (set PORTCULLIS_BIN)`);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('PORTCULLIS_') && k !== 'RUST_LOG'),
  );
  const child = spawn(BINARY, ['serve'], {
    cwd: dir,
    env: {
      ...env,
      PORTCULLIS_LISTEN: '127.0.0.1:0',
      PORTCULLIS_CORS_ALLOWED_ORIGINS: JSON.stringify([allowedOrigin]),
      PORTCULLIS_LOG_FORMAT: 'json',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`portcullis did not start in ${STARTUP_LIMIT_MS} ms:\n${output}`)),
      STARTUP_LIMIT_MS,
    );
    const read = (chunk) => {
      output += chunk;
      onOutput(String(chunk));
      for (const line of output.split('\n')) {
        if (!line.includes('portcullis is listening')) continue;
        try {
          const port = JSON.parse(line).port;
          if (port) {
            clearTimeout(timer);
            ok(`http://127.0.0.1:${port}`);
          }
        } catch {
          // not a complete JSON line yet
        }
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`portcullis exited with ${code}:\n${output}`));
    });
  });
  return { child, url };
}


/** Debian's Chromium, headless, offline but for this machine: every host
 *  name but 127.0.0.1 (and `localhost`, for WebAuthn) fails to resolve. */
export function launchChromium(chromium) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      // Running as root in CI containers: Chromium's sandbox needs user namespaces.
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
    timeout: STARTUP_LIMIT_MS,
  });
}
