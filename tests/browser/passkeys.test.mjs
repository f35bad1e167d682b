// Passkeys in a real browser: Chromium's virtual authenticator (the
// DevTools WebAuthn domain: a CTAP2 platform authenticator with resident
// keys and user verification) answers `navigator.credentials.create()` and
// `.get()` on a page at http://localhost:<port>, with the options exactly as
// the API gives them (`PublicKeyCredential.parse…OptionsFromJSON`) and the
// answers exactly as the browser serialises them (`credential.toJSON()`).
//
//   PORTCULLIS_BIN=target/debug/portcullis node --test passkeys.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { frontend, launchChromium, portcullis } from './support.mjs';

const PASSWORD = 'a long browser passphrase 7391';

/** The code of the newest mail to `email` in the binary's log (mail goes to
 *  the log when no SMTP server is configured). */
function codeFromLog(log, email) {
  const lines = log.split('\n').filter((l) => l.includes(email) && l.includes('DEVELOPMENT ONLY'));
  const match = lines.at(-1)?.match(/\b(\d{8})\b/);
  assert.ok(match, `no code for ${email} in the log`);
  return match[1];
}

async function waitFor(check, what) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const value = check();
    if (value) return value;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('passkeys in Chromium', { timeout: 180_000 }, () => {
  let dir, api, app, browser;
  let log = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-passkeys-'));
    app = await frontend();
    const port = new URL(app.origin).port;
    // WebAuthn needs a domain (not an IP address) in a secure context:
    // http://localhost is one.
    app.origin = `http://localhost:${port}`;
    api = await portcullis(
      dir,
      app.origin,
      {
        PORTCULLIS_PASSKEYS__RP_ID: 'localhost',
        PORTCULLIS_PASSKEYS__ORIGINS: JSON.stringify([app.origin]),
      },
      (chunk) => {
        log += chunk;
      },
    );
    browser = await launchChromium(chromium);
  });

  after(async () => {
    await browser?.close();
    api?.child.kill('SIGTERM');
    app?.server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A signed-up, signed-in user (the code read from the log). */
  async function signedUp() {
    const email = `browser-${Date.now()}@example.com`;
    const post = (path, body) =>
      fetch(`${api.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await post('/v1/users', { email, password: PASSWORD })).status, 202);
    const code = await waitFor(() => log.includes(email) && codeFromLog(log, email), 'the code');
    const confirmed = await post('/v1/email-verification-codes/confirm', {
      action: 'verify_email',
      email,
      code,
    });
    assert.equal(confirmed.status, 201);
    return { email, tokens: await confirmed.json() };
  }

  test('register a passkey, then sign in with it and no password', async () => {
    const { tokens } = await signedUp();
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${app.origin}/`);
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });

      const registered = await page.evaluate(
        async ({ api, access }) => {
          const call = async (path, body) => {
            const response = await fetch(`${api}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${access}` },
              body: JSON.stringify(body),
            });
            return { status: response.status, body: await response.json() };
          };
          const options = await call('/v1/users/me/passkeys/registration/options', {});
          if (options.status !== 201) return options;
          const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.body.options);
          const credential = await navigator.credentials.create({ publicKey });
          return call('/v1/users/me/passkeys/registration/verify', {
            challenge_id: options.body.challenge_id,
            credential: credential.toJSON(),
            name: 'Chromium',
          });
        },
        { api: api.url, access: tokens.access_token },
      );
      assert.equal(registered.status, 201, JSON.stringify(registered));
      assert.equal(registered.body.name, 'Chromium');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.equal(credentials.length, 1);
      assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');

      // Passwordless: no address typed, the discoverable credential answers.
      const signedIn = await page.evaluate(async ({ api }) => {
        const call = async (path, body) => {
          const response = await fetch(`${api}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: response.status, body: await response.json() };
        };
        const options = await call('/v1/passkeys/authentication/options', {});
        if (options.status !== 200) return options;
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.body.options);
        const credential = await navigator.credentials.get({ publicKey });
        return call('/v1/passkeys/authentication/verify', {
          challenge_id: options.body.challenge_id,
          credential: credential.toJSON(),
        });
      }, { api: api.url });
      assert.equal(signedIn.status, 201, JSON.stringify(signedIn));
      assert.equal(signedIn.body.user.id, tokens.user.id);
      const claims = JSON.parse(
        Buffer.from(signedIn.body.access_token.split('.')[1], 'base64url').toString(),
      );
      assert.equal(claims.aal, 'aal2');
      assert.ok(claims.amr.includes('user') && claims.amr.includes('mfa'), claims.amr.join(','));
      // The authenticator's counter moved with the sign-in.
      const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.ok(after.credentials[0].signCount >= 1);
    } finally {
      await context.close();
    }
  });
});
