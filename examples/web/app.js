// The example app: plain ES modules, the built client (clients/typescript/dist,
// served here under ./client/), no framework.
import {
  PortcullisSession,
  changePassword,
  getMe,
  listProviders,
  listSessions,
  revokeSession,
  updateMe,
} from './client/index.js';
import config from './config.js';

// ---- configuration: where Portcullis is, where the tokens live ---------------
// `?storage=memory|sessionStorage|localStorage` overrides config.js for this
// tab (remembered in sessionStorage, so it survives the social sign-in round
// trip, whose return address is fixed). The choice is not a secret.
const CHOICES = ['memory', 'sessionStorage', 'localStorage'];
const asked = new URLSearchParams(location.search).get('storage');
if (CHOICES.includes(asked)) sessionStorage.setItem('example.storage', asked);
const storage = sessionStorage.getItem('example.storage') ?? config.storage ?? 'memory';

const session = new PortcullisSession({ baseUrl: config.apiUrl, storage });
// Where the social sign-in returns: must be on PORTCULLIS_OAUTH__REDIRECT_ALLOWLIST, exactly.
const RETURN_URL = `${location.origin}/`;

// ---- helpers -------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const formData = (form) => Object.fromEntries(new FormData(form));

function say(message, isError = false) {
  $('status').textContent = message;
  $('status').className = isError ? 'error' : '';
}

/** The message of a thrown PortcullisError or a problem+json body. */
function describe(error) {
  const problem = error?.problem ?? error;
  return problem?.detail ?? problem?.title ?? error?.message ?? String(error);
}

/** Runs a form's action; shows its outcome. */
function onSubmit(id, action) {
  $(id).addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await action(formData(event.target), event.target);
    } catch (error) {
      say(describe(error), true);
    }
  });
}

/** A sign-in path answered: signed in, or a second factor is needed. */
function signedInOrMfa(result) {
  if (result.status === 'mfa-required') {
    $('mfa-form').hidden = false;
    $('mfa-form').dataset.mfaToken = result.mfaToken;
    say('Enter the code of your authenticator app.');
    return;
  }
  say(`Signed in as ${result.user.email}.`); // the session's 'signed-in' event renders
}

// ---- signed out ------------------------------------------------------------------
onSubmit('sign-up-form', async ({ email, password }) => {
  await session.signUp({ email, password });
  $('confirm-form').elements.email.value = email;
  say(`Check your mail: we sent a code to ${email}.`);
});

onSubmit('confirm-form', async ({ email, code }) => {
  signedInOrMfa(await session.confirm({ action: 'verify_email', email, code }));
});

onSubmit('sign-in-form', async ({ email, password }) => {
  signedInOrMfa(await session.signIn({ email, password }));
});

onSubmit('mfa-form', async ({ code }, form) => {
  signedInOrMfa(await session.completeMfa({ mfa_token: form.dataset.mfaToken, code }));
  forgetMfaStep();
});

/** The second-factor step is over (done, or another tab signed in): its token leaves the DOM. */
function forgetMfaStep() {
  const form = $('mfa-form');
  form.hidden = true;
  form.reset();
  delete form.dataset.mfaToken;
}

async function showProviders() {
  const { data } = await listProviders({ client: session.publicClient });
  $('providers').replaceChildren(
    ...(data?.providers ?? []).map((provider) => {
      const button = document.createElement('button');
      button.textContent = `Sign in with ${provider.name}`;
      button.dataset.provider = provider.id;
      button.addEventListener('click', async () => {
        location.assign(await session.socialSignInUrl(provider.id, RETURN_URL));
      });
      return button;
    }),
  );
}

// ---- signed in ---------------------------------------------------------------------
$('sign-out').addEventListener('click', async () => {
  await session.signOut();
  say('Signed out.');
});

async function showSessions() {
  const { data, error } = await listSessions({ client: session.client });
  if (error) return say(describe(error), true);
  $('sessions').replaceChildren(
    ...data.sessions.map((s) => {
      const item = document.createElement('li');
      item.dataset.sessionId = s.id;
      item.textContent = `${s.current ? '(this one) ' : ''}${s.user_agent ?? 'unknown client'}, since ${s.created_at} `;
      const revoke = document.createElement('button');
      revoke.textContent = 'Revoke';
      revoke.addEventListener('click', async () => {
        const { error } = await revokeSession({ client: session.client, path: { id: s.id } });
        if (error) return say(describe(error), true);
        if (s.current) {
          session.forgetLocally(); // the service already ended it
          return say('Signed out.');
        }
        say('Session revoked.');
        await showSessions();
      });
      item.append(revoke);
      return item;
    }),
  );
}
$('reload-sessions').addEventListener('click', () => showSessions());

onSubmit('profile-form', async ({ first_name }) => {
  const { error } = await updateMe({ client: session.client, body: { first_name: first_name || null } });
  if (error) throw error;
  say('Profile saved.');
});

onSubmit('password-form', async ({ current_password, new_password, revoke_other_sessions }, form) => {
  const { error } = await changePassword({
    client: session.client,
    body: { current_password, new_password, revoke_other_sessions: revoke_other_sessions === 'on' },
  });
  if (error) throw error;
  form.reset();
  say('Password changed.');
  await showSessions();
});

// ---- one render for both states ----------------------------------------------------
async function render() {
  $('storage-kind').textContent = session.storageKind;
  const signedIn = session.signedIn;
  $('signed-in').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
  document.body.dataset.state = signedIn ? 'signed-in' : 'signed-out';
  if (!signedIn) return showProviders().catch((e) => say(describe(e), true));
  forgetMfaStep();
  const { data: me, error } = await getMe({ client: session.client });
  if (error) return say(describe(error), true);
  $('me-email').textContent = me.email;
  $('profile-form').elements.first_name.value = me.first_name ?? '';
  await showSessions();
}

// Another tab signed in or out (shared storage), or the refresh token was refused.
session.subscribe((event) => {
  if (event.type !== 'refreshed') render();
});

// Test and debugging hooks: they expose no token.
window.exampleApp = {
  refresh: async () => (await session.refresh(), true),
  signedIn: () => session.signedIn,
  whoami: async () => (await getMe({ client: session.client })).data?.email ?? null,
};

// Back from a social sign-in? `code` leaves the address bar before anything else.
try {
  const result = await session.completeSocialSignIn();
  if (result) signedInOrMfa(result);
} catch (error) {
  say(describe(error), true);
}
await render();
document.body.dataset.ready = 'true';
