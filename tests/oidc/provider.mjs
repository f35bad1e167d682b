// A real, certified OpenID Connect provider (panva/oidc-provider) for the
// tests, with a few test-only controls under /__test/:
//   POST /__test/accounts    {"sub", ...claims}   add or replace an account
//   POST /__test/next-login  {"sub"}              who the next login signs in as
//   POST /__test/tamper      {"id_token": {...}, "delay_ms": n}
//        re-sign the next token responses' ID token with claims overridden
//        (same key: only the claims are wrong), or answer /token slowly
//   GET  /__test/last-token  the last token response it sent
// Env: CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated).
// Prints one JSON line {"issuer": …} when it listens.
import http from 'node:http';
import Provider from 'oidc-provider';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';

const clientId = process.env.CLIENT_ID ?? 'portcullis';
const clientSecret = process.env.CLIENT_SECRET ?? 'portcullis-test-secret';
const redirectUris = (process.env.REDIRECT_URIS ?? '').split(',').filter(Boolean);

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const accounts = new Map();
let nextLogin = null;
let tamper = {};
let lastTokenResponse = null;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  cookies: { keys: ['portcullis-test-cookie-key'] },
  findAccount: async (ctx, sub) => (accounts.has(sub)
    ? { accountId: sub, claims: async () => ({ sub, ...accounts.get(sub) }) }
    : undefined),
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/token' && tamper.delay_ms) {
    await new Promise((resolve) => setTimeout(resolve, tamper.delay_ms));
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    if (tamper.id_token) {
      const claims = { ...decodeJwt(ctx.body.id_token), ...tamper.id_token };
      ctx.body.id_token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
        .sign(privateKey);
    }
    lastTokenResponse = ctx.body;
  }
});

const readJson = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); } });
});

async function finishInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: nextLogin } },
      { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true });
}

const handle = provider.callback();
server.on('request', async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    if (path.startsWith('/__test/')) {
      const body = req.method === 'POST' ? await readJson(req) : {};
      if (path === '/__test/accounts') accounts.set(body.sub, body);
      else if (path === '/__test/next-login') nextLogin = body.sub;
      else if (path === '/__test/tamper') tamper = body;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(path === '/__test/last-token' ? lastTokenResponse : {}));
    } else if (path.startsWith('/interaction/')) {
      await finishInteraction(req, res);
    } else {
      handle(req, res);
    }
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
