// The example app (examples/web) end to end in Debian's Chromium, driven by
// playwright-core, against the real binary on loopback with a real SMTP sink
// (Nodemailer's smtp-server) and the real test OpenID provider
// (tests/oidc/provider.mjs, panva/oidc-provider).
//
//   (cd clients/typescript && npm ci && npm run build)
//   (cd tests/oidc && npm ci)
//   cd examples/web/tests && npm ci && PORTCULLIS_BIN=../../../target/debug/portcullis npm test
//
// The second factor's codes come from otpauth (hectorm/otpauth), a TOTP
// implementation independent of the service's.
//
// No request interception anywhere: CORS preflights are answered by the
// service itself.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as OTPAuth from 'otpauth';
import { chromium } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { launchChromium, portcullis } from '../../../tests/browser/support.mjs';
import { serveExample } from '../serve.mjs';

const OIDC_DIR = fileURLToPath(new URL('../../../tests/oidc/', import.meta.url));
const CLIENT_ID = 'portcullis';
const CLIENT_SECRET = 'portcullis-test-secret';
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a different long passphrase';
/** Short-lived access tokens, so that refreshes are due during the test. */
const ACCESS_TTL_SECS = 20;
/** TOTP's time step (the service's is fixed at 30 s, as in the otpauth URI). */
const STEP_MS = 30_000;
/** The keys under which an answer carries a token, at any depth. */
const TOKEN_KEYS = ['access_token', 'refresh_token', 'mfa_token'];

// ---- the SMTP sink -----------------------------------------------------------------

/** The text of every leaf part of a MIME message, transfer-decoded. */
function mailText(raw) {
  const out = [];
  for (const part of raw.split(/\r?\n--[^\r\n]*\r?\n/)) {
    const split = part.search(/\r?\n\r?\n/);
    if (split < 0) continue;
    const headers = part.slice(0, split);
    const body = part.slice(split).trim();
    const encoding = /content-transfer-encoding:\s*([\w-]+)/i.exec(headers)?.[1]?.toLowerCase();
    if (encoding === 'base64') out.push(Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8'));
    else if (encoding === 'quoted-printable') {
      out.push(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))));
    } else out.push(body);
  }
  return out.join('\n');
}

async function smtpSink() {
  const mails = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, text: mailText(raw) });
        callback();
      });
    },
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    server,
    url: `smtp://127.0.0.1:${server.server.address().port}`,
    /** The 8-digit code of the next mail to `to` (after `seen` of them). */
    async code(to, seen = 0, limitMs = 15_000) {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const theirs = mails.filter((m) => m.to.includes(to.toLowerCase()));
        if (theirs.length > seen) {
          const match = /code is:\s*(\d{8})/.exec(theirs[seen].text) ?? /\b(\d{8})\b/.exec(theirs[seen].text);
          assert.ok(match, `no code in the mail to ${to}:\n${theirs[seen].text}`);
          return match[1];
        }
        assert.ok(Date.now() < deadline, `no mail to ${to} within ${limitMs} ms`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
    },
  };
}

// ---- the OpenID provider -------------------------------------------------------------

