// Portcullis in a real browser: Debian's Chromium (/usr/bin/chromium, or
// CHROMIUM_PATH) driven by playwright-core. Playwright's own browser download
// is never used.
//
//   PORTCULLIS_BIN=target/debug/portcullis node --test browser.test.mjs
//
// The test starts the binary on SQLite in a temporary directory, with
// PORTCULLIS_CORS_ALLOWED_ORIGINS naming a tiny frontend served here on
// another localhost port; a second frontend on a third port is not allowed.
// Chromium resolves no host name but 127.0.0.1, so nothing leaves the machine
// (the docs page must render offline).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { frontend, launchChromium, portcullis } from './support.mjs';

/** One operation per method the API uses (one that takes a bearer token
 *  when there is one), with its path parameters filled. */
function oneOperationPerMethod(spec) {
  const byMethod = new Map();
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'QUERY'];
  for (const securedOnly of [true, false]) {
    for (const [template, item] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const upper = method.toUpperCase();
        if (!methods.includes(upper) || byMethod.has(upper)) continue;
        if (securedOnly && !operation.security) continue;
        byMethod.set(upper, template.replace(/\{[^}]+\}/g, '00000000-0000-0000-0000-000000000000'));
      }
    }
  }
  return byMethod;
}

/** fetch() in the page; a network or CORS failure comes back as its name. */
function crossOriginFetch(page, url, method) {
  return page.evaluate(
    async ({ url, method }) => {
      try {
        const response = await fetch(url, {
          method,
          headers: {
            authorization: 'Bearer not-a-real-token',
            'content-type': 'application/json',
          },
          body: method === 'GET' || method === 'HEAD' ? undefined : '{}',
          redirect: 'manual',
        });
        const text = await response.text();
        return {
          status: response.status,
          type: response.headers.get('content-type'),
          wwwAuthenticate: response.headers.get('www-authenticate'),
          text,
        };
      } catch (error) {
        return { error: error.name, message: String(error.message) };
      }
    },
    { url, method },
  );
}

describe('portcullis in Chromium', { timeout: 180_000 }, () => {
  let dir, api, allowed, other, browser, spec;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-browser-'));
    allowed = await frontend();
    other = await frontend();
    api = await portcullis(dir, allowed.origin);
    spec = await (await fetch(`${api.url}/openapi.json`)).json();
    browser = await launchChromium(chromium);
  });

  after(async () => {
    await browser?.close();
    api?.child.kill('SIGTERM');
    allowed?.server.close();
    other?.server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // No request interception (context.route) anywhere: with it, Playwright
  // answers CORS preflights itself and the server's answer is never tested.
  async function pageAt(origin) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return { context, page };
  }

  test('an allowed origin sends PUT with a bearer token and reads the 401 problem', async () => {
    const { context, page } = await pageAt(allowed.origin);
    try {
      const result = await crossOriginFetch(page, `${api.url}/v1/users/me/password`, 'PUT');
      assert.equal(result.error, undefined, `CORS refused the PUT: ${JSON.stringify(result)}`);
      assert.equal(result.status, 401);
      assert.match(result.type, /^application\/problem\+json/);
      assert.equal(JSON.parse(result.text).status, 401);
      assert.match(result.wwwAuthenticate ?? '', /^Bearer/, 'WWW-Authenticate is exposed');
    } finally {
      await context.close();
    }
  });

  test('an allowed origin can use every method of the OpenAPI document', async () => {
    const operations = oneOperationPerMethod(spec);
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.ok(operations.has(method), `the spec uses ${method}`);
    }
    const { context, page } = await pageAt(allowed.origin);
    try {
      for (const [method, path] of operations) {
        const result = await crossOriginFetch(page, `${api.url}${path}`, method);
        assert.equal(result.error, undefined, `${method} ${path}: ${JSON.stringify(result)}`);
        assert.ok(result.status >= 200 && result.status < 500, `${method} ${path}: ${result.status}`);
      }
    } finally {
      await context.close();
    }
  });

  test('another origin cannot read any answer', async () => {
    const { context, page } = await pageAt(other.origin);
    try {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        const result = await crossOriginFetch(page, `${api.url}/v1/users/me`, method);
        assert.equal(result.error, 'TypeError', `${method}: ${JSON.stringify(result)}`);
      }
    } finally {
      await context.close();
    }
  });

  test('/docs renders from the binary alone, under its CSP', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const outside = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (!['127.0.0.1', ''].includes(url.hostname) && !['data:', 'blob:'].includes(url.protocol)) {
        outside.push(request.url());
      }
    });
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`),
      );
    });
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const scripts = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'script') scripts.push(request.url());
    });
    try {
      const response = await page.goto(`${api.url}/docs`);
      assert.equal(response.status(), 200);
      const csp = response.headers()['content-security-policy'];
      assert.doesNotMatch(csp, /https?:|\*/, csp);
      // The reference renders: the API's title, and an operation of the
      // first group (open at first) by its summary.
      await page.getByText(spec.info.title).first().waitFor({ state: 'visible', timeout: 30_000 });
      const operation = spec.paths['/v1/users/me/password'].put.summary;
      assert.ok(operation, 'the change-password operation has a summary');
      await page.getByText(operation).first().waitFor({ state: 'visible', timeout: 10_000 });
      // The bundle probes once whether it may compile code (zod's
      // `Function('')` check); the policy says no and it renders without.
      // Anything else the policy had to block is a failure.
      const violations = await page.evaluate(() => window.__violations);
      assert.deepEqual(
        violations.filter((v) => v !== 'script-src eval'),
        [],
        'no CSP violation but the eval probe',
      );
      assert.deepEqual(outside, [], 'no request beyond 127.0.0.1');
      assert.deepEqual(errors, [], 'no script error');
      assert.ok(scripts.length > 0);
      for (const src of scripts) {
        assert.equal(new URL(src).origin, api.url, `same-origin script: ${src}`);
      }
    } finally {
      await context.close();
    }
  });
});