async function startProvider(redirectUri) {
  const child = spawn(process.execPath, ['provider.mjs'], {
    cwd: OIDC_DIR,
    env: { ...process.env, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS: redirectUri },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const issuer = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the OpenID provider did not start (npm ci in tests/oidc?)')), 20_000);
    child.on('exit', (code) => fail(new Error(`the OpenID provider exited with ${code} (npm ci in tests/oidc?)`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      ok(JSON.parse(line).issuer);
    });
  });
  lines.on('line', () => {}); // keep draining
  const control = (path, body) =>
    fetch(`${issuer}/__test/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return {
    child,
    issuer,
    async loginAs(claims) {
      await control('accounts', claims);
      await control('next-login', { sub: claims.sub });
    },
  };
}

async function freePort() {
  const server = createNetServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

// ---- the suite -------------------------------------------------------------------------

describe('the example app in Chromium', { timeout: 240_000 }, () => {
  let dir, api, app, smtp, idp, browser;
  /** Every URL any page requested or navigated to, and every token seen. */
  const urls = [];
  const tokens = new Set();
  /** Requests to the API: method, path, status. */
  const apiCalls = [];
  const failures = [];
  let user = 0;

  /** Adds every token of an answer to `tokens`, however deep: a factor's
   *  activation answers `{factor, tokens: {access_token, …}}`. */
  function collectTokens(value) {
    if (Array.isArray(value)) value.forEach(collectTokens);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (TOKEN_KEYS.includes(key) && typeof inner === 'string' && inner) tokens.add(inner);
        else collectTokens(inner);
      }
    }
  }

  const api$ = (path, init = {}) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-example-'));
    smtp = await smtpSink();
    const port = await freePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    idp = await startProvider(`${apiUrl}/v1/oauth/oidc/callback`);
    app = await serveExample({ apiUrl });
    api = await portcullis(dir, app.origin, {
      PORTCULLIS_LISTEN: `127.0.0.1:${port}`,
      PORTCULLIS_SMTP_URL: smtp.url,
      PORTCULLIS_ACCESS_TOKEN_TTL_SECS: String(ACCESS_TTL_SECS),
      PORTCULLIS_OAUTH__REDIRECT_ALLOWLIST: JSON.stringify([`${app.origin}/`]),
      PORTCULLIS_OAUTH__PROVIDERS__OIDC__KIND: 'oidc',
      PORTCULLIS_OAUTH__PROVIDERS__OIDC__ISSUER: idp.issuer,
      PORTCULLIS_OAUTH__PROVIDERS__OIDC__CLIENT_ID: CLIENT_ID,
      PORTCULLIS_OAUTH__PROVIDERS__OIDC__CLIENT_SECRET: CLIENT_SECRET,
      PORTCULLIS_OAUTH__PROVIDERS__OIDC__DISPLAY_NAME: 'Test IdP',
      // Every sign-up comes from one address here.
      PORTCULLIS_RATE_LIMITS__SIGN_UP__LIMIT: '0',
      PORTCULLIS_RATE_LIMITS__SIGN_IN__LIMIT: '0',
    });
    assert.equal(api.url, apiUrl);
    browser = await launchChromium(chromium);
  });

  after(async () => {
    await browser?.close();
    api?.child.kill('SIGTERM');
    idp?.child.kill('SIGTERM');
    app?.server.close();
    smtp?.server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A browser context (one "browser profile": tabs share localStorage) whose
   *  every request, navigation and token-bearing answer is recorded. */
  async function newContext() {
    const context = await browser.newContext();
    context.on('request', (request) => urls.push(request.url()));
    context.on('requestfailed', (request) => {
      if (request.url().startsWith(api.url)) failures.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
    });
    context.on('response', async (response) => {
      const request = response.request();
      if (!request.url().startsWith(api.url)) return;
      const path = new URL(request.url()).pathname;
      apiCalls.push({ method: request.method(), path, status: response.status(), page: request.frame()?.page(), at: Date.now() });
      if (/json/.test(response.headers()['content-type'] ?? '')) {
        try {
          collectTokens(await response.json());
        } catch {
          // a redirect or a body already gone
        }
      }
    });
    context.on('page', (page) => page.on('framenavigated', (frame) => urls.push(frame.url())));
    return context;
  }

  async function open(context, query = '') {
    const page = await context.newPage();
    page.on('framenavigated', (frame) => urls.push(frame.url()));
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(`${app.origin}/${query}`);
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  }

  const state = (page) => page.locator('body').getAttribute('data-state');
  const waitState = (page, value) => page.waitForSelector(`body[data-state="${value}"]`, { timeout: 15_000 });
  const status = (page) => page.locator('#status').textContent();

  async function signUpAndConfirm(page) {
    user += 1;
    const email = `user${user}-${Date.now()}@example.com`;
    await page.fill('#sign-up-form [name=email]', email);
    await page.fill('#sign-up-form [name=password]', PASSWORD);
    await page.click('#sign-up-form button');
    await page.waitForFunction(() => /Check your mail/.test(document.querySelector('#status').textContent));
    const code = await smtp.code(email);
    assert.equal(await page.inputValue('#confirm-form [name=email]'), email, 'the app fills the address in');
    await page.fill('#confirm-form [name=code]', code);
    await page.click('#confirm-form button');
    await waitState(page, 'signed-in');
    await page.waitForFunction((e) => document.querySelector('#me-email').textContent === e, email);
    return email;
  }

  async function signIn(page, email, password = PASSWORD) {
    await page.fill('#sign-in-form [name=email]', email);
    await page.fill('#sign-in-form [name=password]', password);
    await page.click('#sign-in-form button');
    await waitState(page, 'signed-in');
  }

  /** Scans a page's storage for any token seen so far. */
  async function storageOf(page) {
    return page.evaluate(() => ({
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
    }));
  }
  const holdsToken = (text) => [...tokens].some((t) => text.includes(t));

  /** The tab's real history entries (what Back and Forward would reach),
   *  read with the DevTools protocol: the `framenavigated` URLs do not show
   *  what `history.replaceState` left behind. They join `urls`, for the last
   *  test's scan with every token seen by then. */
  async function historyOf(page) {
    const cdp = await page.context().newCDPSession(page);
    const { currentIndex, entries } = await cdp.send('Page.getNavigationHistory');
    await cdp.detach();
    const entryUrls = entries.map((e) => e.url);
    urls.push(...entryUrls);
    return { current: entryUrls[currentIndex], urls: entryUrls };
  }

  test('memory: sign up, confirm by mailed code, sessions, revoke, profile, password, reload, sign out', async () => {
    const context = await newContext();
    const page = await open(context, '?storage=memory');
    assert.equal(await page.textContent('#storage-kind'), 'memory');
    // Another page of the origin listens on the session channel: a memory
    // pair must not reach it.
    const listener = await open(context, '?storage=memory');
    await listener.evaluate(() => {
      window.heard = [];
      new BroadcastChannel('portcullis.session').addEventListener('message', (e) => window.heard.push(JSON.stringify(e.data)));
    });
    // The tab clicked in is the one in front: in a background tab Chromium
    // throttles animation frames, and each of Playwright's clicks (which waits
    // for stable frames) would take about 2 s.
    await page.bringToFront();
    const email = await signUpAndConfirm(page);

    // A second session of the same user, from elsewhere: listed, then revoked.
    const other = await (await api$('/v1/sessions', { method: 'POST', body: JSON.stringify({ email, password: PASSWORD }) })).json();
    collectTokens(other);
    await page.click('#reload-sessions');
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 2);
    await page.click(`#sessions li[data-session-id="${other.session.id}"] button`);
    await page.waitForFunction(() => /Session revoked/.test(document.querySelector('#status').textContent));
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);
    const revoked = await api$('/v1/users/me', { headers: { authorization: `Bearer ${other.access_token}` } });
    assert.equal(revoked.status, 401, 'the revoked session is over');

    // PATCH the profile.
    await page.fill('#profile-form [name=first_name]', 'Ada');
    await page.click('#profile-form button');
    await page.waitForFunction(() => /Profile saved/.test(document.querySelector('#status').textContent));

    // PUT a new password; the new one signs in.
    await page.fill('#password-form [name=current_password]', PASSWORD);
    await page.fill('#password-form [name=new_password]', NEW_PASSWORD);
    await page.click('#password-form button');
    await page.waitForFunction(() => /Password changed/.test(document.querySelector('#status').textContent));
    const withNew = await api$('/v1/sessions', { method: 'POST', body: JSON.stringify({ email, password: NEW_PASSWORD }) });
    assert.equal(withNew.status, 201);
    collectTokens(await withNew.json());

    const stored = await storageOf(page);
    assert.ok(!holdsToken(stored.local) && !holdsToken(stored.session), 'memory: no token in any storage');

    // Memory: a reload forgets the pair.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await state(page), 'signed-out');

    // Sign in again, then out.
    await signIn(page, email, NEW_PASSWORD);
    assert.equal(await page.evaluate(() => window.exampleApp.whoami()), email);
    await page.click('#sign-out');
    await waitState(page, 'signed-out');
    assert.match(await status(page), /Signed out/);
    await listener.waitForFunction(() => window.heard.some((m) => m.includes('signed-out')));
    const heard = await listener.evaluate(() => window.heard);
    assert.ok(heard.length >= 3, `the channel was used (${heard.length} messages)`);
    assert.ok(!holdsToken(heard.join('\n')), 'memory: no token on the BroadcastChannel');

    // Every method the app used passed CORS (the app read each answer).
    const methods = new Set(apiCalls.filter((c) => c.page === page && c.status < 400).map((c) => c.method));
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) assert.ok(methods.has(method), `${method} from the app's origin`);
    assert.deepEqual(failures, [], 'no request to the API failed (CORS)');

    // The tabs' history, as the browser keeps it: no token in any entry.
    for (const tab of [page, listener]) {
      const history = await historyOf(tab);
      assert.ok(history.urls.length >= 1);
      assert.deepEqual(history.urls.filter(holdsToken), [], 'no token in the history');
    }
    await context.close();
  });

  test('sessionStorage: a reload keeps the session, a new tab does not have it', async () => {
    const context = await newContext();
    const page = await open(context, '?storage=sessionStorage');
    const email = await signUpAndConfirm(page);
    // The signed-in render's last request answered: the reload aborts none
    // (an aborted request would count in `failures`).
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await state(page), 'signed-in', 'survives the reload');
    assert.equal(await page.evaluate(() => window.exampleApp.whoami()), email);
    const stored = await storageOf(page);
    assert.ok(holdsToken(stored.session), 'the pair is in sessionStorage');
    assert.ok(!holdsToken(stored.local), 'and not in localStorage');

    const second = await open(context, '?storage=sessionStorage');
    assert.equal(await state(second), 'signed-out', 'sessionStorage is per tab');
    await context.close();
  });

  test('localStorage: two tabs share the session, refresh at once, and stay signed in', async () => {
    const context = await newContext();
    const one = await open(context, '?storage=localStorage');
    const email = await signUpAndConfirm(one);
    const two = await open(context, '?storage=localStorage');
    assert.equal(await state(two), 'signed-in', 'the second tab reads the shared pair');
    const stored = await storageOf(two);
    assert.ok(holdsToken(stored.local), 'the pair is in localStorage, as configured');

    const refreshes = () =>
      apiCalls.filter((c) => c.method === 'POST' && c.path === '/v1/sessions/refresh' && (c.page === one || c.page === two));
    const show = (calls) => calls.map((c) => `${c.page === one ? 'one' : 'two'} ${c.status} +${c.at - calls[0].at}ms`).join(', ');
    const before = refreshes().length;
    // Both tabs at once, several times: one request per rotation.
    for (let round = 1; round <= 3; round += 1) {
      const results = await Promise.all([
        one.evaluate(() => window.exampleApp.refresh()),
        two.evaluate(() => window.exampleApp.refresh()),
      ]);
      assert.deepEqual(results, [true, true]);
    }
    await new Promise((ok) => setTimeout(ok, 300)); // the last response events
    assert.equal(refreshes().length - before, 3, `each simultaneous pair of refreshes sent one request: ${show(refreshes().slice(before))}`);
    assert.ok(refreshes().every((c) => c.status === 200));

    // The timers: both tabs see the refresh due at the same moment
    // (3/4 of the 20 s lifetime); one of them refreshes.
    const beforeTimer = refreshes().length;
    await new Promise((ok) => setTimeout(ok, ACCESS_TTL_SECS * 1000 * 0.75 + 2_500));
    assert.equal(refreshes().length - beforeTimer, 1, `the due refresh was sent once, by one tab: ${show(refreshes().slice(beforeTimer))}`);
    assert.ok(refreshes().every((c) => c.status === 200), 'no refresh was refused');

    // localStorage: a reload keeps the session (the pair is read back).
    await one.reload();
    await one.waitForSelector('body[data-ready="true"]');
    assert.equal(await state(one), 'signed-in', 'survives the reload');
    assert.equal(await state(two), 'signed-in', 'and the other tab was not signed out by it');

    // Both still signed in, and the session is alive (not revoked for reuse).
    assert.equal(await one.evaluate(() => window.exampleApp.whoami()), email);
    assert.equal(await two.evaluate(() => window.exampleApp.whoami()), email);
    await one.bringToFront(); // it is clicked in now (see the memory test)
    await one.click('#reload-sessions');
    await one.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);

    // Signing out in one tab signs the other out too.
    await one.click('#sign-out');
    await waitState(one, 'signed-out');
    await waitState(two, 'signed-out');
    assert.equal(await one.evaluate(() => localStorage.length), 0, 'nothing left in localStorage');
    assert.deepEqual(failures, [], 'no request to the API failed');
    await context.close();
  });

  test('social sign-in with the test OpenID provider: PKCE, and the code leaves the address bar', async () => {
    const context = await newContext();
    const page = await open(context, '?storage=memory');
    const email = `grace-${Date.now()}@example.com`;
    await idp.loginAs({ sub: `sub-${Date.now()}`, email, email_verified: true, name: 'Grace Hopper' });
    const button = page.locator('#providers button[data-provider="oidc"]');
    await button.waitFor();
    await button.click();
    await waitState(page, 'signed-in');
    await page.waitForFunction((e) => document.querySelector('#me-email').textContent === e, email);
    assert.equal(page.url(), `${app.origin}/`, 'no code left in the address bar');
    const pkceLeft = await page.evaluate(() => sessionStorage.getItem('portcullis.pkce'));
    assert.equal(pkceLeft, null, 'the verifier was used once and removed');
    // The one-time code came back in the redirect (that is the design) and
    // was exchanged with the verifier, never the other way round.
    const authorize = urls.find((u) => u.includes('/v1/oauth/oidc/authorize'));
    assert.match(authorize, /code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256/);
    assert.ok(apiCalls.some((c) => c.path === '/v1/oauth/token' && c.status === 201));
    const stored = await storageOf(page);
    assert.ok(!holdsToken(stored.local) && !holdsToken(stored.session));
    // Back and Forward cannot bring the one-time code back: the return
    // entry was replaced, not followed by a clean one.
    const history = await historyOf(page);
    assert.equal(history.current, `${app.origin}/`);
    assert.deepEqual(history.urls.filter(holdsToken), [], 'no token in the history');
    assert.deepEqual(history.urls.filter((u) => /[?&#]code=/.test(u)), [], `no code in the history: ${history.urls.join(', ')}`);
    await context.close();
  });

  test('second factor: a TOTP factor activated over the API, then the app signs in with mfa_required', async () => {
    const context = await newContext();
    const page = await open(context, '?storage=memory');
    const email = await signUpAndConfirm(page);
    await page.click('#sign-out');
    await waitState(page, 'signed-out');

    // From elsewhere: sign in, enrol a TOTP factor, activate it.
    const signedIn = await api$('/v1/sessions', { method: 'POST', body: JSON.stringify({ email, password: PASSWORD }) });
    assert.equal(signedIn.status, 201);
    const pair = await signedIn.json();
    collectTokens(pair);
    assert.ok(pair.access_token);
    const bearer = { authorization: `Bearer ${pair.access_token}` };
    // `{}`: within the recent-sign-in window no further proof is asked.
    const enrolled = await api$('/v1/users/me/factors/totp', { method: 'POST', headers: bearer, body: '{}' });
    assert.equal(enrolled.status, 201);
    const { factor_id, otpauth_uri } = await enrolled.json();
    assert.ok(factor_id && otpauth_uri);
    const totp = OTPAuth.URI.parse(otpauth_uri);
    assert.ok(totp instanceof OTPAuth.TOTP && totp.period === STEP_MS / 1000 && totp.digits === 6, otpauth_uri);
    // A code is accepted once per step, within ±1 step: activate with step
    // s, sign in with step s + 1 (still accepted for the next minute), so
    // the test never waits for a boundary.
    const t0 = Date.now();
    const codeAt = (step) => totp.generate({ timestamp: t0 + step * STEP_MS });
    const activated = await api$(`/v1/users/me/factors/${factor_id}/verify`, {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify({ code: codeAt(0) }),
    });
    assert.equal(activated.status, 200, await activated.clone().text());
    const activation = await activated.json();
    collectTokens(activation);
    assert.equal(activation.factor.status, 'active');
    assert.ok(tokens.has(activation.tokens.access_token), 'the nested pair was collected');

    // In the app: the password answers 202, the app asks for the code.
    const callsBefore = apiCalls.length;
    const calls = (path) => apiCalls.slice(callsBefore).filter((c) => c.page === page && c.method === 'POST' && c.path === path);
    await page.fill('#sign-in-form [name=email]', email);
    await page.fill('#sign-in-form [name=password]', PASSWORD);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#mfa-form:not([hidden])');
    const mfaToken = await page.getAttribute('#mfa-form', 'data-mfa-token');
    assert.ok(tokens.has(mfaToken), 'the mfa_token of the 202 was collected');
    assert.deepEqual(calls('/v1/sessions').map((c) => c.status), [202]);
    assert.equal(await state(page), 'signed-out');

    // A wrong code (none of the steps the service could accept now or in
    // the next minute): an error, still signed out, the form stays for
    // another try.
    const near = new Set([-1, 0, 1, 2].map(codeAt));
    let wrong = 0;
    while (near.has(String(wrong).padStart(6, '0'))) wrong += 1;
    await page.fill('#mfa-form [name=code]', String(wrong).padStart(6, '0'));
    await page.click('#mfa-form button');
    await page.waitForSelector('#status.error');
    assert.equal(await state(page), 'signed-out');
    assert.ok(await page.isVisible('#mfa-form'), 'the code can be entered again');
    assert.deepEqual(calls('/v1/sessions/mfa').map((c) => c.status), [401]);

    // The right code: signed in as this user.
    await page.fill('#mfa-form [name=code]', codeAt(1));
    await page.click('#mfa-form button');
    await waitState(page, 'signed-in');
    await page.waitForFunction((e) => document.querySelector('#me-email').textContent === e, email);
    assert.equal(await page.evaluate(() => window.exampleApp.whoami()), email);
    assert.deepEqual(calls('/v1/sessions/mfa').map((c) => c.status), [401, 201]);
    assert.deepEqual(calls('/v1/sessions').map((c) => c.status), [202], 'one password sign-in');

    // The spent mfa_token is not left in the page.
    assert.equal(await page.getAttribute('#mfa-form', 'data-mfa-token'), null);
    assert.ok(await page.isHidden('#mfa-form'));
    assert.ok(!holdsToken(await page.content()), 'no token in the DOM');
    const stored = await storageOf(page);
    assert.ok(!holdsToken(stored.local) && !holdsToken(stored.session), 'memory: no token in any storage');
    const history = await historyOf(page);
    assert.deepEqual(history.urls.filter(holdsToken), [], 'no token in the history');
    await context.close();
  });

  test('no token ever appeared in a URL: requests, navigations, address bar, history entries', () => {
    // Runs last (node:test keeps the order), over what the tests above saw:
    // some 30 tokens, so the scan below is not vacuous.
    assert.ok(tokens.size >= 8, `tokens were seen (${tokens.size})`);
    assert.ok(urls.length > 20, `requests were seen (${urls.length})`);
    const leaks = urls.filter((u) => holdsToken(u) || holdsToken(decodeURIComponent(u)));
    assert.deepEqual(leaks, []);
  });
});
